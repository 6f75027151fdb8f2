"""Actor modules, one per job family."""
