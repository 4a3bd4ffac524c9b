"""The demo tool server that Rollgate fronts in its demos and tests."""
