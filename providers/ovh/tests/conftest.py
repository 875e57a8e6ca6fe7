"""The ovh tests' fixtures live in ovh_helpers.py beside this file (a name of its own: every
plugin's tests run in one pytest session, and conftest modules would clash)."""

from ovh_helpers import *  # noqa: F403
