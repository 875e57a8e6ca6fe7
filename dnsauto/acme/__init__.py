"""Certificates by ACME DNS-01 through dnsauto's providers, with DANE-safe TLSA rollover.

* ``client``: the RFC 8555 client (certbot's ``acme`` and ``josepy``, off the event loop);
* ``orders``: which certificates to obtain, and the order flow (challenges published through
  the sync's plan, apply and propagation stages; renewal; backoff);
* ``store``: the certificate files under ``<stateDir>/certs/<name>/``;
* ``hook``: ``dnsauto acme-hook``, the DNS-01 hook for certbot and lego;
* ``rollover``: when a renewed certificate may be put in place without breaking DANE for
  senders holding a cached TLSA RRset.
"""
