"""dnsauto provider for the DNSimple API v2 (Stalwart ``@type`` ``Dnsimple``)."""
