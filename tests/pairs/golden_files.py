"""Golden files of rendered prompts: a prompt change shows up as a diff in review.

Re-run with ``WEAVER_UPDATE_GOLDEN=1`` to accept a change (and bump the prompt's version).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("WEAVER_UPDATE_GOLDEN") == "1"


def render(messages: list[dict]) -> str:
    return "".join(f"### {m['role']}\n{m['content']}\n" for m in messages)


def check_golden(name: str, rendered: str, *, bump: str, root: Path = GOLDEN) -> None:
    """Compare ``rendered`` with ``<root>/<name>`` (``root``: this folder's ``golden/`` unless
    another suite keeps its own); ``bump`` names the version to raise."""
    path = root / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {path} is missing; re-run with WEAVER_UPDATE_GOLDEN=1 to write it"
        )
    expected = path.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="rendered",
            )
        )
        pytest.fail(
            f"the rendered prompt differs from golden/{name}:\n{diff}\n"
            f"If the change is intended, re-run with WEAVER_UPDATE_GOLDEN=1 to accept it "
            f"(and bump {bump}).",
            pytrace=False,
        )
