"""Integration tests of src/capture/."""
