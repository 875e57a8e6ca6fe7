from porkbun_helpers import *  # noqa: F403
