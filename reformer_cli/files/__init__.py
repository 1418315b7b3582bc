"""Files shared by processes: locks."""
