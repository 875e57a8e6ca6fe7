"""Configuration: Stalwart's Bootstrap, DnsServer and Domain objects, and dnsauto's own."""

from dnsauto.config.loader import load_config, load_config_file
from dnsauto.config.model import BOOTSTRAP_SERVER_ID, Config

__all__ = ["BOOTSTRAP_SERVER_ID", "Config", "load_config", "load_config_file"]
