"""Training pages: who may see them, the runs list and its filters, the new-run form (the
services' errors on the fields, nothing created when invalid), a run's page (progress, ETA,
config, log, checkpoints, the live partial that stops polling once the run has finished),
the metrics JSON, the log and checkpoint downloads, cancel and resume, comparing two runs, and
escaping. Runs are made directly in the database: no engine runs here."""

import html
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pairs.models import DatasetSnapshot, SnapshotStatus
from training.models import (
    RunCheckpoint,
    RunLogChunk,
    RunMetric,
    RunStatus,
    TrainingRun,
)
from training.services import run_defaults, run_dir
from training.views import eta_words

pytestmark = pytest.mark.django_db

LIST = reverse("training:list")
NEW = reverse("training:new")
COMPARE = reverse("training:compare")
XSS = "<script>alert(1)</script>"


def url(name, *args):
    return reverse(f"training:{name}", args=args)


def text_of(content: bytes, element_id: str) -> str:
    """The text inside the element with ``id`` (tags removed, entities decoded)."""
    match = re.search(
        rf'id="{element_id}"[^>]*>(.*?)</(?:p|span|pre|td|div|th)>', content.decode(), re.S
    )
    assert match, f"no element #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def snapshot(kind="dpo", name=None, status=SnapshotStatus.READY, train=20):
    name = name or f"{kind}-set"
    version = DatasetSnapshot.objects.filter(name=name).count() + 1
    return DatasetSnapshot.objects.create(
        name=name,
        version=version,
        kind=kind,
        status=status,
        row_count=train,
        train_count=train,
        content_hash="ab" * 32,
    )


def make_run(user, *, snap=None, name="dpo run", kind="dpo", status=RunStatus.RUNNING, **fields):
    snap = snap or snapshot(kind)
    values = {
        "base_model": "/models/tiny",
        "hyperparameters": run_defaults(kind),
        "step": 0,
        "max_steps": 0,
        **fields,
    }
    return TrainingRun.objects.create(
        name=name, kind=kind, snapshot=snap, status=status, created_by=user, **values
    )


def add_metrics(run, steps, *, start=None, dpo=True, seconds_per_step=20):
    start = start or timezone.now() - timedelta(minutes=10)
    for step in steps:
        values = {"loss": 0.7 - step * 0.01, "learning_rate": 1e-4 * step, "epoch": step / 10}
        if dpo:
            values |= {"rewards/accuracies": 0.5 + step / 100, "rewards/margins": step / 10}
        RunMetric.objects.create(
            run=run,
            step=step,
            values=values,
            recorded_at=start + timedelta(seconds=step * seconds_per_step),
        )


def form_data(snap, **overrides) -> dict:
    data = {
        "name": "dpo from the form",
        "kind": "dpo",
        "snapshot": snap.pk,
        "layout": "conversational",
        "base_model": "/models/tiny",
        "base_run": "",
        "method": "full",
        "gpus": "0",
    }
    for name, value in run_defaults("dpo").items():
        if name == "gradient_checkpointing":
            if value:
                data[name] = "on"
            continue
        data.setdefault(name, str(value))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def run(engineer):
    run = make_run(
        engineer,
        step=30,
        max_steps=120,
        epoch=0.3,
        last_loss=0.4,
        attempts=1,
        worker="gpu1@host",
        segment_started_at=timezone.now() - timedelta(minutes=10),
    )
    add_metrics(run, range(1, 31), start=run.segment_started_at)
    RunLogChunk.objects.create(run=run, seq=1, text="worker gpu1 took the run\n")
    RunLogChunk.objects.create(run=run, seq=2, text="step 30 loss 0.4 <b>bold</b>\n")
    return run


# --- Who may see what -----------------------------------------------------------------------


def test_only_engineers_and_admins_see_the_training_pages(
    client, client_for, engineer, admin_user, author, reviewer, run, training_dir
):
    folder = training_dir / f"run-{run.pk}" / "output" / "checkpoint-10"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w")
    ckpt = RunCheckpoint.objects.create(run=run, step=10, path=str(folder), size_bytes=1)
    pages = [
        LIST,
        NEW,
        url("detail", run.pk),
        url("live", run.pk),
        url("metrics", run.pk),
        url("log", run.pk),
        url("checkpoint-download", run.pk, ckpt.pk),
        f"{COMPARE}?a={run.pk}&b={run.pk}",
    ]
    posts = [NEW, url("cancel", run.pk), url("resume", run.pk)]
    for user in (author, reviewer):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 403, (user, page)
        for page in posts:
            assert c.post(page, form_data(run.snapshot)).status_code == 403, (user, page)
        assert 'id="nav-training"' not in c.get("/").content.decode()
    for page in pages + posts:
        response = client.get(page) if page not in posts else client.post(page, {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], page
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert TrainingRun.objects.count() == 1
    for user in (engineer, admin_user):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 200, (user, page)
    missing = [url("detail", 999), url("live", 999), url("metrics", 999), url("log", 999)]
    c = client_for(engineer)
    for page in missing + [url("checkpoint-download", run.pk, 999)]:
        assert c.get(page).status_code == 404, page
    assert c.post(url("cancel", 999)).status_code == 404


# --- The list -------------------------------------------------------------------------------


def test_the_list_shows_runs_and_filters_them(client_for, engineer, run):
    done = make_run(
        engineer,
        name="sft done",
        kind="sft",
        status=RunStatus.DONE,
        step=50,
        max_steps=50,
        final_dir="/runs/final",
    )
    derived = make_run(
        engineer, name="dpo on sft", status=RunStatus.QUEUED, base_model="", base_run=done
    )
    c = client_for(engineer)
    page = c.get(LIST)
    body = page.content.decode()
    assert page.status_code == 200
    for r in (run, done, derived):
        assert f'id="run-{r.pk}"' in body
        assert url("detail", r.pk) in body
    assert reverse("datasets:detail", args=[run.snapshot_id]) in body
    assert run.snapshot.label in body
    assert "/models/tiny" in body  # the base model
    assert f"#{done.pk} sft done" in body  # the base run of the derived one
    assert "30 / 120" in body and 'value="30"' in body  # progress
    assert "0.4000" in body  # last loss
    assert 'id="new-run"' in body and NEW in body
    assert 'id="compare-form"' in body and 'name="a"' in body and 'name="b"' in body

    filtered = c.get(LIST, {"status": "done"}).content.decode()
    assert f'id="run-{done.pk}"' in filtered
    assert f'id="run-{run.pk}"' not in filtered and f'id="run-{derived.pk}"' not in filtered
    by_kind = c.get(LIST, {"kind": "dpo"}).content.decode()
    assert f'id="run-{run.pk}"' in by_kind and f'id="run-{derived.pk}"' in by_kind
    assert f'id="run-{done.pk}"' not in by_kind
    none = c.get(LIST, {"status": "failed", "kind": "sft"}).content.decode()
    assert 'id="no-runs"' in none
    # Unknown values are ignored, not errors.
    assert f'id="run-{done.pk}"' in c.get(LIST, {"status": "bogus"}).content.decode()


# --- A new run ------------------------------------------------------------------------------


def test_the_form_starts_from_the_dpo_defaults(client_for, engineer):
    ready = snapshot("dpo")
    building = snapshot("dpo", name="later", status=SnapshotStatus.BUILDING)
    c = client_for(engineer)
    page = c.get(NEW)
    body = page.content.decode()
    assert page.status_code == 200
    for legend in ("Basics", "Model", "Optimisation", "DPO", "LoRA", "Checkpoints"):
        assert f"<legend>{legend}</legend>" in body
    assert f'<option value="{ready.pk}"' in body
    assert f'<option value="{building.pk}"' not in body  # only ready snapshots
    form = page.context["form"]
    assert form["beta"].value() == 0.1
    assert form["learning_rate"].value() == 5e-7
    assert form["lr_scheduler"].value() == "linear"
    assert form["warmup_ratio"].value() == 0.05
    assert form["epochs"].value() == 3.0
    assert form["loss_type"].value() == "sigmoid"
    assert form["gpus"].value() == 1
    assert form["layout"].value() == "conversational"
    assert '<select name="loss_type"' in body and '<select name="precision"' in body
    assert 'type="checkbox" name="gradient_checkpointing"' in body
    assert 'id="run-learning-rates"' in body  # each kind's default for the script


def test_a_valid_post_queues_a_run(client_for, engineer):
    snap = snapshot("dpo")
    c = client_for(engineer)
    response = c.post(
        NEW,
        form_data(
            snap,
            max_steps="3000",
            save_steps="20",
            per_device_batch_size="2",
            learning_rate="1e-4",
            gradient_checkpointing="on",
        ),
    )
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("detail", run.pk)
    assert run.status == RunStatus.QUEUED
    assert (run.kind, run.snapshot, run.base_model, run.gpus) == ("dpo", snap, "/models/tiny", 0)
    assert run.created_by == engineer
    h = run.hyperparameters
    assert h["max_steps"] == 3000 and h["save_steps"] == 20 and h["per_device_batch_size"] == 2
    assert h["learning_rate"] == 1e-4 and h["beta"] == 0.1 and h["gradient_checkpointing"] is True
    assert h["layout"] == "conversational"
    page = c.get(response["Location"])
    assert "queued" in html.unescape(page.content.decode())


def test_a_blank_learning_rate_takes_the_kinds_default(client_for, engineer):
    snap = snapshot("sft")
    c = client_for(engineer)
    response = c.post(NEW, form_data(snap, kind="sft", name="sft run", learning_rate=""))
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.kind == "sft" and run.hyperparameters["learning_rate"] == 2e-5


def test_service_errors_show_at_their_fields_and_nothing_is_created(client_for, engineer):
    dpo = snapshot("dpo")
    sft = snapshot("sft")
    c = client_for(engineer)

    wrong_kind = c.post(NEW, form_data(sft))  # a DPO run on an SFT snapshot
    assert wrong_kind.status_code == 400
    form = wrong_kind.context["form"]
    assert "needs a DPO snapshot" in " ".join(form.errors["snapshot"])
    assert 'id="id_snapshot_error"' in wrong_kind.content.decode()

    bad_beta = c.post(NEW, form_data(dpo, beta="1000"))
    assert bad_beta.status_code == 400
    assert "from 0.0001 to 100" in " ".join(bad_beta.context["form"].errors["beta"])
    body = bad_beta.content.decode()
    assert body.count('id="id_beta_error"') == 1 and 'aria-invalid="true"' in body
    assert 'value="1000"' in body  # what was typed is kept

    both = c.post(NEW, form_data(dpo, base_model=""))
    assert "Name a base model" in " ".join(both.context["form"].errors["base_model"])
    typed = c.post(NEW, form_data(dpo, max_steps="many"))
    assert typed.status_code == 400 and "max_steps" in typed.context["form"].errors
    gpus = c.post(NEW, form_data(dpo, method="qlora", gpus="0"))
    assert "QLoRA needs a GPU" in " ".join(gpus.context["form"].errors["method"])
    assert TrainingRun.objects.count() == 0


def test_base_run_preselects_a_dpo_run_from_a_finished_model(client_for, engineer):
    sft = make_run(
        engineer,
        name="sft base",
        kind="sft",
        status=RunStatus.DONE,
        final_dir="/runs/sft/final",
    )
    unfinished = make_run(engineer, name="still going", kind="sft")
    c = client_for(engineer)
    form = c.get(NEW, {"base_run": sft.pk}).context["form"]
    assert form["base_run"].value() == sft.pk and form["kind"].value() == "dpo"
    choices = [str(v) for v, _label in form.fields["base_run"].choices]
    assert str(sft.pk) in choices and str(unfinished.pk) not in choices
    page = c.get(NEW, {"base_run": unfinished.pk})
    assert page.context["form"]["base_run"].value() is None
    assert "has not finished" in html.unescape(page.content.decode())

    dpo = snapshot("dpo")
    response = c.post(NEW, form_data(dpo, base_model="", base_run=str(sft.pk), name="dpo on sft"))
    assert response.status_code == 302
    derived = TrainingRun.objects.get(name="dpo on sft")
    assert derived.base_run == sft and derived.base_model == ""


# --- A run ----------------------------------------------------------------------------------


def test_the_run_page_shows_progress_eta_config_log_and_charts(client_for, engineer, run):
    c = client_for(engineer)
    page = c.get(url("detail", run.pk))
    body = page.content.decode()
    assert page.status_code == 200
    assert text_of(page.content, "run-status") == "Running"
    assert "step 30 of 120" in text_of(page.content, "run-progress-text")
    # 30 steps in 10 min (20 s each): 90 more take about 30 min.
    assert text_of(page.content, "run-eta") == "about 30 min left"
    assert 'hx-trigger="every 2s"' in body and url("live", run.pk) in body
    assert 'id="cancel-run"' in body and "hx-confirm" in body
    assert 'id="resume-run"' not in body and 'id="derive-run"' not in body
    # The charts: their data, the script that draws them, and where it polls.
    data = json.loads(re.search(r'id="run-charts-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert [c["metric"] for c in data["charts"]] == [
        "loss",
        "rewards/accuracies",
        "rewards/margins",
        "learning_rate",
    ]
    (chart_run,) = data["runs"]
    assert chart_run["url"] == url("metrics", run.pk) and chart_run["active"] is True
    assert chart_run["data"]["steps"] == list(range(1, 31))
    assert len(chart_run["data"]["series"]["loss"]) == 30
    assert "training/runs.js" in body and "training/runs.css" in body
    assert "cdn" not in body.lower()
    # Config.
    assert text_of(page.content, "config-beta") == "0.1"
    assert text_of(page.content, "config-learning_rate") == "5e-07"
    assert text_of(page.content, "config-worker") == "gpu1@host"
    assert text_of(page.content, "config-attempts") == "1"
    assert run.snapshot.content_hash in body
    # The log tail, escaped.
    assert "step 30 loss 0.4 &lt;b&gt;bold&lt;/b&gt;" in body
    assert url("log", run.pk) in body


def test_sft_runs_skip_the_dpo_charts(client_for, engineer):
    sft = make_run(engineer, name="sft", kind="sft", step=3, max_steps=10)
    add_metrics(sft, [1, 2, 3], dpo=False)
    body = client_for(engineer).get(url("detail", sft.pk)).content.decode()
    data = json.loads(re.search(r'id="run-charts-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert [c["metric"] for c in data["charts"]] == ["loss", "learning_rate"]


def test_the_live_partial_stops_polling_once_the_run_has_finished(client_for, engineer, run):
    c = client_for(engineer)
    live = c.get(url("live", run.pk), headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in live
    assert 'id="run-details"' in live and 'hx-swap-oob="true"' in live
    assert "<html" not in live
    run.status = RunStatus.FAILED
    run.error = "The engine exited with code 1.\n\nTraceback <oops>"
    run.finished_at = timezone.now()
    run.save()
    live = c.get(url("live", run.pk), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in live and 'hx-get="' not in live
    assert 'id="run-error"' in live and "Traceback &lt;oops&gt;" in live
    assert 'id="resume-run"' in live and 'id="cancel-run"' not in live
    page = c.get(url("detail", run.pk)).content.decode()
    assert "hx-trigger" not in page
    assert '"active": false' in page


def test_a_done_run_offers_a_dpo_run_from_its_model(client_for, engineer):
    done = make_run(
        engineer,
        name="sft",
        kind="sft",
        status=RunStatus.DONE,
        step=5,
        max_steps=5,
        final_dir="/runs/x/final",
    )
    body = client_for(engineer).get(url("detail", done.pk)).content.decode()
    assert f"{NEW}?base_run={done.pk}" in body and 'id="derive-run"' in body
    assert 'id="cancel-run"' not in body and 'id="resume-run"' not in body
    assert "/runs/x/final" in body


def test_metrics_json_returns_the_steps_after(client_for, engineer, run):
    c = client_for(engineer)
    data = c.get(url("metrics", run.pk)).json()
    assert data["steps"] == list(range(1, 31))
    assert set(data["series"]) >= {"loss", "learning_rate", "rewards/accuracies", "epoch"}
    assert (data["status"], data["step"], data["max_steps"], data["active"]) == (
        "running",
        30,
        120,
        True,
    )
    later = c.get(url("metrics", run.pk), {"after": 28}).json()
    assert later["steps"] == [29, 30]
    assert later["series"]["loss"] == pytest.approx([0.7 - 0.29, 0.7 - 0.30])
    assert c.get(url("metrics", run.pk), {"after": 30}).json()["steps"] == []
    assert c.get(url("metrics", run.pk), {"after": "x"}).json()["steps"][0] == 1
    run.status = RunStatus.DONE
    run.save()
    assert c.get(url("metrics", run.pk)).json()["active"] is False


def test_the_whole_log_downloads_as_text(client_for, engineer, run):
    RunLogChunk.objects.create(run=run, seq=3, text="last line\n")
    response = client_for(engineer).get(url("log", run.pk))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}.log"'
    text = b"".join(response.streaming_content).decode()
    assert text == "worker gpu1 took the run\nstep 30 loss 0.4 <b>bold</b>\nlast line\n"


def test_a_checkpoint_downloads_as_a_zip(client_for, engineer, run, training_dir):
    folder = run_dir(run) / "output" / "checkpoint-20"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\x00weights" * 100)
    (folder / "sub" / "trainer_state.json").write_text('{"global_step": 20}')
    ckpt = RunCheckpoint.objects.create(run=run, step=20, path=str(folder), size_bytes=812)
    gone = RunCheckpoint.objects.create(
        run=run, step=10, path=str(run_dir(run) / "output" / "checkpoint-10")
    )
    c = client_for(engineer)
    page = c.get(url("detail", run.pk)).content.decode()
    assert url("checkpoint-download", run.pk, ckpt.pk) in page
    assert url("checkpoint-download", run.pk, gone.pk) not in page
    assert "checkpoint-removed" in page  # the one no longer on disk
    response = c.get(url("checkpoint-download", run.pk, ckpt.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    name = f"run-{run.pk}-checkpoint-20"
    assert response["Content-Disposition"] == f'attachment; filename="{name}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == [
        f"{name}/model.safetensors",
        f"{name}/sub/trainer_state.json",
    ]
    assert archive.read(f"{name}/model.safetensors") == b"\x00weights" * 100
    assert c.get(url("checkpoint-download", run.pk, gone.pk)).status_code == 404


def test_a_checkpoint_outside_the_training_folder_is_not_served(
    client_for, engineer, run, training_dir, tmp_path
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("no")
    training_dir.mkdir(parents=True, exist_ok=True)
    sneaky = RunCheckpoint.objects.create(
        run=run, step=5, path=str(training_dir / ".." / "elsewhere")
    )
    plain = RunCheckpoint.objects.create(run=run, step=6, path=str(outside))
    other = make_run(engineer, name="other")
    c = client_for(engineer)
    assert c.get(url("checkpoint-download", run.pk, sneaky.pk)).status_code == 404
    assert c.get(url("checkpoint-download", run.pk, plain.pk)).status_code == 404
    # A checkpoint is only found under its own run.
    folder = run_dir(run) / "output" / "checkpoint-7"
    folder.mkdir(parents=True)
    mine = RunCheckpoint.objects.create(run=run, step=7, path=str(folder))
    assert c.get(url("checkpoint-download", other.pk, mine.pk)).status_code == 404
    assert c.get(url("checkpoint-download", run.pk, mine.pk)).status_code == 200


# --- Cancel and resume ----------------------------------------------------------------------


def test_cancel_and_resume(client_for, engineer, run):
    c = client_for(engineer)
    response = c.post(url("cancel", run.pk))
    assert response.status_code == 302 and response["Location"] == url("detail", run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLING
    page = c.get(response["Location"]).content.decode()
    assert "Cancel asked" in page and 'id="run-stopping"' in page
    assert 'id="cancel-run"' not in page and 'hx-trigger="every 2s"' in page
    assert "cancel asked by ed" in "".join(
        RunLogChunk.objects.filter(run=run).values_list("text", flat=True)
    )
    # Asked twice: refused, with a message.
    again = c.post(url("cancel", run.pk), follow=True)
    assert "nothing to cancel" in html.unescape(again.content.decode())
    refused = c.post(url("resume", run.pk), follow=True)
    assert "only a failed or cancelled run" in html.unescape(refused.content.decode())

    run.status = RunStatus.CANCELLED
    run.finished_at = timezone.now()
    run.save()
    response = c.post(url("resume", run.pk), follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.finished_at is None
    assert "resumes from its last checkpoint" in html.unescape(response.content.decode())
    assert c.get(url("cancel", run.pk)).status_code == 405


def test_cancel_from_htmx_answers_with_the_live_partial(client_for, engineer):
    queued = make_run(engineer, name="waiting", status=RunStatus.QUEUED)
    c = client_for(engineer)
    response = c.post(url("cancel", queued.pk), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    queued.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED
    assert text_of(response.content, "run-status") == "Cancelled"
    assert text_of(response.content, "run-notice") == "Run cancelled."
    assert "hx-trigger" not in body and 'id="resume-run"' in body


# --- Two runs -------------------------------------------------------------------------------


def test_compare_overlays_two_runs_and_marks_what_differs(client_for, engineer, run):
    other_values = run_defaults("dpo") | {"beta": 0.3, "max_steps": 200}
    other = make_run(
        engineer,
        name="beta 0.3",
        snap=run.snapshot,
        hyperparameters=other_values,
        status=RunStatus.DONE,
        step=200,
        max_steps=200,
    )
    add_metrics(other, [1, 2, 3, 4])
    c = client_for(engineer)
    page = c.get(COMPARE, {"a": run.pk, "b": other.pk})
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="legend-a"' in body and 'id="legend-b"' in body
    data = json.loads(re.search(r'id="run-charts-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert [r["id"] for r in data["runs"]] == [run.pk, other.pk]
    assert [r["colour"] for r in data["runs"]] == [0, 1]
    assert data["runs"][1]["data"]["steps"] == [1, 2, 3, 4]
    assert len(data["charts"]) == 4
    rows = {r["name"]: r for r in page.context["rows"]}
    assert rows["beta"]["differs"] and (rows["beta"]["a"], rows["beta"]["b"]) == ("0.1", "0.3")
    assert rows["max_steps"]["differs"]
    assert not rows["learning_rate"]["differs"] and not rows["snapshot"]["differs"]
    assert re.search(r'id="setting-beta" class="differs"', body)
    assert 'id="setting-learning_rate">' in body


def test_compare_names_the_bad_parameter(client_for, engineer, run):
    c = client_for(engineer)
    cases = [
        ({}, ["Choose a run for “a”.", "Choose a run for “b”."]),
        ({"a": run.pk}, ["Choose a run for “b”."]),
        ({"a": "x1", "b": run.pk}, ["“a” must be a run number, not “x1”."]),
        ({"a": run.pk, "b": 999}, ["“b”: there is no run #999."]),
    ]
    for params, problems in cases:
        response = c.get(COMPARE, params)
        assert response.status_code == 400, params
        assert response.context["problems"] == problems
        body = html.unescape(response.content.decode())
        for problem in problems:
            assert problem in body
        assert 'id="compare-form"' in body


# --- Escaping and words ---------------------------------------------------------------------


def test_run_names_and_engine_text_are_escaped(client_for, engineer, training_dir):
    evil = make_run(
        engineer,
        name=XSS,
        base_model=XSS,
        status=RunStatus.FAILED,
        error=f"Traceback {XSS}",
        worker=XSS,
        resumed_from=XSS,
    )
    RunLogChunk.objects.create(run=evil, seq=1, text=XSS)
    base = make_run(engineer, name="plain", status=RunStatus.DONE, final_dir=XSS)
    c = client_for(engineer)
    pages = [
        LIST,
        url("detail", evil.pk),
        url("live", evil.pk),
        f"{COMPARE}?a={evil.pk}&b={base.pk}",
        f"{NEW}?base_run={base.pk}",
        url("detail", base.pk),
    ]
    for page in pages:
        body = c.get(page).content.decode()
        assert XSS not in body, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in c.get(url("detail", evil.pk)).content.decode()
    # The charts' JSON escapes it too.
    assert "\\u003Cscript\\u003E" in c.get(url("detail", evil.pk)).content.decode()


def test_eta_words():
    assert eta_words(None) == ""
    assert eta_words(40) == "40 s"
    assert eta_words(12 * 60 + 10) == "12 min"
    assert eta_words(3600 + 5 * 60) == "1 h 5 min"
