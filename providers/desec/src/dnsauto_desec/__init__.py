"""dnsauto provider for deSEC: Stalwart @type DeSEC."""
