"""Benchmarks: creating and editing drafts, importing JSONL, freezing, new versions, export,
deletion, and the contamination report of a benchmark in a dataset snapshot.

A draft is edited freely (in the browser or by importing a JSONL file, all or nothing);
freezing fixes its items and records their SHA-256 (:func:`benchmark_content_hash`); a frozen
benchmark refuses every change to its items and name (``ValidationError``), and is changed by
making a new version (a draft copy). Writes that depend on the status lock the benchmark's row
first, so an edit and a freeze never interleave.

The content hash is the SHA-256 of the export file (:func:`benchmark_jsonl`): one canonical
JSON line per item, in position order, each ending with a newline, with the fields ``id``,
``instruction``, ``language``, ``domain`` (slug), ``task`` (slug), ``reference`` and
``metadata`` (keys sorted). So ``sha256sum`` of a frozen benchmark's export equals its hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from pairs.models import DatasetSnapshot, SnapshotStatus
from principles.models import Domain, Task

from .benchmark_file import (
    FIELDS,
    ID_CHARS,
    LANGUAGES,
    MAX_CHARS,
    BenchmarkFileError,
    Problem,
    read_benchmark_file,
)
from .contamination import THRESHOLD, snapshot_contamination
from .models import Benchmark, BenchmarkItem, BenchmarkStatus, ContaminationReport

__all__ = [
    "benchmarks_list",
    "benchmark_counts",
    "benchmark_create",
    "benchmark_update",
    "benchmark_import",
    "benchmark_item_save",
    "benchmark_item_delete",
    "benchmark_freeze",
    "benchmark_new_version",
    "benchmark_delete",
    "benchmark_jsonl",
    "benchmark_content_hash",
    "contamination_report_get",
    "BenchmarkFileError",
]

CHUNK_BYTES = 1 << 20
NAME_CHARS = Benchmark._meta.get_field("name").max_length


# --- Reads ----------------------------------------------------------------------------------


def benchmarks_list() -> QuerySet[Benchmark]:
    """Every benchmark, grouped by name (latest version first), with item counts per
    language (``n_items``, ``n_zh``, ``n_en``) and its evaluations (``n_evaluations``)."""
    return (
        Benchmark.objects.select_related("created_by", "frozen_by")
        .annotate(
            n_items=Count("items", distinct=True),
            n_zh=Count("items", filter=Q(items__language="zh"), distinct=True),
            n_en=Count("items", filter=Q(items__language="en"), distinct=True),
            n_evaluations=Count("evaluations", distinct=True),
        )
        .order_by("name", "-version")
    )


def benchmark_counts(*, benchmark_ids: list[int]) -> dict[int, dict]:
    """For each benchmark: its item counts per ``language`` and per ``domain`` (domain
    slug, ``""`` for none), as lists of (value, n) sorted by value."""
    out: dict[int, dict] = {pk: {"language": {}, "domain": {}} for pk in benchmark_ids}
    rows = (
        BenchmarkItem.objects.filter(benchmark_id__in=benchmark_ids)
        .values("benchmark_id", "language", "domain__slug")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts = out[row["benchmark_id"]]
        lang = counts["language"]
        lang[row["language"]] = lang.get(row["language"], 0) + row["n"]
        slug = row["domain__slug"] or ""
        counts["domain"][slug] = counts["domain"].get(slug, 0) + row["n"]
    return {
        pk: {key: sorted(values.items()) for key, values in counts.items()}
        for pk, counts in out.items()
    }


def _items(benchmark: Benchmark) -> QuerySet[BenchmarkItem]:
    return benchmark.items.select_related("domain", "task").order_by("position", "id")


# --- Checks ---------------------------------------------------------------------------------


def _locked(benchmark: Benchmark) -> Benchmark:
    """The benchmark's row, locked for this transaction; refused when it is frozen."""
    locked = Benchmark.objects.select_for_update().get(pk=benchmark.pk)
    if locked.status != BenchmarkStatus.DRAFT:
        raise ValidationError(
            _("%(benchmark)s is frozen: make a new version to change it.") % {"benchmark": locked},
            code="frozen",
        )
    return locked


def _clean_text(value, *, required: bool, limit: int) -> tuple[str, str]:
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", _("Expected text.")
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        return "", _("This field is required.")
    if len(text) > limit:
        return "", _("At most %(limit)d characters (this has %(n)d).") % {
            "limit": limit,
            "n": len(text),
        }
    return text, ""


def _clean_name(name, *, benchmark: Benchmark | None = None) -> str:
    text, problem = _clean_text(name, required=True, limit=NAME_CHARS)
    if problem:
        raise ValidationError({"name": problem})
    used = Benchmark.objects.filter(name=text)
    if benchmark is not None:
        used = used.exclude(pk=benchmark.pk)
    if used.exists():
        raise ValidationError(
            {
                "name": _(
                    "A benchmark named “%(name)s” exists already: open it and make a new "
                    "version, or choose another name."
                )
                % {"name": text}
            }
        )
    return text


# --- Benchmarks -----------------------------------------------------------------------------


def benchmark_create(*, name: str, description: str = "", created_by=None) -> Benchmark:
    """A new draft benchmark, version 1. A name in use: ``ValidationError`` on ``name``."""
    name = _clean_name(name)
    description, problem = _clean_text(description, required=False, limit=MAX_CHARS)
    if problem:
        raise ValidationError({"description": problem})
    try:
        with transaction.atomic():
            return Benchmark.objects.create(
                name=name, version=1, description=description, created_by=created_by
            )
    except IntegrityError:  # made by someone else a moment ago
        raise ValidationError(
            {"name": _("A benchmark named “%(name)s” exists already.") % {"name": name}}
        ) from None


def benchmark_update(
    *, benchmark: Benchmark, name: str | None = None, description: str | None = None
) -> Benchmark:
    """Change the description (any benchmark: it is not part of the content) or the name
    (drafts only, and only while no other version carries the name)."""
    with transaction.atomic():
        locked = Benchmark.objects.select_for_update().get(pk=benchmark.pk)
        if name is not None and name.strip() != locked.name:
            if locked.status != BenchmarkStatus.DRAFT:
                raise ValidationError({"name": _("A frozen benchmark keeps its name.")})
            if Benchmark.objects.filter(name=locked.name).exclude(pk=locked.pk).exists():
                raise ValidationError(
                    {"name": _("Other versions carry this name: a new version keeps it.")}
                )
            locked.name = _clean_name(name, benchmark=locked)
        if description is not None:
            text, problem = _clean_text(description, required=False, limit=MAX_CHARS)
            if problem:
                raise ValidationError({"description": problem})
            locked.description = text
        locked.save(update_fields=["name", "description"])
    return locked


def _next_position(benchmark: Benchmark) -> int:
    last = benchmark.items.aggregate(m=Max("position"))["m"]
    return 0 if last is None else last + 1


def _taxonomy() -> tuple[dict[str, Domain], dict[str, Task]]:
    return (
        {d.slug: d for d in Domain.objects.all()},
        {t.slug: t for t in Task.objects.all()},
    )


def upload_max_bytes() -> int:
    """The largest benchmark file accepted, in bytes (the pair import's limit)."""
    return int(settings.WEAVER_IMPORT_MAX_BYTES)


def _spool(file) -> str:
    """An uploaded file written to a temporary path (the caller removes it)."""
    limit = upload_max_bytes()
    if getattr(file, "size", None) is not None and file.size > limit:
        raise ValidationError(
            {"file": _("The file is larger than the limit of %(limit)s bytes.") % {"limit": limit}}
        )
    fd, tmp = tempfile.mkstemp(prefix="weaver-benchmark-", suffix=".jsonl")
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in file.chunks(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise ValidationError(
                        {
                            "file": _("The file is larger than the limit of %(limit)s bytes.")
                            % {"limit": limit}
                        }
                    )
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def benchmark_import(*, benchmark: Benchmark, file, file_name: str, replace: bool = False) -> int:
    """Add the instructions of a JSONL file (a path, or an uploaded file with ``chunks()``)
    to a draft, after its items (``replace``: instead of them). All or nothing: any problem
    (a bad line, an unknown domain or task slug, an id already in the draft) raises
    :class:`BenchmarkFileError` listing each with file, line and field, and nothing is
    written. Returns the number of instructions imported."""
    if hasattr(file, "chunks"):
        path, spooled = _spool(file), True
    else:
        path, spooled = str(file), False
    name = Path(file_name or "").name or Path(path).name
    try:
        domains, tasks = _taxonomy()
        items = read_benchmark_file(path, file=name, domains=domains, tasks=tasks)
    finally:
        if spooled:
            Path(path).unlink(missing_ok=True)
    with transaction.atomic():
        locked = _locked(benchmark)
        start = 0
        if replace:
            locked.items.all().delete()
        else:
            existing = set(locked.items.values_list("key", flat=True))
            problems = [
                Problem(
                    name,
                    item.line,
                    "id",
                    _("%(key)r is already in the benchmark (import with “replace” to start over)")
                    % {"key": item.key},
                )
                for item in items
                if item.key in existing
            ]
            if problems:
                raise BenchmarkFileError(problems)
            start = _next_position(locked)
        BenchmarkItem.objects.bulk_create(
            BenchmarkItem(
                benchmark=locked,
                key=item.key,
                position=start + i,
                instruction=item.instruction,
                language=item.language,
                domain=domains.get(item.domain) if item.domain else None,
                task=tasks.get(item.task) if item.task else None,
                reference=item.reference,
                metadata=item.metadata,
            )
            for i, item in enumerate(items)
        )
    return len(items)


def benchmark_item_save(
    *,
    benchmark: Benchmark,
    item: BenchmarkItem | None = None,
    key: str,
    instruction: str,
    language: str,
    domain: str = "",
    task: str = "",
    reference: str = "",
    metadata: dict | None = None,
) -> BenchmarkItem:
    """Add an instruction to a draft (``item`` None: after the others) or change one.
    ``domain`` and ``task`` are slugs. Bad input: ``ValidationError`` keyed by field."""
    errors: dict[str, str] = {}
    values = {}
    for field, value, required, limit in (
        ("key", key, True, ID_CHARS),
        ("instruction", instruction, True, MAX_CHARS),
        ("reference", reference, False, MAX_CHARS),
    ):
        values[field], problem = _clean_text(value, required=required, limit=limit)
        if problem:
            errors[field] = problem
    if language not in LANGUAGES:
        errors["language"] = _("Expected one of: %(values)s.") % {"values": ", ".join(LANGUAGES)}
    domain_obj = task_obj = None
    if domain:
        domain_obj = Domain.objects.filter(slug=domain).first()
        if domain_obj is None:
            errors["domain"] = _("Unknown domain “%(slug)s”.") % {"slug": domain}
    if task:
        task_obj = Task.objects.filter(slug=task).first()
        if task_obj is None:
            errors["task"] = _("Unknown task “%(slug)s”.") % {"slug": task}
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        errors["metadata"] = _("Expected a JSON object.")
    if item is not None and item.benchmark_id != benchmark.pk:
        errors["item"] = _("This instruction belongs to another benchmark.")
    with transaction.atomic():
        locked = _locked(benchmark)
        if "key" not in errors:
            clash = locked.items.filter(key=values["key"])
            if item is not None:
                clash = clash.exclude(pk=item.pk)
            if clash.exists():
                errors["key"] = _("“%(key)s” is already in this benchmark.") % {
                    "key": values["key"]
                }
        if errors:
            raise ValidationError(errors)
        if item is None:
            item = BenchmarkItem(
                benchmark=locked,
                position=_next_position(locked),
            )
        item.key = values["key"]
        item.instruction = values["instruction"]
        item.reference = values["reference"]
        item.language = language
        item.domain = domain_obj
        item.task = task_obj
        item.metadata = metadata
        item.save()
    return item


def benchmark_item_delete(*, item: BenchmarkItem) -> None:
    """Remove an instruction from a draft."""
    with transaction.atomic():
        _locked(item.benchmark)
        item.delete()


def benchmark_freeze(*, benchmark: Benchmark, user) -> Benchmark:
    """Freeze a draft: its items are fixed and hashed. It needs at least one item."""
    with transaction.atomic():
        locked = _locked(benchmark)
        if not locked.items.exists():
            raise ValidationError(_("A benchmark needs at least one instruction to be frozen."))
        locked.content_hash = benchmark_content_hash(benchmark=locked)
        locked.status = BenchmarkStatus.FROZEN
        locked.frozen_at = timezone.now()
        locked.frozen_by = user
        locked.save(update_fields=["content_hash", "status", "frozen_at", "frozen_by"])
    return locked


def benchmark_new_version(*, benchmark: Benchmark, created_by=None) -> Benchmark:
    """A draft copy of ``benchmark`` (its items and description), version = the name's
    highest version + 1, made from ``benchmark``."""
    for _attempt in range(3):
        try:
            with transaction.atomic():
                latest = Benchmark.objects.filter(name=benchmark.name).aggregate(m=Max("version"))
                copy = Benchmark.objects.create(
                    name=benchmark.name,
                    version=(latest["m"] or 0) + 1,
                    description=benchmark.description,
                    parent=benchmark,
                    created_by=created_by,
                )
                BenchmarkItem.objects.bulk_create(
                    BenchmarkItem(
                        benchmark=copy,
                        key=it.key,
                        position=it.position,
                        instruction=it.instruction,
                        language=it.language,
                        domain_id=it.domain_id,
                        task_id=it.task_id,
                        reference=it.reference,
                        metadata=it.metadata,
                    )
                    for it in benchmark.items.order_by("position", "id")
                )
                return copy
        except IntegrityError:  # another version was made at the same moment: take the next
            continue
    raise ValidationError(_("Could not make a new version now; try again."))


def benchmark_delete(*, benchmark: Benchmark) -> None:
    """Delete a benchmark with its items and contamination reports; refused while an
    evaluation uses it."""
    with transaction.atomic():
        locked = Benchmark.objects.select_for_update().get(pk=benchmark.pk)
        n = locked.evaluations.count()
        if n:
            raise ValidationError(
                _("%(benchmark)s is used by %(n)d evaluation(s): it cannot be deleted.")
                % {"benchmark": locked, "n": n}
            )
        locked.delete()


# --- Export and hash ------------------------------------------------------------------------


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _line(item: BenchmarkItem) -> str:
    row = {
        "id": item.key,
        "instruction": item.instruction,
        "language": item.language,
        "domain": item.domain.slug if item.domain_id else "",
        "task": item.task.slug if item.task_id else "",
        "reference": item.reference,
        "metadata": _sorted(item.metadata or {}),
    }
    assert tuple(row) == FIELDS
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def benchmark_jsonl(*, benchmark: Benchmark) -> Iterator[str]:
    """The benchmark as JSONL, one line (with its newline) per item in position order, in
    the import format: exporting then importing gives the same items."""
    for item in _items(benchmark).iterator(chunk_size=1000):
        yield _line(item) + "\n"


def benchmark_content_hash(*, benchmark: Benchmark) -> str:
    """SHA-256 (hex) of :func:`benchmark_jsonl`: the items in position order as canonical
    JSON (id, instruction, language, domain slug, task slug, reference, metadata)."""
    digest = hashlib.sha256()
    for line in benchmark_jsonl(benchmark=benchmark):
        digest.update(line.encode())
    return digest.hexdigest()


# --- Contamination --------------------------------------------------------------------------


def contamination_report_get(
    *, benchmark: Benchmark, snapshot: DatasetSnapshot, threshold: float = THRESHOLD
) -> ContaminationReport:
    """The benchmark's instructions found in the snapshot's prompts (exact and near copies,
    see :mod:`training.evaluation.contamination`).

    For a frozen benchmark the report is computed once and stored (benchmark, snapshot and
    threshold are unique; both sides are immutable), and later calls return the stored one.
    For a draft, which may still change, it is computed but **not stored**: the report
    returned is unsaved (``pk`` None). The snapshot must be ready. Each match is
    ``Match.as_dict()`` plus ``text``, the benchmark instruction's text."""
    errors = {}
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not 0 < threshold <= 1:
        errors["threshold"] = _("Expected a number above 0 and at most 1.")
    if snapshot.status != SnapshotStatus.READY:
        errors["snapshot"] = _("%(label)s is not ready (%(status)s).") % {
            "label": snapshot.label,
            "status": snapshot.get_status_display(),
        }
    if errors:
        raise ValidationError(errors)
    frozen = benchmark.status == BenchmarkStatus.FROZEN
    if frozen:
        stored = ContaminationReport.objects.filter(
            benchmark=benchmark, snapshot=snapshot, threshold=threshold
        ).first()
        if stored is not None:
            return stored
    texts = dict(benchmark.items.values_list("key", "instruction"))
    found = snapshot_contamination(
        instructions=texts.items(), snapshot_id=snapshot.pk, threshold=threshold
    )
    matches = [{**m.as_dict(), "text": texts.get(m.instruction, "")} for m in found]
    values = {
        "matches": matches,
        "exact": sum(1 for m in found if m.kind == "exact"),
        "near": sum(1 for m in found if m.kind == "near"),
        "instructions": len({m.instruction for m in found}),
    }
    if not frozen:
        return ContaminationReport(
            benchmark=benchmark, snapshot=snapshot, threshold=threshold, **values
        )
    try:
        with transaction.atomic():
            report, _created = ContaminationReport.objects.get_or_create(
                benchmark=benchmark, snapshot=snapshot, threshold=threshold, defaults=values
            )
    except IntegrityError:  # stored by a concurrent request in between
        report = ContaminationReport.objects.get(
            benchmark=benchmark, snapshot=snapshot, threshold=threshold
        )
    return report
