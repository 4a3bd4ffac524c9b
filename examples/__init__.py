"""Examples: the demo tool server and configurations."""
