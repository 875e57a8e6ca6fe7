"""dnsauto provider plugin for Zonebox (an example of a third-party plugin)."""
