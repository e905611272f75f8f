"""Dataset snapshots (freeze, split, version, compare) and their exports (issue 8)."""
