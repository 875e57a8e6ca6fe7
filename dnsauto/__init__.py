"""dnsauto: keeps every DNS record a mail domain needs published, and proves it is live."""

__version__ = "0.1.0"
