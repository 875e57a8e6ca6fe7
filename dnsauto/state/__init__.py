"""What dnsauto remembers between runs."""
