#!/usr/bin/perl
# Independent SIG(0) verifier: Net::DNS::SEC (Debian: libnet-dns-sec-perl).
#
# Usage: verify_sig0.pl 'NAME. IN KEY 512 3 15 BASE64' < message.hex
# Reads one DNS message as hex on stdin, verifies its SIG(0) against the key
# (signature, key tag, algorithm and the validity window against the clock).
# Prints "VALID" and exits 0, or "INVALID: reason" and exits 1.
use strict;
use warnings;
use Net::DNS;
use Net::DNS::SEC;

my $keyline = shift @ARGV or die "usage: $0 'NAME. IN KEY FLAGS 3 ALG BASE64' < message.hex\n";
my $hex = do { local $/; <STDIN> };
$hex =~ s/\s+//g;
my $wire = pack 'H*', $hex;

my $packet = Net::DNS::Packet->new( \$wire );
unless ($packet) {
	print "INVALID: unparseable message: $@\n";
	exit 1;
}
my $key = Net::DNS::RR->new($keyline);
my $sig = $packet->sigrr;
unless ( $sig && $sig->type eq 'SIG' ) {
	print "INVALID: no SIG(0) record\n";
	exit 1;
}
if ( $sig->verify( $packet, $key ) ) {
	print "VALID\n";
	exit 0;
}
print 'INVALID: ', $sig->vrfyerrstr, "\n";
exit 1;
