"""The bunny tests' fixtures live in bunny_helpers.py beside this file (a name of its own:
every plugin's tests run in one pytest session, and conftest modules would clash)."""

from bunny_helpers import *  # noqa: F403
