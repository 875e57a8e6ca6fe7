"""dnsauto provider for the Cloudflare API v4 (Stalwart ``@type`` ``Cloudflare``)."""
