"""Reads of datasets: lists, versions, row previews, and comparing two snapshots."""

from __future__ import annotations

import json

from django.db.models import Exists, OuterRef, QuerySet

from ..models import DatasetExport, DatasetRow, DatasetSnapshot


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
