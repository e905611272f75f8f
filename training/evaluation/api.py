"""Placeholder: being written. Evaluation API viewsets, registered in principles/api/urls.py."""

ROUTES: list = []  # (prefix, viewset, basename)
