"""Reading a benchmark's instructions from a JSONL file, all or nothing.

One line, one instruction::

    {"id": "fiction-001", "instruction": "Write ...", "language": "en",
     "domain": "fiction", "task": "content_writing", "reference": "...", "metadata": {...}}

``instruction`` and ``language`` (``zh`` or ``en``) are required; ``id`` (unique in the file;
default ``line-N``), ``domain`` and ``task`` (taxonomy slugs), ``reference`` (a reference
answer, shown to nobody while judging) and ``metadata`` (an object) are optional. Any other key
is refused, so a misspelt field is not silently dropped. A benchmark is a measuring
instrument: a file with any bad line imports nothing, and every problem is reported with its
file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pairs.corpus.readers import Row, read_jsonl

FIELDS = ("id", "instruction", "language", "domain", "task", "reference", "metadata")
LANGUAGES = ("zh", "en")
MAX_CHARS = 20_000
ID_CHARS = 100
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}"
        return (
            f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass
class BenchmarkItem:
    key: str
    instruction: str
    language: str
    domain: str = ""
    task: str = ""
    reference: str = ""
    metadata: dict = field(default_factory=dict)
    line: int = 0


class BenchmarkFileError(ValueError):
    """The file cannot be imported: ``problems`` lists each one (at most ``MAX_PROBLEMS``)."""

    def __init__(self, problems: list[Problem], more: int = 0):
        self.problems = problems
        self.more = more
        shown = "; ".join(str(p) for p in problems[:5])
        extra = len(problems) - 5 + more
        super().__init__(shown + (f" (and {extra} more)" if extra > 0 else ""))


def _text(value: Any, name: str, *, required: bool, limit: int) -> tuple[str, str]:
    """(cleaned text, problem message or "")."""
    if value is None or value == "":
        return "", ("required" if required else "")
    if not isinstance(value, str):
        return "", f"expected text, got {type(value).__name__}"
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        return "", "required (blank)"
    if len(text) > limit:
        return "", f"longer than {limit} characters ({len(text)})"
    return text, ""


def read_benchmark_rows(
    rows: Iterable[Row],
    *,
    domains: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
) -> list[BenchmarkItem]:
    """Check every row; return the items, or raise :class:`BenchmarkFileError` with all the
    problems found. ``domains`` and ``tasks``: the slugs allowed (None: not checked)."""
    known_domains = set(domains) if domains is not None else None
    known_tasks = set(tasks) if tasks is not None else None
    problems: list[Problem] = []
    more = 0
    items: list[BenchmarkItem] = []
    seen: dict[str, int] = {}

    def problem(row: Row, name: str, message: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(row.file, row.line, name, message))
        else:
            more += 1

    for row in rows:
        if row.data is None:
            problem(row, "", row.error or "unreadable line")
            continue
        data = row.data
        for name in sorted(set(data) - set(FIELDS)):
            problem(row, name, f"unknown field (known: {', '.join(FIELDS)})")
        values = {}
        for name, required, limit in (
            ("instruction", True, MAX_CHARS),
            ("reference", False, MAX_CHARS),
            ("id", False, ID_CHARS),
            ("language", True, 8),
            ("domain", False, 64),
            ("task", False, 64),
        ):
            raw = data.get(name)
            if name == "id" and isinstance(raw, int) and not isinstance(raw, bool):
                raw = str(raw)
            values[name], message = _text(raw, name, required=required, limit=limit)
            if message:
                problem(row, name, message)
        if values["language"] and values["language"] not in LANGUAGES:
            problem(row, "language", f"expected one of {', '.join(LANGUAGES)}")
        for name, known in (("domain", known_domains), ("task", known_tasks)):
            if values[name] and known is not None and values[name] not in known:
                problem(row, name, f"unknown slug {values[name]!r}")
        metadata = data.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            problem(row, "metadata", "expected an object")
            metadata = {}
        key = values["id"] or f"line-{row.line}"
        if key in seen:
            problem(row, "id", f"{key!r} is also on line {seen[key]}")
        seen.setdefault(key, row.line)
        items.append(
            BenchmarkItem(
                key=key,
                instruction=values["instruction"],
                language=values["language"],
                domain=values["domain"],
                task=values["task"],
                reference=values["reference"],
                metadata=metadata,
                line=row.line,
            )
        )
    if problems or more:
        raise BenchmarkFileError(problems, more)
    if not items:
        raise BenchmarkFileError([Problem("", 0, "", "the file holds no instruction")])
    return items


def read_benchmark_file(
    path: str | Path,
    *,
    file: str = "",
    domains: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
) -> list[BenchmarkItem]:
    """The instructions of a JSONL file (see the module's docstring), all checked."""
    name = file or Path(path).name
    rows = read_jsonl(path, file=name)
    try:
        return read_benchmark_rows(rows, domains=domains, tasks=tasks)
    except BenchmarkFileError as exc:
        for p in exc.problems:
            if not p.file:
                exc.problems[exc.problems.index(p)] = Problem(name, p.line, p.field, p.message)
        raise
