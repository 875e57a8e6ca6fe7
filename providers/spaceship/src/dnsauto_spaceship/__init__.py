"""dnsauto provider for the Spaceship DNS API v1 (Stalwart ``@type`` ``Spaceship``)."""
