"""Writes of datasets: create and freeze snapshots, new versions, exports and their files.

A snapshot is created in ``building`` and frozen at once when it is small, else by the
``datasets.freeze`` task: the matching pairs are read in id order, a chunk at a time, and
copied into rows with their split and the running content hash; only then does it turn
``ready``. A freeze that stops halfway (a lost worker) starts over from nothing when run
again. Exports are always written by the ``datasets.export`` task (see ``export.py``).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections import Counter

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from weaver_site.roles import ADMIN, ENGINEER, has_role

from ..models import (
    DatasetExport,
    DatasetKind,
    DatasetRow,
    DatasetSnapshot,
    ExportFormat,
    ExportLayout,
    ExportStatus,
    Review,
    ReviewState,
    SnapshotStatus,
    Split,
)
from . import rows as R
from .filters import filters_for, matching_pairs

logger = logging.getLogger(__name__)

CHUNK = 2000

PREFERENCE_VALUES = {
    "domain_slug": F("domain__slug"),
    "subdomain_slug": F("subdomain__slug"),
    "task_slug": F("task__slug"),
    "principle_id": F("principle_version__principle_id"),
    "principle_number": F("principle_version__number"),
    "principle_title": F("principle_version__title"),
    "principle_text": F("principle_version__description"),
    "endpoint_name": F("endpoint__name"),
    "text_id": F("positive__source_text_id"),
    "text_title": F("positive__source_text__title"),
    "text_author": F("positive__source_text__author"),
    "text_source": F("positive__source_text__source"),
    "text_licence": F("positive__source_text__licence"),
}
PREFERENCE_FIELDS = (
    "id",
    "instruction",
    "context",
    "chosen",
    "rejected",
    "language",
    "status",
    "mode",
    "prompt_version",
    "model",
    "job_id",
    "metrics",
    "judge_verdict",
    "flagged",
    "positive_id",
)
INSTRUCTION_VALUES = {
    "domain_slug": F("domain__slug"),
    "subdomain_slug": F("subdomain__slug"),
    "task_slug": F("task__slug"),
    "endpoint_name": F("endpoint__name"),
    "text_id": F("source_text_id"),
    "text_title": F("source_text__title"),
    "text_author": F("source_text__author"),
    "text_source": F("source_text__source"),
    "text_licence": F("source_text__licence"),
}
INSTRUCTION_FIELDS = (
    "id",
    "instruction",
    "context",
    "response",
    "language",
    "status",
    "origin",
    "model",
    "recipe_version",
    "job_id",
    "curation_score",
    "mark",
)

#: Histogram edges kept in a snapshot's statistics.
UNIT_EDGES = [round(i / 10, 1) for i in range(11)]
LENGTH_EDGES = [0, 100, 200, 400, 800, 1600, 3200, 6400, 12800]


def can_manage_datasets(user) -> bool:
    return has_role(user, ENGINEER, ADMIN)


def _check_user(user) -> None:
    if not can_manage_datasets(user):
        raise PermissionDenied(_("Only engineers and admins make datasets."))


def _fraction(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError({"test_fraction": _("Expected a number.")}) from None
    if not 0 <= value < 1:
        raise ValidationError({"test_fraction": _("Expected a number from 0 up to 1 (not 1).")})
    return value


def dataset_count(*, kind: str, filters: dict | None) -> int:
    """How many pairs the filters match now (raises ValidationError naming a bad field)."""
    return matching_pairs(kind, filters_for(kind, filters)).order_by().count()


def dataset_snapshot_create(
    *,
    name: str,
    kind: str,
    created_by,
    filters: dict | None = None,
    test_fraction: float = 0.1,
    stratify: bool = False,
    split_seed: str = "",
    description: str = "",
) -> DatasetSnapshot:
    """The next version of the dataset ``name``, frozen now when it holds at most
    ``WEAVER_DATASET_SYNC_FREEZE_MAX`` pairs, else by a worker."""
    _check_user(created_by)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("A dataset needs a name.")})
    if len(name) > 200:
        raise ValidationError({"name": _("At most 200 characters.")})
    if kind not in DatasetKind.values:
        raise ValidationError({"kind": _("Expected sft or dpo.")})
    parsed = filters_for(kind, filters)
    fraction = _fraction(test_fraction)
    seed = str(split_seed or "")[:64]
    same_name = DatasetSnapshot.objects.filter(name=name).values_list("kind", flat=True).first()
    if same_name and same_name != kind:
        raise ValidationError(
            {"name": _("A dataset of this name holds %(kind)s data.") % {"kind": same_name}}
        )
    limit = settings.WEAVER_DATASET_SYNC_FREEZE_MAX
    matching = matching_pairs(kind, parsed).order_by()[: limit + 1].count()
    if not matching:
        raise ValidationError({"filters": _("No pair matches these filters.")})
    for attempt in range(5):
        try:
            with transaction.atomic():
                latest = DatasetSnapshot.objects.filter(name=name).aggregate(v=Max("version"))
                snapshot = DatasetSnapshot.objects.create(
                    name=name,
                    version=(latest["v"] or 0) + 1,
                    kind=kind,
                    description=description or "",
                    filters=parsed.as_dict(),
                    test_fraction=fraction,
                    stratify=bool(stratify),
                    split_seed=seed,
                    created_by=created_by,
                )
            break
        except IntegrityError:  # two versions numbered at once: take the next number
            if attempt == 4:
                raise
    if matching <= limit:
        dataset_snapshot_freeze(snapshot=snapshot)
        snapshot.refresh_from_db()
    else:
        from .tasks import freeze_snapshot

        transaction.on_commit(lambda: freeze_snapshot.delay(snapshot.pk))
    return snapshot


def dataset_snapshot_new_version(*, snapshot: DatasetSnapshot, created_by) -> DatasetSnapshot:
    """Freeze the same filters and split again, now, as the next version."""
    return dataset_snapshot_create(
        name=snapshot.name,
        kind=snapshot.kind,
        created_by=created_by,
        filters=snapshot.filters,
        test_fraction=snapshot.test_fraction,
        stratify=snapshot.stratify,
        split_seed=snapshot.split_seed,
        description=snapshot.description,
    )


def _pair_values(kind: str, qs):
    if kind == DatasetKind.DPO:
        return qs.values(*PREFERENCE_FIELDS, **PREFERENCE_VALUES)
    return qs.values(*INSTRUCTION_FIELDS, **INSTRUCTION_VALUES)


def _review_counts(pair_ids: list[int]) -> dict[int, dict]:
    rows = (
        Review.objects.filter(pair_id__in=pair_ids, state=ReviewState.SUBMITTED)
        .order_by()
        .values("pair_id")
        .annotate(
            reviews=Count("pk"),
            accepts=Count("pk", filter=Q(decision__in=("accept", "edit"))),
            edits=Count("pk", filter=Q(decision="edit")),
        )
    )
    return {
        r["pair_id"]: {"reviews": r["reviews"], "accepts": r["accepts"], "edited": r["edits"] > 0}
        for r in rows
    }


def _test_keys(snapshot: DatasetSnapshot, qs) -> set[str] | None:
    """For a stratified split, the prompt keys that go to test; None when not stratified.
    A prompt's domain is that of its first pair."""
    if not snapshot.stratify or snapshot.test_fraction <= 0:
        return None
    group_of: dict[str, str] = {}
    for instruction, context, domain in qs.values_list(
        "instruction", "context", "domain__slug"
    ).iterator(chunk_size=CHUNK * 5):
        key = R.prompt_key(R.prompt_text(instruction, context), snapshot.split_seed)
        group_of.setdefault(key, domain or "")
    groups: dict[str, set[str]] = {}
    for key, group in group_of.items():
        groups.setdefault(group, set()).add(key)
    return R.stratified_test_keys(groups, snapshot.test_fraction)


class _Stats:
    """Counts and histograms gathered while freezing."""

    def __init__(self, kind: str):
        self.kind = kind
        self.counts: dict[str, Counter] = {
            k: Counter() for k in ("split", "domain", "task", "language", "principle", "licence")
        }
        self.by_split: dict[str, Counter] = {"train": Counter(), "test": Counter()}
        self.prompts = {"train": set(), "test": set()}
        self.hist: dict[str, Counter] = {}

    def add(self, row: dict, split: str, key: str) -> None:
        c = self.counts
        c["split"][split] += 1
        c["domain"][row["domain"] or "-"] += 1
        c["task"][row["task"] or "-"] += 1
        c["language"][row["language"]] += 1
        c["licence"][row["source"]["licence"] or "-"] += 1
        self.by_split[split][row["domain"] or "-"] += 1
        self.prompts[split].add(key)
        if self.kind == DatasetKind.DPO:
            label = (
                f"{row['principle_id']} v{row['principle_version']} {row['principle_title']}"
                if row["principle_id"] is not None
                else "-"
            )
            c["principle"][label] += 1
            for name in ("edit_ratio", "char_similarity"):
                self._bin(name, row["metrics"][name], UNIT_EDGES)
        else:
            score = row["metrics"]["curation_score"]
            self.hist.setdefault("curation_score", Counter())[
                "-" if score is None else str(score)
            ] += 1
        self._bin("prompt_length", len(row["prompt"]), LENGTH_EDGES)

    def _bin(self, name: str, value, edges: list) -> None:
        if value is None:
            return
        i = 0
        while i < len(edges) - 2 and value >= edges[i + 1]:
            i += 1
        self.hist.setdefault(name, Counter())[str(i)] += 1

    def as_dict(self) -> dict:
        hist = {}
        for name, counter in self.hist.items():
            if name == "curation_score":
                labels = sorted(counter, key=lambda k: (k == "-", int(k) if k != "-" else 0))
                hist[name] = {
                    "labels": labels,
                    "counts": [counter[k] for k in labels],
                }
                continue
            edges = LENGTH_EDGES if name == "prompt_length" else UNIT_EDGES
            hist[name] = {
                "edges": edges,
                "counts": [counter.get(str(i), 0) for i in range(len(edges) - 1)],
            }
        return {
            "counts": {k: dict(v.most_common()) for k, v in self.counts.items()},
            "domain_by_split": {k: dict(v.most_common()) for k, v in self.by_split.items()},
            "prompts": {k: len(v) for k, v in self.prompts.items()},
            "histograms": hist,
        }


def dataset_snapshot_freeze(*, snapshot: DatasetSnapshot) -> DatasetSnapshot:
    """Copy the matching pairs into the snapshot's rows and mark it ready. Run again on a
    snapshot left half-built, it starts over; on a ready one, it does nothing."""
    snapshot.refresh_from_db()
    if snapshot.status != SnapshotStatus.BUILDING:
        return snapshot
    try:
        _freeze(snapshot)
    except Exception as exc:
        # Filters an older release recorded that no longer parse, a database error: the
        # snapshot fails with the reason and keeps no rows. (A lost worker raises nothing: its
        # task is handed out again and starts over.)
        logger.exception("freezing snapshot %s failed", snapshot.pk)
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        DatasetRow.objects.filter(snapshot=snapshot).delete()
        DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.BUILDING).update(
            status=SnapshotStatus.FAILED, error=message[:2000] or exc.__class__.__name__
        )
    snapshot.refresh_from_db()
    return snapshot


#: The columns of a frozen row, in the order ``_freeze`` gives them to ``_insert_rows``.
ROW_COLUMNS = ("snapshot_id", "position", "split", "pair_id", "prompt_key", "digest", "data")


def _insert_rows(rows: list[tuple]) -> None:
    """Insert frozen rows (tuples of ``ROW_COLUMNS``): with ``COPY`` on PostgreSQL, where
    ``bulk_create`` would spend most of a freeze quoting its arrays of JSON text on the
    client; with ``bulk_create`` elsewhere."""
    if connection.vendor != "postgresql":
        DatasetRow.objects.bulk_create(
            [DatasetRow(**dict(zip(ROW_COLUMNS, row, strict=True))) for row in rows],
            batch_size=1000,
        )
        return
    quote = connection.ops.quote_name
    table = quote(DatasetRow._meta.db_table)
    columns = ", ".join(quote(DatasetRow._meta.get_field(c).column) for c in ROW_COLUMNS)
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _freeze(snapshot: DatasetSnapshot) -> None:
    kind = snapshot.kind
    qs = matching_pairs(kind, filters_for(kind, snapshot.filters))
    DatasetRow.objects.filter(snapshot=snapshot).delete()
    test_keys = _test_keys(snapshot, qs)
    hasher = hashlib.sha256()
    stats = _Stats(kind)
    position = 0
    chunk: list[dict] = []

    def flush() -> None:
        nonlocal position
        reviews = _review_counts([p["id"] for p in chunk]) if kind == DatasetKind.DPO else {}
        objs = []
        for p in chunk:
            if kind == DatasetKind.DPO:
                row = R.preference_row(p, reviews.get(p["id"]))
            else:
                row = R.instruction_row(p)
            key = R.prompt_key(row["prompt"], snapshot.split_seed)
            if test_keys is None:
                split = Split.TEST if R.is_test(key, snapshot.test_fraction) else Split.TRAIN
            else:
                split = Split.TEST if key in test_keys else Split.TRAIN
            line = R.dumps(row)
            hasher.update(R.hash_line(split, line))
            stats.add(row, split, key)
            objs.append((snapshot.pk, position, str(split), p["id"], key, R.digest(line), line))
            position += 1
        with transaction.atomic():
            _insert_rows(objs)
        chunk.clear()

    for values in _pair_values(kind, qs).iterator(chunk_size=CHUNK):
        chunk.append(values)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    summary = stats.as_dict()
    DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.BUILDING).update(
        status=SnapshotStatus.READY,
        row_count=position,
        train_count=summary["counts"]["split"].get("train", 0),
        test_count=summary["counts"]["split"].get("test", 0),
        content_hash=hasher.hexdigest(),
        stats=summary,
        frozen_at=timezone.now(),
        error="",
    )


def dataset_snapshot_verify(*, snapshot: DatasetSnapshot) -> bool:
    """Whether the rows still hash to the recorded content hash."""
    hasher = hashlib.sha256()
    for split, line in (
        DatasetRow.objects.filter(snapshot=snapshot)
        .order_by("position")
        .values_list("split", "data")
        .iterator(chunk_size=5000)
    ):
        hasher.update(R.hash_line(split, line))
    return hasher.hexdigest() == snapshot.content_hash


def hub_token() -> str:
    return settings.WEAVER_HF_TOKEN


def dataset_export_create(
    *,
    snapshot: DatasetSnapshot,
    created_by,
    format: str,
    layout: str = ExportLayout.STANDARD,
    include_metadata: bool = True,
    hub_repo: str = "",
    hub_private: bool = True,
) -> DatasetExport:
    """Queue an export of a ready snapshot for the ``datasets.export`` task."""
    _check_user(created_by)
    if snapshot.status != SnapshotStatus.READY:
        raise ValidationError({"snapshot": _("The snapshot is not frozen yet.")})
    if format not in ExportFormat.values:
        raise ValidationError({"format": _("Expected jsonl, parquet or hf.")})
    if layout not in ExportLayout.values:
        raise ValidationError({"layout": _("Expected standard or conversational.")})
    hub_repo = (hub_repo or "").strip()
    if hub_repo:
        from .export import check_repo_id

        check_repo_id(hub_repo)
        if format == ExportFormat.JSONL:
            raise ValidationError(
                {"hub_repo": _("Pushing to the Hub needs the Parquet or Hugging Face format.")}
            )
        if not hub_token():
            raise ValidationError(
                {"hub_repo": _("No Hugging Face token is configured (WEAVER_HF_TOKEN).")}
            )
    export = DatasetExport.objects.create(
        snapshot=snapshot,
        format=format,
        layout=layout,
        include_metadata=bool(include_metadata),
        hub_repo=hub_repo,
        hub_private=bool(hub_private),
        created_by=created_by,
    )
    from .tasks import run_export

    transaction.on_commit(lambda: run_export.delay(export.pk))
    return export


def dataset_export_claim(*, export: DatasetExport, worker: str) -> bool:
    """Take a queued export (or one whose worker was lost) for ``worker``."""
    return bool(
        DatasetExport.objects.filter(
            pk=export.pk, status__in=(ExportStatus.QUEUED, ExportStatus.RUNNING)
        ).update(
            status=ExportStatus.RUNNING,
            worker=worker,
            started_at=timezone.now(),
            rows_written=0,
            error="",
        )
    )


def dataset_export_run(*, export: DatasetExport, worker: str = "") -> DatasetExport:
    """Write the export's files (and push them, if asked); a run again starts over."""
    from .export import export_dir, push_to_hub, write_export

    if not dataset_export_claim(export=export, worker=worker):
        export.refresh_from_db()
        return export
    export.refresh_from_db()
    try:
        files = write_export(export)
        hub_url = push_to_hub(export) if export.hub_repo else ""
    except Exception as exc:
        logger.exception("export %s failed", export.pk)
        message = str(exc) or exc.__class__.__name__
        token = hub_token()
        if token:
            message = message.replace(token, "***")
        DatasetExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
        )
    else:
        if not DatasetExport.objects.filter(pk=export.pk).exists():
            # Deleted while it was being written: its files go too.
            shutil.rmtree(export_dir(export), ignore_errors=True)
            return export
        DatasetExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.DONE,
            files=files,
            rows_written=export.snapshot.row_count,
            hub_url=hub_url,
            finished_at=timezone.now(),
        )
    export.refresh_from_db()
    if export.status == ExportStatus.FAILED:
        shutil.rmtree(export_dir(export), ignore_errors=True)
    return export


def dataset_export_delete(*, export: DatasetExport) -> None:
    """Remove an export and its files."""
    from .export import export_dir

    shutil.rmtree(export_dir(export), ignore_errors=True)
    export.delete()


def dataset_snapshot_delete(*, snapshot: DatasetSnapshot) -> None:
    """Remove a snapshot, its rows, its exports and their files; refused while training runs
    use it (they name it as their data)."""
    if snapshot.training_runs.exists():
        raise ValidationError(
            {"snapshot": _("Training runs use this snapshot; delete them first.")}
        )
    for export in snapshot.exports.all():
        dataset_export_delete(export=export)
    snapshot.delete()
