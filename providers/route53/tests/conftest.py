"""The route53 tests' fixtures live in route53_helpers.py beside this file (a name of its own:
every plugin's tests run in one pytest session, and conftest modules would clash)."""

from route53_helpers import *  # noqa: F403
