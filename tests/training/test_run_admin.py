"""Django admin for training runs: the pages load, everything is read-only, the cancel and
resume actions go through the services, and deleting goes through ``training_run_delete`` (the
run's folder goes too; a refused delete is a message, not an error page). Metrics and log
chunks have no pages of their own."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry

from training import services
from training.models import RunCheckpoint, RunLogChunk, RunMetric, RunStatus, TrainingRun
from training.services import run_dir

from ..factories import dpo_snapshot

CHANGELIST = "/admin/training/trainingrun/"


@pytest.fixture
def snapshot(engineer, author, admin_user):
    return dpo_snapshot(engineer, author, admin_user, n=4)


def make_run(engineer, snapshot, name="run", **fields) -> TrainingRun:
    run = services.training_run_create(
        name=name,
        kind="dpo",
        snapshot=snapshot,
        created_by=engineer,
        base_model="/models/base",
        gpus=0,
    )
    if fields:
        TrainingRun.objects.filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def with_files(run) -> RunCheckpoint:
    """Metrics, a log and a checkpoint folder, as a finished run has them."""
    for step in (1, 2, 3):
        RunMetric.objects.create(run=run, step=step, values={"loss": 1.0 / step})
    services.run_log_append(run_id=run.pk, text="step 3 <loss> 0.33\n")
    folder = run_dir(run) / "output" / "checkpoint-3"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return RunCheckpoint.objects.create(run=run, step=3, path=str(folder), size_bytes=2)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_list_and_detail_pages_load(engineer, admin_user, snapshot, client_for, training_dir):
    run = make_run(
        engineer,
        snapshot,
        name="writer-dpo",
        status=RunStatus.DONE,
        step=3,
        max_steps=3,
        method="lora",
        lease_token="lease-secret-1",
    )
    ckpt = with_files(run)
    queued = make_run(engineer, snapshot, name="later")
    c = client_for(admin_user)
    page = c.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "writer-dpo" in html and "3/3" in html and snapshot.label in html
    for action in ("Cancel selected", "Resume selected", "Delete selected training runs"):
        assert action in html, action
    for query, expected in (
        ("status__exact=done", [run]),
        ("status__exact=queued", [queued]),
        ("kind__exact=dpo", [queued, run]),
        ("method__exact=lora", [run]),
        ("q=writer", [run]),
    ):
        cl = c.get(f"{CHANGELIST}?{query}").context["cl"]
        assert list(cl.result_list) == expected, query

    detail = c.get(f"{CHANGELIST}{run.pk}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "step 3 &lt;loss&gt; 0.33" in html and "<loss>" not in html  # the log, escaped
    assert "&quot;beta&quot;: 0.1" in html  # hyperparameters
    assert ckpt.path in html  # the checkpoints inline
    assert f"/admin/training/runcheckpoint/{ckpt.pk}/change/" in html
    assert "lease-secret-1" not in html
    assert 'name="_save"' not in html

    page = c.get("/admin/training/runcheckpoint/")
    assert page.status_code == 200 and "checkpoint-3" in page.content.decode()
    assert c.get(f"/admin/training/runcheckpoint/{ckpt.pk}/change/").status_code == 200
    # Metrics and log chunks are not listed on their own.
    assert c.get("/admin/training/runmetric/").status_code == 404
    assert c.get("/admin/training/runlogchunk/").status_code == 404


def test_runs_and_checkpoints_cannot_be_added_or_changed(
    engineer, admin_user, snapshot, client_for, training_dir
):
    run = make_run(engineer, snapshot, status=RunStatus.DONE)
    ckpt = with_files(run)
    c = client_for(admin_user)
    assert c.get(f"{CHANGELIST}add/").status_code == 403
    assert c.get("/admin/training/runcheckpoint/add/").status_code == 403
    response = c.post(f"{CHANGELIST}{run.pk}/change/", {"name": "renamed", "status": "queued"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert (run.name, run.status) == ("run", RunStatus.DONE)
    response = c.post(f"/admin/training/runcheckpoint/{ckpt.pk}/change/", {"step": 9})
    assert response.status_code == 403
    response = c.post(f"/admin/training/runcheckpoint/{ckpt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    ckpt.refresh_from_db()
    assert ckpt.step == 3


def test_cancel_and_resume_actions(engineer, admin_user, snapshot, client_for):
    queued = make_run(engineer, snapshot, name="q")
    running = make_run(engineer, snapshot, name="r", status=RunStatus.RUNNING)
    done = make_run(engineer, snapshot, name="d", status=RunStatus.DONE)
    c = client_for(admin_user)
    response = c.post(
        CHANGELIST,
        {"action": "cancel_selected", "_selected_action": [queued.pk, running.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 runs cancelled." in messages_of(response)
    statuses = dict(TrainingRun.objects.values_list("name", "status"))
    assert statuses == {"q": "cancelled", "r": "cancelling", "d": "done"}

    failed = make_run(engineer, snapshot, name="f", status=RunStatus.FAILED, error="OOM")
    response = c.post(
        CHANGELIST,
        {"action": "resume_selected", "_selected_action": [queued.pk, failed.pk, done.pk]},
        follow=True,
    )
    assert "2 runs queued again." in messages_of(response)
    statuses = dict(TrainingRun.objects.values_list("name", "status"))
    assert statuses == {"q": "queued", "r": "cancelling", "f": "queued", "d": "done"}
    assert TrainingRun.objects.get(name="f").error == ""
    log = "".join(RunLogChunk.objects.filter(run=failed).values_list("text", flat=True))
    assert "resume asked by ada" in log

    response = c.post(
        CHANGELIST, {"action": "resume_selected", "_selected_action": [done.pk]}, follow=True
    )
    assert "0 runs queued again." in messages_of(response)


def test_delete_removes_the_run_and_its_folder(
    engineer, admin_user, snapshot, client_for, training_dir
):
    run = make_run(engineer, snapshot, status=RunStatus.DONE)
    with_files(run)
    folder = run_dir(run)
    assert folder.is_dir()
    c = client_for(admin_user)
    confirm = c.get(f"{CHANGELIST}{run.pk}/delete/")
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Run metrics: 3" in html and "Checkpoints: 1" in html  # counted, not listed
    response = c.post(f"{CHANGELIST}{run.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not TrainingRun.objects.exists()
    assert not RunMetric.objects.exists() and not RunLogChunk.objects.exists()
    assert not RunCheckpoint.objects.exists()
    assert not folder.exists()
    assert any("deleted successfully" in m for m in messages_of(response))
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(run.pk)).exists()


def test_a_refused_delete_is_a_message(engineer, admin_user, snapshot, client_for, training_dir):
    active = make_run(engineer, snapshot, name="active", status=RunStatus.RUNNING)
    with_files(active)
    c = client_for(admin_user)
    response = c.post(f"{CHANGELIST}{active.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{active.pk}/change/"
    page = c.get(response["Location"])
    assert "Cancel the run before deleting it." in messages_of(page)
    assert not any("deleted successfully" in m for m in messages_of(page))
    assert TrainingRun.objects.filter(pk=active.pk).exists() and run_dir(active).is_dir()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()

    # Several at once: those the service refuses stay, and the message says why.
    base = make_run(engineer, snapshot, name="base", status=RunStatus.DONE, final_dir="/x/final")
    make_run(engineer, snapshot, name="child", base_run=base, status=RunStatus.DONE)
    old = make_run(engineer, snapshot, name="old", status=RunStatus.CANCELLED)
    with_files(old)
    selected = {"action": "delete_selected", "_selected_action": [active.pk, base.pk, old.pk]}
    confirm = c.post(CHANGELIST, selected)
    assert confirm.status_code == 200
    assert "Run metrics: 6" in confirm.content.decode()
    response = c.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)
    assert response.status_code == 200
    shown = messages_of(response)
    assert "1 run deleted." in shown
    assert f"{active}: Cancel the run before deleting it." in shown
    assert f"{base}: Other runs start from this run's model." in shown
    assert not any("Successfully deleted" in m for m in shown)
    assert set(TrainingRun.objects.values_list("name", flat=True)) == {"active", "base", "child"}
    assert not run_dir(old).exists() and run_dir(active).is_dir()
    deletions = LogEntry.objects.filter(action_flag=DELETION)
    assert list(deletions.values_list("object_id", flat=True)) == [str(old.pk)]


def test_only_the_admin_role_enters(engineer, snapshot, client_for):
    run = make_run(engineer, snapshot, status=RunStatus.DONE)
    queued = make_run(engineer, snapshot, name="queued")
    c = client_for(engineer)
    response = c.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    c.post(f"{CHANGELIST}{run.pk}/delete/", {"post": "yes"})
    c.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [queued.pk]})
    assert TrainingRun.objects.filter(pk=run.pk).exists()
    queued.refresh_from_db()
    assert queued.status == RunStatus.QUEUED


def test_a_snapshot_that_runs_trained_on_is_not_deleted(
    client_for, admin_user, engineer, author, training_dir
):
    from django.core.exceptions import ValidationError

    from pairs.datasets.services import dataset_snapshot_delete
    from pairs.models import DatasetSnapshot

    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    run = services.training_run_create(
        name="uses it", kind="dpo", snapshot=snapshot, base_model="/m", created_by=engineer
    )
    with pytest.raises(ValidationError):
        dataset_snapshot_delete(snapshot=snapshot)
    admin = client_for(admin_user)
    page = admin.get(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/delete/")
    assert page.status_code == 200 and str(run) in page.content.decode()
    admin.post(f"/admin/pairs/datasetsnapshot/{snapshot.pk}/delete/", {"post": "yes"})
    assert DatasetSnapshot.objects.filter(pk=snapshot.pk).exists()
    api = client_for(admin_user).delete(f"/api/datasets/{snapshot.pk}/")
    assert api.status_code == 400 and "snapshot" in api.json()
