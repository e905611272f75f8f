"""REST API for review (placeholder while it is built)."""
