"""The dnsimple tests' fixtures live in dnsimple_helpers.py beside this file (a name of its own:
every plugin's tests run in one pytest session, and conftest modules would clash)."""

from dnsimple_helpers import *  # noqa: F403
