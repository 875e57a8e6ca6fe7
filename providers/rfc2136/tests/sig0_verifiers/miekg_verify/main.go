// Independent SIG(0) verifier: github.com/miekg/dns (Debian:
// golang-github-miekg-dns-dev), built in GOPATH mode against /usr/share/gocode.
//
// Usage: miekg_verify 'NAME. IN KEY 512 3 15 BASE64' < message.hex
// Verifies the message's SIG(0) (signature, and the validity window against
// the clock). Prints "VALID" and exits 0, or "INVALID: reason" and exits 1.
package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/miekg/dns"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("INVALID: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: miekg_verify 'NAME. IN KEY FLAGS 3 ALG BASE64' < message.hex")
		os.Exit(2)
	}
	rr, err := dns.NewRR(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad KEY record:", err)
		os.Exit(2)
	}
	key, ok := rr.(*dns.KEY)
	if !ok {
		fmt.Fprintln(os.Stderr, "not a KEY record")
		os.Exit(2)
	}
	text, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	buf, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad hex:", err)
		os.Exit(2)
	}
	msg := new(dns.Msg)
	if err := msg.Unpack(buf); err != nil {
		fail("unparseable message: %v", err)
	}
	if len(msg.Extra) == 0 {
		fail("no SIG(0) record")
	}
	sig, ok := msg.Extra[len(msg.Extra)-1].(*dns.SIG)
	if !ok {
		fail("last additional record is not a SIG")
	}
	if err := sig.Verify(key, buf); err != nil {
		fail("%v", err)
	}
	fmt.Println("VALID")
}
