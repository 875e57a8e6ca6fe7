"""Configuration: Stalwart's Bootstrap, DnsServer and Domain objects, and dnsauto's own.

The loader lives in :mod:`dnsauto.config.loader`; the assembled model in
:mod:`dnsauto.config.model`.
"""

DEFAULT_CONFIG_PATH = "/etc/dnsauto/config.toml"
