"""Celery tasks of datasets (the ``default`` queue): freeze a large snapshot, write an export.

Both are acknowledged late and given back when their worker is lost, so the broker hands
them out again; both start over from nothing when they run again."""

from __future__ import annotations

import socket

from celery import shared_task

__all__ = ["freeze_snapshot", "run_export"]


@shared_task(name="datasets.freeze", acks_late=True, reject_on_worker_lost=True)
def freeze_snapshot(snapshot_id: int) -> int:
    from pairs.models import DatasetSnapshot

    from .services import dataset_snapshot_freeze

    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None:
        return 0
    return dataset_snapshot_freeze(snapshot=snapshot).row_count


@shared_task(name="datasets.export", acks_late=True, reject_on_worker_lost=True)
def run_export(export_id: int) -> str:
    from pairs.models import DatasetExport

    from .services import dataset_export_run

    export = DatasetExport.objects.filter(pk=export_id).first()
    if export is None:
        return ""
    return dataset_export_run(export=export, worker=socket.gethostname()).status
