"""Training run services: checks before a run is queued, cancel, resume, the lease (claim and
recovery of lost workers), and the supervisor in this process (engine as a real subprocess):
cancel keeps a checkpoint, a lost lease kills the engine, a worker shutting down hands the run
back, a bad base model fails with the log's last lines, SFT then DPO from its output."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from training import services
from training.models import RunCheckpoint, RunStatus, TrainingRun
from training.services import run_dir
from training.supervisor import training_run_claim, training_run_execute

from ..conftest import wait_for
from ..factories import dpo_snapshot, sft_snapshot


def make(engineer, snapshot, **kwargs):
    values = {
        "name": "run",
        "kind": snapshot.kind,
        "snapshot": snapshot,
        "base_model": "/models/base",
        "created_by": engineer,
        "gpus": 0,
    }
    values.update(kwargs)
    return services.training_run_create(**values)


def errors(exc) -> dict:
    return exc.value.message_dict


# --- Checks before queueing ------------------------------------------------------------------


def test_dpo_defaults_are_the_methods(engineer, author, admin_user):
    run = make(engineer, dpo_snapshot(engineer, author, admin_user, n=4))
    hp = run.hyperparameters
    assert (hp["beta"], hp["learning_rate"], hp["lr_scheduler"]) == (0.1, 5e-7, "linear")
    assert (hp["warmup_ratio"], hp["epochs"], hp["loss_type"]) == (0.05, 3.0, "sigmoid")
    assert run.status == RunStatus.QUEUED and run.method == "full"
    sft = make(engineer, sft_snapshot(engineer, n=4))
    assert sft.hyperparameters["learning_rate"] == 2e-5


def test_form_strings_become_numbers(engineer, author, admin_user):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    run = make(
        engineer,
        snapshot,
        hyperparameters={
            "beta": "0.2",
            "max_steps": "10",
            "loss_type": "ipo",
            "layout": "standard",
        },
    )
    hp = run.hyperparameters
    assert (hp["beta"], hp["max_steps"], hp["loss_type"], hp["layout"]) == (
        0.2,
        10,
        "ipo",
        "standard",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hyperparameters": {"beta": 500}}, "beta"),
        ({"hyperparameters": {"learning_rate": -1}}, "learning_rate"),
        ({"hyperparameters": {"loss_type": "hinge"}}, "loss_type"),
        ({"hyperparameters": {"max_steps": "many"}}, "max_steps"),
        ({"hyperparameters": {"warmup": 0.1}}, "warmup"),
        ({"hyperparameters": {"layout": "chat"}}, "layout"),
        ({"gpus": 65}, "gpus"),
        ({"gpus": 0, "method": "qlora"}, "method"),
        ({"method": "adapter"}, "method"),
        ({"base_model": ""}, "base_model"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_values_are_refused_naming_the_field(engineer, author, admin_user, kwargs, field):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    with pytest.raises(ValidationError) as exc:
        make(engineer, snapshot, **kwargs)
    assert field in errors(exc)
    assert not TrainingRun.objects.exists()


def test_the_snapshot_must_match_the_kind_and_be_ready(engineer, author, admin_user):
    dpo = dpo_snapshot(engineer, author, admin_user, n=4)
    with pytest.raises(ValidationError) as exc:
        make(engineer, dpo, kind="sft")
    assert "SFT run needs a SFT snapshot" in errors(exc)["snapshot"][0]
    dpo.status = "building"
    dpo.save(update_fields=["status"])
    with pytest.raises(ValidationError) as exc:
        make(engineer, dpo)
    assert "not ready" in errors(exc)["snapshot"][0]
    assert not TrainingRun.objects.exists()


def test_a_base_run_must_be_finished_and_not_combined_with_a_model(engineer):
    snapshot = sft_snapshot(engineer, n=4)
    sft = make(engineer, snapshot)
    with pytest.raises(ValidationError) as exc:
        make(engineer, snapshot, base_model="", base_run=sft)
    assert "base_run" in errors(exc)
    with pytest.raises(ValidationError) as exc:
        make(engineer, snapshot, base_run=sft)
    assert "base_model" in errors(exc)
    TrainingRun.objects.filter(pk=sft.pk).update(status=RunStatus.DONE, final_dir="/runs/1/final")
    sft.refresh_from_db()
    run = make(engineer, snapshot, base_model="", base_run=sft)
    assert services.model_path(run) == "/runs/1/final"


def test_only_engineers_and_admins_train(reviewer, author, engineer, admin_user):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    for user in (reviewer, author):
        with pytest.raises(PermissionDenied):
            make(user, snapshot)
    assert make(admin_user, snapshot).pk


# --- Cancel, resume, claim, recovery -----------------------------------------------------------


def test_cancel_and_resume(engineer, author, admin_user):
    run = make(engineer, dpo_snapshot(engineer, author, admin_user, n=4))
    assert services.training_run_cancel(run=run, user=engineer)
    assert run.status == RunStatus.CANCELLED and run.finished_at
    assert not services.training_run_cancel(run=run, user=engineer)
    assert services.training_run_resume(run=run, user=engineer)
    assert run.status == RunStatus.QUEUED and run.finished_at is None
    assert not services.training_run_resume(run=run, user=engineer)
    assert training_run_claim(run_id=run.pk, worker="w1")
    assert services.training_run_cancel(run=run, user=engineer)
    assert run.status == RunStatus.CANCELLING  # the worker stops it


def test_a_run_is_claimed_once_until_its_lease_runs_out(engineer, author, admin_user):
    run = make(engineer, dpo_snapshot(engineer, author, admin_user, n=4))
    first = training_run_claim(run_id=run.pk, worker="w1")
    assert first
    assert not training_run_claim(run_id=run.pk, worker="w2")
    TrainingRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = training_run_claim(run_id=run.pk, worker="w2")
    assert second and second != first
    run.refresh_from_db()
    assert (run.worker, run.attempts, run.lease_token) == ("w2", 2, second)


def test_recovery_requeues_lost_runs_only(engineer, author, admin_user, settings):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    live, lost, cancelling, worn = (make(engineer, snapshot, name=n) for n in "abcd")
    for run in (live, lost, cancelling, worn):
        training_run_claim(run_id=run.pk, worker="w")
    past = timezone.now() - timedelta(seconds=5)
    TrainingRun.objects.filter(pk__in=[lost.pk, cancelling.pk, worn.pk]).update(
        lease_expires_at=past
    )
    TrainingRun.objects.filter(pk=cancelling.pk).update(status=RunStatus.CANCELLING)
    TrainingRun.objects.filter(pk=worn.pk).update(attempts=settings.WEAVER_TRAINING_MAX_ATTEMPTS)
    assert services.training_run_recover_orphans() == [lost.pk]
    statuses = dict(TrainingRun.objects.values_list("name", "status"))
    assert statuses == {
        "a": RunStatus.RUNNING,
        "b": RunStatus.QUEUED,
        "c": RunStatus.CANCELLED,
        "d": RunStatus.FAILED,
    }
    assert services.training_run_recover_orphans() == []  # nothing twice


# --- The supervisor in this process, with the real engine ------------------------------------


def start_in_thread(run) -> tuple[threading.Thread, dict]:
    out = {}

    def target():
        from django.db import connection

        try:
            out["result"] = training_run_execute(run_id=run.pk, worker="here")
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def long_run(engineer, author, admin_user, tiny_model, **hp):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=16)
    values = {"max_steps": 5000, "save_steps": 3, "per_device_batch_size": 2}
    values.update(hp)
    return make(engineer, snapshot, base_model=str(tiny_model), hyperparameters=values, name="long")


def engine_alive(pid) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\tZ" not in status.read_text()


@pytest.mark.training
def test_cancel_stops_the_engine_and_keeps_a_checkpoint(
    transactional_db, reference_data, engineer, author, admin_user, tiny_model, training_dir
):
    run = long_run(engineer, author, admin_user, tiny_model)
    thread, out = start_in_thread(run)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 4, timeout=120, message="steps")
    assert services.training_run_cancel(run=run, user=engineer)
    thread.join(timeout=60)
    assert out["result"] == RunStatus.CANCELLED
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and not run.final_dir and run.step < 5000
    last = RunCheckpoint.objects.filter(run=run).order_by("-step").first()
    assert last is not None and Path(last.path).is_dir()
    assert last.step == run.step  # saved at the step where it stopped
    assert not (run_dir(run) / "output" / "final").exists()


@pytest.mark.training
def test_a_lost_lease_kills_the_engine_at_once(
    transactional_db, reference_data, engineer, author, admin_user, tiny_model, training_dir
):
    run = long_run(engineer, author, admin_user, tiny_model)
    thread, out = start_in_thread(run)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 2, timeout=120, message="steps")
    pid = TrainingRun.objects.get(pk=run.pk).pid
    TrainingRun.objects.filter(pk=run.pk).update(lease_token="taken-by-another-worker")
    thread.join(timeout=30)
    assert out["result"] == "lease-lost"
    assert not engine_alive(pid)
    assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # the other's now


@pytest.mark.training
def test_a_worker_shutting_down_hands_its_run_back(
    transactional_db, reference_data, engineer, author, admin_user, tiny_model, training_dir
):
    from celery.worker import state

    run = long_run(engineer, author, admin_user, tiny_model)
    thread, out = start_in_thread(run)
    try:
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 2, timeout=120, message="steps")
        state.should_stop = 0  # what Celery's warm shutdown sets (exit code 0)
        thread.join(timeout=60)
    finally:
        state.should_stop = None
    assert out["result"] == "handed-back"
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and not run.lease_token
    assert RunCheckpoint.objects.filter(run=run, step=run.step).exists()


@pytest.mark.training
def test_an_engine_failure_shows_the_last_lines_of_its_log(
    engineer, author, admin_user, training_dir, tmp_path
):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=4)
    run = make(engineer, snapshot, base_model=str(tmp_path / "no-such-model"))
    assert training_run_execute(run_id=run.pk, worker="here") == RunStatus.FAILED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "exited with code 1" in run.error
    assert "no-such-model" in run.error  # the traceback's last lines
    assert run.finished_at and not run.lease_token


@pytest.mark.training
def test_sft_then_dpo_from_its_output(engineer, author, admin_user, tiny_model, training_dir):
    sft = make(
        engineer,
        sft_snapshot(engineer, n=8),
        name="sft",
        base_model=str(tiny_model),
        hyperparameters={"max_steps": 3, "save_steps": 3, "per_device_batch_size": 2},
    )
    assert training_run_execute(run_id=sft.pk, worker="here") == RunStatus.DONE
    sft.refresh_from_db()
    assert Path(sft.final_dir, "config.json").exists()
    dpo = make(
        engineer,
        dpo_snapshot(engineer, author, admin_user, n=8),
        name="dpo",
        base_model="",
        base_run=sft,
        hyperparameters={"max_steps": 2, "save_steps": 2, "per_device_batch_size": 2},
    )
    assert training_run_execute(run_id=dpo.pk, worker="here") == RunStatus.DONE, dpo.error
    dpo.refresh_from_db()
    config = (run_dir(dpo) / "config.json").read_text()
    assert sft.final_dir in config
    card = Path(dpo.final_dir, "README.md").read_text()
    assert dpo.snapshot.content_hash in card and sft.final_dir in card
    assert dpo.step == 2 and dpo.metrics.count() == 2


def test_events_are_applied_once_and_non_finite_values_kept_as_none(
    engineer, author, admin_user, training_dir
):
    import json

    from training.models import RunMetric
    from training.supervisor import Supervisor

    run = make(engineer, dpo_snapshot(engineer, author, admin_user, n=4))
    token = training_run_claim(run_id=run.pk, worker="w")
    supervisor = Supervisor(TrainingRun.objects.get(pk=run.pk), token, "w")
    supervisor.folder.mkdir(parents=True)
    lines = [
        {"event": "start", "resumed_from": "", "max_steps": 4, "time": 1000.0},
        {"event": "metrics", "step": 1, "max_steps": 4, "loss": 0.69, "time": 1001.0},
        {"event": "metrics", "step": 2, "max_steps": 4, "loss": float("nan"), "time": 1003.0},
    ]
    text = "".join(json.dumps(e) + "\n" for e in lines)
    supervisor.events_path.write_text(text + '{"event": "metr')  # the last line unfinished
    supervisor.read_events()
    supervisor.read_events()  # nothing new: nothing applied twice
    run.refresh_from_db()
    assert (run.step, run.max_steps, run.last_loss) == (2, 4, None)
    assert run.events_offset == len(text.encode())
    values = dict(RunMetric.objects.filter(run=run).values_list("step", "values"))
    assert values[1]["loss"] == 0.69 and values[2]["loss"] is None
    assert (run.segment_start_step, run.segment_started_at.timestamp()) == (1, 1001.0)
