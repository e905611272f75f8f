"""Django admin for datasets: snapshot and export pages load, snapshots are read-only, deleting
goes through the services (rows, exports and their files go too), and rows are counted, not
listed, on the delete confirmation page."""

from __future__ import annotations

import pytest

from pairs.datasets import services
from pairs.datasets.export import export_dir
from pairs.models import DatasetExport, DatasetRow, DatasetSnapshot, PreferenceStatus

from ..factories import make_approved, make_review_pairs


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"
    return settings.WEAVER_EXPORT_DIR


@pytest.fixture
def snapshot(author, admin_user, engineer):
    version = make_approved(author, admin_user, task="content_writing").approved_version
    for p in make_review_pairs(6, principle_version=version, instruction="Prompt <b>bold</b>"):
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return services.dataset_snapshot_create(
        name="admin-dpo", kind="dpo", created_by=engineer, test_fraction=0.3
    )


@pytest.fixture
def export(snapshot, engineer):
    export = services.dataset_export_create(snapshot=snapshot, created_by=engineer, format="jsonl")
    services.dataset_export_run(export=export, worker="t")
    export.refresh_from_db()
    assert export.status == "done", export.error
    return export


def test_list_and_detail_pages_load(snapshot, export, admin_user, client_for):
    c = client_for(admin_user)
    page = c.get("/admin/pairs/datasetsnapshot/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "admin-dpo" in html and snapshot.content_hash[:12] in html
    for query in ("kind=dpo", "status=ready", "q=admin", f"q={snapshot.pk}", f"q=%23{snapshot.pk}"):
        cl = c.get(f"/admin/pairs/datasetsnapshot/?{query}").context["cl"]
        assert list(cl.result_list) == [snapshot], query
    assert not c.get("/admin/pairs/datasetsnapshot/?kind=sft").context["cl"].result_list

    detail = c.get(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert snapshot.content_hash in html
    assert "Prompt &lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert f"/admin/pairs/datasetexport/{export.pk}/change/" in html  # the inline links it

    page = c.get("/admin/pairs/datasetexport/")
    assert page.status_code == 200 and "admin-dpo v1" in page.content.decode()
    for query in ("status=done", "format=jsonl", f"q={export.pk}", "q=admin-dpo"):
        cl = c.get(f"/admin/pairs/datasetexport/?{query}").context["cl"]
        assert list(cl.result_list) == [export], query
    detail = c.get(f"/admin/pairs/datasetexport/{export.pk}/change/")
    assert detail.status_code == 200
    assert f"/api/dataset-exports/{export.pk}/download/?file=README.md" in (detail.content.decode())
    # Rows have no admin page of their own.
    assert c.get("/admin/pairs/datasetrow/").status_code == 404


def test_snapshots_and_exports_cannot_be_added_or_changed(snapshot, export, admin_user, client_for):
    c = client_for(admin_user)
    for model in ("datasetsnapshot", "datasetexport"):
        assert c.get(f"/admin/pairs/{model}/add/").status_code == 403, model
    before = (snapshot.name, snapshot.content_hash, snapshot.row_count)
    response = c.post(
        f"/admin/pairs/datasetsnapshot/{snapshot.pk}/change/",
        {"name": "renamed", "description": "changed", "row_count": 1},
    )
    assert response.status_code == 403
    snapshot.refresh_from_db()
    assert (snapshot.name, snapshot.content_hash, snapshot.row_count) == before
    assert services.dataset_snapshot_verify(snapshot=snapshot)
    page = c.get(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    response = c.post(f"/admin/pairs/datasetexport/{export.pk}/change/", {"status": "failed"})
    assert response.status_code == 403
    export.refresh_from_db()
    assert export.status == "done"


def test_delete_removes_rows_exports_and_files(snapshot, export, admin_user, client_for):
    c = client_for(admin_user)
    folder = export_dir(export)
    assert folder.is_dir()
    confirm = c.get(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/delete/")
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Dataset rows: 6" in html  # counted, not listed one by one
    assert f"{snapshot.pk}:0" not in html
    response = c.post(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DatasetSnapshot.objects.exists()
    assert not DatasetRow.objects.exists() and not DatasetExport.objects.exists()
    assert not folder.exists()


def test_bulk_delete_of_snapshots_and_exports(snapshot, export, engineer, admin_user, client_for):
    other = services.dataset_snapshot_new_version(snapshot=snapshot, created_by=engineer)
    second = services.dataset_export_create(snapshot=other, created_by=engineer, format="jsonl")
    services.dataset_export_run(export=second, worker="t")
    c = client_for(admin_user)
    # An export alone: its files go, the snapshot stays.
    response = c.post(
        "/admin/pairs/datasetexport/",
        {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not export_dir(second).exists() and export_dir(export).is_dir()
    assert DatasetSnapshot.objects.count() == 2
    # Both snapshots at once.
    selected = {"action": "delete_selected", "_selected_action": [snapshot.pk, other.pk]}
    confirm = c.post("/admin/pairs/datasetsnapshot/", selected)
    assert confirm.status_code == 200 and "Dataset rows: 12" in confirm.content.decode()
    response = c.post("/admin/pairs/datasetsnapshot/", {**selected, "post": "yes"})
    assert response.status_code == 302
    assert not DatasetSnapshot.objects.exists() and not DatasetRow.objects.exists()
    assert not DatasetExport.objects.exists() and not export_dir(export).exists()


def test_only_the_admin_role_enters(snapshot, engineer, client_for):
    c = client_for(engineer)
    response = c.get("/admin/pairs/datasetsnapshot/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    c.post(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/delete/", {"post": "yes"})
    assert DatasetSnapshot.objects.filter(pk=snapshot.pk).exists()
