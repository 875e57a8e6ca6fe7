"""dnsauto provider for the Bunny DNS API (Stalwart ``@type`` ``Bunny``)."""
