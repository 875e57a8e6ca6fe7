"""dnsauto provider for the Porkbun JSON API v3 (Stalwart ``@type`` ``Porkbun``)."""
