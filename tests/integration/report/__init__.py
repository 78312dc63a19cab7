"""Integration tests of src/report/."""
