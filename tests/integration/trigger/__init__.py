"""Integration tests of src/trigger/."""
