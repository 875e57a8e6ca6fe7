"""dnsauto provider for the OVHcloud DNS API (Stalwart ``@type`` ``Ovh``)."""
