"""Data-quality checks that decide whether a run may publish."""
