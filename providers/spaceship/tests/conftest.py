"""The spaceship tests' fixtures live in spaceship_helpers.py beside this file (a name of its own:
every plugin's tests run in one pytest session, and conftest modules would clash)."""

from spaceship_helpers import *  # noqa: F403
