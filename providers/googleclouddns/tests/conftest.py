"""The googleclouddns tests' fixtures live in googleclouddns_helpers.py beside this file (a name
of its own: every plugin's tests run in one pytest session, and conftest modules would clash)."""

from googleclouddns_helpers import *  # noqa: F403
