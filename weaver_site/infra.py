"""Small pieces of plumbing shared by settings, tests and benchmarks (no Django import)."""

from __future__ import annotations

from pathlib import Path


def filesystem_broker_options(folder: Path) -> dict:
    """Kombu's filesystem transport options for an embedded broker kept in ``folder``."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def database_url(vendor: str, settings_dict: dict) -> str:
    """A URL for a database connection's settings, for child processes that must share it."""
    if vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}{host}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"
