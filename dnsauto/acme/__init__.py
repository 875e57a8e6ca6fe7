"""Certificates by ACME DNS-01 through dnsauto's providers, and DANE-safe TLSA rollover.

``hook``: ``dnsauto acme-hook``, the DNS-01 hook for certbot and lego. ``rollover``: when a
renewed certificate may be put in place without breaking DANE for senders holding a cached
TLSA RRset.
"""
