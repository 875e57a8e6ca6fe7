from zonebox_helpers import *  # noqa: F403
