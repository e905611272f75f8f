"""Datasets with a real Celery worker on the default queue: a snapshot over the synchronous
limit is frozen by ``datasets.freeze``, and an export is written by ``datasets.export``."""

from __future__ import annotations

import hashlib
import socket

import pytest

from pairs.datasets import services
from pairs.datasets.export import export_dir
from pairs.models import DatasetRow, ExportStatus, PreferenceStatus, SnapshotStatus

from ..conftest import wait_for
from ..factories import UserFactory, make_approved, make_review_pairs

pytestmark = pytest.mark.worker


def _wait(predicate, worker, message):
    try:
        wait_for(predicate, timeout=120, interval=0.5, message=message)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_path.read_text()[-3000:]}") from None


def test_a_large_snapshot_is_frozen_and_exported_by_a_real_worker(
    celery_worker_process, reference_data, subprocess_env, settings, tmp_path
):
    exports = tmp_path / "exports"
    settings.WEAVER_EXPORT_DIR = exports
    settings.WEAVER_DATASET_SYNC_FREEZE_MAX = 2
    # The worker reads its settings from the environment.
    subprocess_env["WEAVER_EXPORT_DIR"] = str(exports)
    subprocess_env["WEAVER_DATASET_SYNC_FREEZE_MAX"] = "2"

    author = UserFactory(username="dora", roles=["Author"])
    admin = UserFactory(username="dan", roles=["Admin"])
    engineer = UserFactory(username="dee", roles=["Engineer"])
    version = make_approved(author, admin, task="content_writing").approved_version
    pairs = make_review_pairs(5, principle_version=version)
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])

    worker = celery_worker_process(queues="default", name="datasets")
    snapshot = services.dataset_snapshot_create(
        name="worker-dpo", kind="dpo", created_by=engineer, test_fraction=0.2
    )
    assert snapshot.status == SnapshotStatus.BUILDING  # not frozen in the request
    assert not DatasetRow.objects.filter(snapshot=snapshot).exists()

    def frozen():
        snapshot.refresh_from_db()
        return snapshot.status != SnapshotStatus.BUILDING

    _wait(frozen, worker, "the snapshot to be frozen")
    assert snapshot.status == SnapshotStatus.READY, snapshot.error
    assert snapshot.row_count == 5 == snapshot.train_count + snapshot.test_count
    assert DatasetRow.objects.filter(snapshot=snapshot).count() == 5
    assert set(DatasetRow.objects.values_list("pair_id", flat=True)) == {p.pk for p in pairs}
    assert len(snapshot.content_hash) == 64 and snapshot.frozen_at
    assert services.dataset_snapshot_verify(snapshot=snapshot)
    assert "datasets.freeze" in worker.log_path.read_text()

    export = services.dataset_export_create(snapshot=snapshot, created_by=engineer, format="jsonl")

    def written():
        export.refresh_from_db()
        return export.status in (ExportStatus.DONE, ExportStatus.FAILED)

    _wait(written, worker, "the export to be written")
    assert export.status == ExportStatus.DONE, export.error
    assert export.rows_written == 5
    assert export.worker == socket.gethostname()  # claimed by the worker
    folder = export_dir(export)
    assert folder.parent == exports
    names = {f["name"] for f in export.files}
    assert "README.md" in names and names & {"train.jsonl", "test.jsonl"}
    lines = 0
    for entry in export.files:
        path = folder / entry["name"]
        assert path.is_file(), entry["name"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        if entry["name"].endswith(".jsonl"):
            lines += len(data.splitlines())
    assert lines == 5
    assert "datasets.export" in worker.log_path.read_text()
