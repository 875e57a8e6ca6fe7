"""The long-running daemon, split by job."""
