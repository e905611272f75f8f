"""Training run API: create (and every kind of refused input, named by field), list with its
filters, retrieve, cancel and resume (409 when the status does not allow it), metric series,
the log (tail and download), checkpoint zips (and 404 for a folder gone or outside the training
folder), admin-only delete, who may use it, the lease and process never in a response, and the
schema. Nothing trains: runs are made by the service (nothing is queued: ``on_commit`` never
fires under the ``db`` fixture) or written directly."""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest
from rest_framework.test import APIClient

from training import services
from training.api import FiniteFloatField, TrainingRunSerializer
from training.models import (
    RunCheckpoint,
    RunLogChunk,
    RunMetric,
    RunStatus,
    TrainingRun,
)
from training.services import run_dir

from ..factories import PASSWORD, dpo_snapshot, sft_snapshot

LEASE = "lease-token-9f8e7d"
PID = 48213
OFFSET = 7654321


def api_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def dpo(engineer, author, admin_user):
    return dpo_snapshot(engineer, author, admin_user, n=4)


@pytest.fixture
def sft(engineer):
    return sft_snapshot(engineer, n=4)


def body_for(dataset, **change):
    body = {
        "name": "dpo-1",
        "kind": dataset.kind,
        "snapshot": dataset.pk,
        "base_model": "/models/base",
        "method": "lora",
        "gpus": 0,
        "hyperparameters": {"beta": 0.2, "max_steps": 10},
    }
    body.update(change)
    return body


def make_run(engineer, snapshot, **fields) -> TrainingRun:
    """A run as the service makes it, then put where a test needs it."""
    run = services.training_run_create(
        name=fields.pop("name", "run"),
        kind=snapshot.kind,
        snapshot=snapshot,
        created_by=engineer,
        base_model="/models/base",
        gpus=0,
    )
    if fields:
        TrainingRun.objects.filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def test_create_list_and_retrieve(engineer, dpo, sft):
    c = api_for(engineer)
    response = c.post("/api/training-runs/", body_for(dpo), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    run = TrainingRun.objects.get()
    assert body["id"] == run.pk and body["name"] == "dpo-1"
    assert (body["kind"], body["method"], body["gpus"], body["status"]) == (
        "dpo",
        "lora",
        0,
        "queued",
    )
    assert body["snapshot"] == dpo.pk and body["snapshot_label"] == dpo.label
    assert body["snapshot_hash"] == dpo.content_hash and len(body["snapshot_hash"]) == 64
    assert body["base_model"] == "/models/base" == body["model"] and body["base_run"] is None
    hp = body["hyperparameters"]
    assert (hp["beta"], hp["max_steps"], hp["loss_type"]) == (0.2, 10, "sigmoid")  # defaults in
    assert (body["step"], body["max_steps"], body["progress"], body["eta_seconds"]) == (
        0,
        0,
        0,
        None,
    )
    assert body["created_by"] == "ed" and body["created_at"] and body["finished_at"] is None
    assert body["checkpoints"] == [] and body["summary"] == {} and body["error"] == ""
    assert c.get(f"/api/training-runs/{run.pk}/").json() == body

    # List, newest first, without checkpoints; filters.
    make_run(engineer, sft, name="sft-1", status=RunStatus.DONE)
    listed = c.get("/api/training-runs/").json()
    assert listed["count"] == 2
    assert [r["name"] for r in listed["results"]] == ["sft-1", "dpo-1"]
    assert "checkpoints" not in listed["results"][0]
    assert listed["results"][1]["snapshot_label"] == dpo.label
    for query, names in (
        ("kind=sft", ["sft-1"]),
        ("kind=dpo", ["dpo-1"]),
        ("status=done", ["sft-1"]),
        ("status=queued", ["dpo-1"]),
        ("status=failed", []),
        (f"snapshot={dpo.pk}", ["dpo-1"]),
        ("snapshot=999999", []),
        ("kind=rl", ["sft-1", "dpo-1"]),  # an unknown value does not filter
    ):
        page = c.get(f"/api/training-runs/?{query}").json()
        assert [r["name"] for r in page["results"]] == names, query
    paged = c.get("/api/training-runs/?page_size=1").json()
    assert len(paged["results"]) == 1 and paged["next"]
    assert c.get("/api/training-runs/999999/").status_code == 404


def test_a_run_from_a_finished_run(engineer, dpo, sft):
    base = make_run(engineer, sft, status=RunStatus.DONE, final_dir="/runs/run-1/output/final")
    response = api_for(engineer).post(
        "/api/training-runs/",
        body_for(dpo, base_model="", base_run=base.pk),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["base_run"] == base.pk and body["base_model"] == ""
    assert body["model"] == "/runs/run-1/output/final"


def test_there_is_no_update(engineer, dpo):
    run = make_run(engineer, dpo)
    c = api_for(engineer)
    assert c.patch(f"/api/training-runs/{run.pk}/", {"name": "x"}, format="json").status_code == 405
    assert c.put(f"/api/training-runs/{run.pk}/", body_for(dpo), format="json").status_code == 405
    run.refresh_from_db()
    assert run.name == "run"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"snapshot": "sft"}, "snapshot"),  # an SFT snapshot for a DPO run
        ({"snapshot": 999999}, "snapshot"),
        ({"snapshot": "x"}, "snapshot"),
        ({"hyperparameters": {"beta": 500}}, "beta"),
        ({"hyperparameters": {"beta": 0}}, "beta"),
        ({"hyperparameters": {"warmup": 0.1}}, "warmup"),  # not a setting
        ({"hyperparameters": {"loss_type": "hinge"}}, "loss_type"),
        ({"hyperparameters": ["beta"]}, "hyperparameters"),
        ({"base_model": ""}, "base_model"),
        ({"base_model": "  "}, "base_model"),
        ({"base_run": 999999}, "base_run"),
        ({"kind": "rl"}, "kind"),
        ({"method": "adapter"}, "method"),
        ({"method": "qlora", "gpus": 0}, "method"),
        ({"gpus": 65}, "gpus"),
        ({"gpus": -1}, "gpus"),
        ({"gpus": "two"}, "gpus"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(engineer, dpo, sft, change, field):
    if change.get("snapshot") == "sft":
        change = {**change, "snapshot": sft.pk}
    response = api_for(engineer).post("/api/training-runs/", body_for(dpo, **change), format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {field}, errors
    assert isinstance(errors[field], list) and all(isinstance(m, str) for m in errors[field])
    assert not TrainingRun.objects.exists()


def test_base_run_errors_name_the_field(engineer, dpo, sft):
    unfinished = make_run(engineer, sft)
    c = api_for(engineer)
    response = c.post(
        "/api/training-runs/", body_for(dpo, base_model="", base_run=unfinished.pk), format="json"
    )
    assert response.status_code == 400 and set(response.json()) == {"base_run"}
    response = c.post("/api/training-runs/", body_for(dpo, base_run=unfinished.pk), format="json")
    assert response.status_code == 400 and set(response.json()) == {"base_model"}
    response = c.post("/api/training-runs/", body_for(sft, kind="dpo"), format="json")
    assert response.status_code == 400
    assert "needs a DPO snapshot" in response.json()["snapshot"][0]
    assert TrainingRun.objects.count() == 1


def test_the_lease_and_process_never_reach_a_response(engineer, admin_user, dpo):
    run = make_run(
        engineer,
        dpo,
        status=RunStatus.RUNNING,
        lease_token=LEASE,
        pid=PID,
        events_offset=OFFSET,
        worker="gpu-1",
    )
    c = api_for(engineer)
    responses = [
        c.get("/api/training-runs/"),
        c.get(f"/api/training-runs/{run.pk}/"),
        c.get("/api/schema/?format=json"),
        c.post(f"/api/training-runs/{run.pk}/cancel/"),
    ]
    for response in responses:
        assert response.status_code == 200, response.content
        text = response.content.decode()
        assert LEASE not in text and str(PID) not in text and str(OFFSET) not in text
    detail = responses[1].json()
    assert detail["worker"] == "gpu-1" and detail["status"] == "running"
    for key in ("lease_token", "pid", "events_offset", "lease_expires_at"):
        assert key not in detail and key not in responses[0].json()["results"][0]


def test_metrics_after_a_step(engineer, dpo):
    run = make_run(engineer, dpo, status=RunStatus.RUNNING, step=3, max_steps=6)
    for step, values in (
        (1, {"loss": 0.7, "learning_rate": 1e-6, "time": 1.0}),
        (2, {"loss": 0.6, "rewards/accuracies": 0.5, "time": 2.0}),
        (3, {"loss": 0.5, "learning_rate": 2e-6, "time": 3.0}),
    ):
        RunMetric.objects.create(run=run, step=step, values=values)
    c = api_for(engineer)
    url = f"/api/training-runs/{run.pk}/metrics/"
    every = c.get(url)
    assert every.status_code == 200, every.content
    body = every.json()
    assert body["steps"] == [1, 2, 3]
    assert body["series"]["loss"] == [0.7, 0.6, 0.5]
    assert body["series"]["rewards/accuracies"] == [None, 0.5, None]
    assert body["series"]["learning_rate"] == [1e-6, None, 2e-6]
    assert "time" not in body["series"]
    later = c.get(url, {"after": 2}).json()
    assert later["steps"] == [3] and later["series"]["learning_rate"] == [2e-6]
    assert c.get(url, {"after": 3}).json() == {"steps": [], "series": {}}
    for bad in ("-1", "abc", "1.5"):
        response = c.get(url, {"after": bad})
        assert response.status_code == 400, bad
        assert set(response.json()) == {"after"}, bad
    detail = c.get(f"/api/training-runs/{run.pk}/").json()
    assert detail["progress"] == 0.5 and detail["step"] == 3


def test_a_number_json_cannot_hold_is_null():
    """A diverged loss is NaN or infinite: JSON has no such numbers, so they are given as null
    (PostgreSQL keeps NaN in a float column; SQLite stores it as NULL)."""
    field = FiniteFloatField(allow_null=True)
    assert [field.to_representation(v) for v in (float("nan"), float("inf"), None, 2, 0.5)] == [
        None,
        None,
        None,
        2.0,
        0.5,
    ]
    run = TrainingRun(name="x", kind="dpo", last_loss=float("nan"), epoch=float("-inf"))
    fields = TrainingRunSerializer().fields
    assert fields["last_loss"].to_representation(run.last_loss) is None
    assert fields["epoch"].to_representation(run.epoch) is None


def test_log_tail_and_download(engineer, dpo):
    run = make_run(engineer, dpo)
    services.run_log_append(run_id=run.pk, text="first line\n")
    services.run_log_append(run_id=run.pk, text="second <line>\n")
    services.run_log_append(run_id=run.pk, text="third line ünicode\n")
    whole = "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )
    c = api_for(engineer)
    url = f"/api/training-runs/{run.pk}/log/"
    assert c.get(url).json() == {"text": whole}
    assert c.get(url, {"tail": 8}).json() == {"text": whole[-8:]}
    assert c.get(url, {"tail": 10**9}).json() == {"text": whole}  # read as the maximum
    for bad in ("0", "-5", "many"):
        response = c.get(url, {"tail": bad})
        assert response.status_code == 400 and set(response.json()) == {"tail"}, bad

    download = c.get(f"/api/training-runs/{run.pk}/log-file/")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/plain")
    assert download["Content-Disposition"] == f'attachment; filename="run-{run.pk}.log"'
    assert b"".join(download.streaming_content).decode() == whole
    # A script asking for plain text gets it too.
    raw = c.get(f"/api/training-runs/{run.pk}/log-file/", HTTP_ACCEPT="text/plain")
    assert raw.status_code == 200 and b"".join(raw.streaming_content).decode() == whole

    empty = make_run(engineer, dpo, name="quiet")
    assert c.get(f"/api/training-runs/{empty.pk}/log/").json() == {"text": ""}
    assert b"".join(c.get(f"/api/training-runs/{empty.pk}/log-file/").streaming_content) == b""
    assert c.get("/api/training-runs/999999/log-file/").status_code == 404


def write_checkpoint(run, step: int, final: bool = False) -> RunCheckpoint:
    folder = run_dir(run) / "output" / ("final" if final else f"checkpoint-{step}")
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text(f'{{"step": {step}}}')
    (folder / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 8)
    return RunCheckpoint.objects.create(
        run=run, step=step, path=str(folder), final=final, size_bytes=2048
    )


def test_checkpoint_download(engineer, dpo, training_dir, tmp_path):
    run = make_run(engineer, dpo, status=RunStatus.DONE, step=4, max_steps=4)
    ckpt = write_checkpoint(run, 2)
    final = write_checkpoint(run, 4, final=True)
    c = api_for(engineer)
    detail = c.get(f"/api/training-runs/{run.pk}/").json()
    listed = detail["checkpoints"]
    assert [(k["id"], k["name"], k["step"], k["final"]) for k in listed] == [
        (ckpt.pk, "checkpoint-2", 2, False),
        (final.pk, "final", 4, True),
    ]
    assert all(k["available"] and k["size_bytes"] == 2048 and k["created_at"] for k in listed)
    url = f"http://testserver/api/training-runs/{run.pk}/checkpoints/{ckpt.pk}/download/"
    assert listed[0]["download_url"] == url

    response = c.get(listed[0]["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"] == f'attachment; filename="run-{run.pk}-checkpoint-2.zip"'
    )
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        prefix = f"run-{run.pk}-checkpoint-2"
        assert sorted(zf.namelist()) == [f"{prefix}/config.json", f"{prefix}/sub/weights.bin"]
        assert zf.read(f"{prefix}/config.json") == b'{"step": 2}'
        assert zf.read(f"{prefix}/sub/weights.bin") == bytes(range(256)) * 8
    raw = c.get(listed[1]["download_url"], HTTP_ACCEPT="application/zip")
    assert raw.status_code == 200
    assert f"run-{run.pk}-final.zip" in raw["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(raw.streaming_content))) as zf:
        assert f"run-{run.pk}-final/config.json" in zf.namelist()

    # Another run's checkpoint, one that does not exist: 404.
    other = make_run(engineer, dpo, name="other")
    assert (
        c.get(f"/api/training-runs/{other.pk}/checkpoints/{ckpt.pk}/download/").status_code == 404
    )
    assert c.get(f"/api/training-runs/{run.pk}/checkpoints/999999/download/").status_code == 404

    # The engine removed the folder: listed as gone, and a 404.
    shutil.rmtree(ckpt.path)
    assert c.get(url).status_code == 404
    gone = c.get(f"/api/training-runs/{run.pk}/").json()["checkpoints"][0]
    assert gone["available"] is False and gone["download_url"] is None

    # A path outside the training folder is never served, whatever the database says.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for download")
    RunCheckpoint.objects.filter(pk=final.pk).update(path=str(outside))
    escaped = run_dir(run) / ".." / ".." / "elsewhere"
    RunCheckpoint.objects.filter(pk=ckpt.pk).update(path=str(escaped))
    for pk in (final.pk, ckpt.pk):
        response = c.get(f"/api/training-runs/{run.pk}/checkpoints/{pk}/download/")
        assert response.status_code == 404, pk
    assert not any(
        k["available"] for k in c.get(f"/api/training-runs/{run.pk}/").json()["checkpoints"]
    )


def test_cancel_and_resume(engineer, admin_user, dpo):
    run = make_run(engineer, dpo)
    c = api_for(engineer)
    cancel, resume = (f"/api/training-runs/{run.pk}/{a}/" for a in ("cancel", "resume"))

    response = c.post(resume)
    assert response.status_code == 409, response.content
    assert "queued" in response.json()["detail"].lower()
    response = c.post(cancel)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    response = c.post(cancel)
    assert response.status_code == 409 and set(response.json()) == {"detail"}
    response = api_for(admin_user).post(resume)
    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert "resume asked by ada" in c.get(f"/api/training-runs/{run.pk}/log/").json()["text"]

    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    response = c.post(cancel)
    assert response.status_code == 200 and response.json()["status"] == "cancelling"
    assert c.post(cancel).status_code == 409  # already asked
    assert c.post(resume).status_code == 409

    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.DONE)
    assert c.post(cancel).status_code == 409 and c.post(resume).status_code == 409
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="OOM")
    response = c.post(resume)
    assert response.status_code == 200
    assert response.json()["status"] == "queued" and response.json()["error"] == ""
    assert c.post("/api/training-runs/999999/cancel/").status_code == 404


def test_only_admins_delete(engineer, admin_user, dpo, sft, training_dir):
    run = make_run(engineer, dpo, status=RunStatus.DONE)
    RunMetric.objects.create(run=run, step=1, values={"loss": 1.0})
    services.run_log_append(run_id=run.pk, text="done\n")
    write_checkpoint(run, 1)
    folder = run_dir(run)
    assert folder.is_dir()
    url = f"/api/training-runs/{run.pk}/"

    assert api_for(engineer).delete(url).status_code == 403
    assert TrainingRun.objects.filter(pk=run.pk).exists()

    active = make_run(engineer, dpo, name="active")
    response = api_for(admin_user).delete(f"/api/training-runs/{active.pk}/")
    assert response.status_code == 400 and set(response.json()) == {"status"}
    base = make_run(engineer, sft, name="base", status=RunStatus.DONE, final_dir="/x/final")
    make_run(engineer, dpo, name="child", base_run=base)
    response = api_for(admin_user).delete(f"/api/training-runs/{base.pk}/")
    assert response.status_code == 400 and set(response.json()) == {"base_run"}
    assert TrainingRun.objects.count() == 4

    assert api_for(admin_user).delete(url).status_code == 204
    assert not TrainingRun.objects.filter(pk=run.pk).exists()
    assert not RunMetric.objects.exists() and not RunLogChunk.objects.filter(run_id=run.pk).exists()
    assert not RunCheckpoint.objects.exists()
    assert not folder.exists()
    assert api_for(admin_user).delete(url).status_code == 404


def test_others_get_403_everywhere(engineer, author, reviewer, norole, dpo, training_dir):
    run = make_run(engineer, dpo, status=RunStatus.DONE)
    ckpt = write_checkpoint(run, 1)
    pk = run.pk
    calls = [
        ("get", "/api/training-runs/", None),
        ("post", "/api/training-runs/", body_for(dpo)),
        ("get", f"/api/training-runs/{pk}/", None),
        ("delete", f"/api/training-runs/{pk}/", None),
        ("post", f"/api/training-runs/{pk}/cancel/", None),
        ("post", f"/api/training-runs/{pk}/resume/", None),
        ("get", f"/api/training-runs/{pk}/metrics/", None),
        ("get", f"/api/training-runs/{pk}/log/", None),
        ("get", f"/api/training-runs/{pk}/log-file/", None),
        ("get", f"/api/training-runs/{pk}/checkpoints/{ckpt.pk}/download/", None),
    ]
    for user in (author, reviewer, norole):
        c = api_for(user)
        for method, url, body in calls:
            response = getattr(c, method)(url, body, format="json")
            assert response.status_code == 403, (user.username, method, url)
    anonymous = APIClient()
    for method, url, body in calls:
        assert getattr(anonymous, method)(url, body, format="json").status_code in (401, 403)
    run.refresh_from_db()
    assert TrainingRun.objects.count() == 1 and run.status == RunStatus.DONE


def test_admins_use_it_and_token_auth(engineer, admin_user, dpo):
    api = APIClient(enforce_csrf_checks=True)
    token = api.post("/api/auth/token/", {"username": "ed", "password": PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    created = api.post("/api/training-runs/", body_for(dpo), format="json")
    assert created.status_code == 201, created.content
    assert api.post(f"/api/training-runs/{created.json()['id']}/cancel/").status_code == 200
    admin = api_for(admin_user)
    assert admin.get("/api/training-runs/").json()["count"] == 1
    response = admin.post("/api/training-runs/", body_for(dpo, name="by-admin"), format="json")
    assert response.status_code == 201 and response.json()["created_by"] == "ada"


def test_schema_documents_the_training_endpoints(engineer):
    response = api_for(engineer).get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/training-runs/",
        "/api/training-runs/{id}/",
        "/api/training-runs/{id}/cancel/",
        "/api/training-runs/{id}/resume/",
        "/api/training-runs/{id}/metrics/",
        "/api/training-runs/{id}/log/",
        "/api/training-runs/{id}/log-file/",
        "/api/training-runs/{id}/checkpoints/{checkpoint_id}/download/",
    ):
        assert path in paths, path
    download = paths["/api/training-runs/{id}/checkpoints/{checkpoint_id}/download/"]["get"]
    assert "application/zip" in download["responses"]["200"]["content"]
    assert "409" in paths["/api/training-runs/{id}/cancel/"]["post"]["responses"]
    components = schema["components"]["schemas"]
    for name in ("TrainingRunKindEnum", "TrainingRunMethodEnum", "TrainingRunStatusEnum"):
        assert name in components
    run_fields = set(components["TrainingRunDetail"]["properties"])
    assert {"checkpoints", "eta_seconds", "model", "snapshot_hash"} <= run_fields
    assert not {"lease_token", "pid", "events_offset"} & run_fields
