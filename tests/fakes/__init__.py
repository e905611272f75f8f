"""Test doubles that speak real protocols (for example a fake OpenAI-compatible HTTP server)."""
