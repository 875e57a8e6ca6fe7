"""dnsauto provider for DigitalOcean: Stalwart @type DigitalOcean."""
