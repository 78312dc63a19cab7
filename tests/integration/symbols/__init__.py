"""Integration tests of src/symbols/."""
