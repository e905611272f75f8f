"""Reads of datasets: lists, versions, row previews, and comparing two snapshots."""

from __future__ import annotations

import json

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from ..models import DatasetExport, DatasetRow, DatasetSnapshot, SnapshotStatus


def snapshots() -> QuerySet[DatasetSnapshot]:
    """Every snapshot, newest first, with who made it."""
    return DatasetSnapshot.objects.select_related("created_by").order_by("-created_at", "-id")


def snapshot_versions(snapshot: DatasetSnapshot) -> QuerySet[DatasetSnapshot]:
    """All versions of the snapshot's dataset, newest first."""
    return DatasetSnapshot.objects.filter(name=snapshot.name).order_by("-version")


def snapshot_exports(snapshot: DatasetSnapshot) -> QuerySet[DatasetExport]:
    return snapshot.exports.select_related("created_by").order_by("-created_at", "-id")


def snapshot_rows(snapshot: DatasetSnapshot, *, split: str = "", offset: int = 0, limit: int = 20):
    """A page of rows, parsed: ``[(position, split, row dict)]``."""
    qs = DatasetRow.objects.filter(snapshot=snapshot).order_by("position")
    if split:
        qs = qs.filter(split=split)
    return [
        (position, s, json.loads(data))
        for position, s, data in qs.values_list("position", "split", "data")[
            offset : offset + limit
        ]
    ]


def _rows_not_in(a: DatasetSnapshot, b: DatasetSnapshot) -> QuerySet[DatasetRow]:
    """Rows of ``a`` whose pair is not in ``b``."""
    return DatasetRow.objects.filter(snapshot=a).exclude(
        Exists(DatasetRow.objects.filter(snapshot=b, pair_id=OuterRef("pair_id")))
    )


def _examples(qs: QuerySet[DatasetRow], limit: int) -> list[dict]:
    out = []
    for pair_id, split, data in qs.order_by("position").values_list("pair_id", "split", "data")[
        :limit
    ]:
        row = json.loads(data)
        out.append({"pair_id": pair_id, "split": split, "prompt": row.get("prompt", "")[:300]})
    return out


def snapshot_compare(*, old: DatasetSnapshot, new: DatasetSnapshot, limit: int = 20) -> dict:
    """What changed from ``old`` to ``new``: pairs added, removed, and kept but changed (their
    frozen row differs, or they moved split), with counts and the first ``limit`` of each."""
    added = _rows_not_in(new, old)
    removed = _rows_not_in(old, new)
    # NOT (same digest AND same split): the row differs or moved split.
    changed = DatasetRow.objects.filter(snapshot=new).filter(
        Exists(
            DatasetRow.objects.filter(snapshot=old, pair_id=OuterRef("pair_id")).exclude(
                digest=OuterRef("digest"), split=OuterRef("split")
            )
        )
    )
    return {
        "old": old,
        "new": new,
        "same": old.content_hash == new.content_hash,
        "added": added.count(),
        "removed": removed.count(),
        "changed": changed.count(),
        "added_examples": _examples(added, limit),
        "removed_examples": _examples(removed, limit),
        "changed_examples": _examples(changed, limit),
    }


# --- Pages ----------------------------------------------------------------------------------


def snapshots_grouped() -> QuerySet[DatasetSnapshot]:
    """Every snapshot, the versions of one name together (newest version first), the names
    ordered by when their latest version was made (newest first)."""
    from django.db.models import Subquery

    latest = (
        DatasetSnapshot.objects.filter(name=OuterRef("name"))
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    return (
        snapshots().annotate(latest_at=Subquery(latest)).order_by("-latest_at", "name", "-version")
    )


def snapshot_previous(snapshot: DatasetSnapshot) -> DatasetSnapshot | None:
    """The version of the same name just before ``snapshot``, if any."""
    return (
        DatasetSnapshot.objects.filter(name=snapshot.name, version__lt=snapshot.version)
        .order_by("-version")
        .first()
    )


def snapshot_compare_choices(snapshot: DatasetSnapshot, limit: int = 200) -> list[DatasetSnapshot]:
    """Snapshots ``snapshot`` may be compared with: the other ones of its kind, the versions
    of its own name first."""
    others = list(
        DatasetSnapshot.objects.filter(kind=snapshot.kind)
        .exclude(pk=snapshot.pk)
        .order_by("name", "-version")[:limit]
    )
    return sorted(others, key=lambda s: (s.name != snapshot.name, s.name, -s.version))


def snapshot_has_active_exports(snapshot: DatasetSnapshot) -> bool:
    return snapshot.exports.filter(status__in=("queued", "running")).exists()


def exports() -> QuerySet[DatasetExport]:
    """Every export, newest first, with its snapshot and who asked for it."""
    return DatasetExport.objects.select_related("snapshot", "created_by").order_by(
        "-created_at", "-id"
    )


def export_error(export: DatasetExport) -> str:
    """The export's error as it may be shown: the Hub token, should it be there, masked."""
    from django.conf import settings

    token, error = settings.WEAVER_HF_TOKEN, export.error or ""
    return error.replace(token, "***") if token else error


def snapshot_compare_problem(new: DatasetSnapshot, old: DatasetSnapshot) -> tuple[str, str]:
    """Why ``new`` cannot be compared with ``old``, as (the snapshot at fault: "new" or "old",
    the reason); ("", "") when it can."""
    if old.pk == new.pk:
        return "old", _("Choose another snapshot to compare this one with.")
    if old.kind != new.kind:
        return "old", _(
            "“%(a)s” holds %(ka)s data and “%(b)s” holds %(kb)s data: only snapshots of "
            "the same kind can be compared."
        ) % {
            "a": new.label,
            "ka": new.get_kind_display(),
            "b": old.label,
            "kb": old.get_kind_display(),
        }
    not_ready = _("Both snapshots must be frozen (ready) to be compared.")
    if new.status != SnapshotStatus.READY:
        return "new", not_ready
    if old.status != SnapshotStatus.READY:
        return "old", not_ready
    return "", ""
