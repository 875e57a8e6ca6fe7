"""dnsauto provider for AWS Route 53."""
