"""The flow of one sync, a module per stage."""
