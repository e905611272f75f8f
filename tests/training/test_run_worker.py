"""Training runs through real Celery workers on the CPU: a DPO run on the tiny model and a
32-pair snapshot (metrics at every step, checkpoints, the step-1 loss equal to TRL's DPOTrainer
run directly), and a worker killed mid-run whose run a new worker resumes from its last
checkpoint, with never two trainers at once."""

import json
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from training import services
from training.models import RunCheckpoint, RunLogChunk, RunMetric, RunStatus, TrainingRun
from training.services import run_dir
from weaver_site.models import WorkerHeartbeat

from ..conftest import wait_for
from ..factories import dpo_snapshot

pytestmark = pytest.mark.training


def _reload(run) -> TrainingRun:
    run.refresh_from_db()
    return run


def _wait_status(run, statuses, worker, timeout=240):
    def reached():
        return _reload(run).status in statuses

    try:
        wait_for(reached, timeout=timeout, interval=0.25, message=f"run status in {statuses}")
    except AssertionError:
        log = Path(worker.log_path).read_text()[-4000:]
        tail = "".join(RunLogChunk.objects.filter(run=run).values_list("text", flat=True))
        raise AssertionError(
            f"run is {run.status}; worker log:\n{log}\nrun log:\n{tail[-4000:]}"
        ) from None
    return run


def engine_processes(config_path: Path) -> list[int]:
    """Pids of the engine processes training from ``config_path`` (read from /proc)."""
    pids = []
    needle = str(config_path).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"training.engine" in cmdline and needle in cmdline and "\tZ" not in status:
            pids.append(int(entry.name))
    return pids


def direct_step_one_loss(data_file: Path, model_path: Path, tmp_path: Path, **config) -> float:
    """Step 1's loss of TRL's DPOTrainer run directly (not through the engine) on the file the
    worker trained on, with the run's settings."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    data = datasets.load_dataset(
        "json", data_files=str(data_file), split="train", cache_dir=str(tmp_path / "cache")
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    args = DPOConfig(
        output_dir=str(tmp_path / "direct"),
        max_steps=1,
        per_device_train_batch_size=config["per_device_batch_size"],
        learning_rate=config["learning_rate"],
        seed=config["seed"],
        data_seed=config["seed"],
        max_length=1024,
        beta=0.1,
        bf16=False,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
    )
    trainer.train()
    return next(e["loss"] for e in trainer.state.log_history if "loss" in e)


def test_a_dpo_run_goes_through_a_real_worker(
    engineer, author, admin_user, tiny_model, worker_env, celery_worker_process, tmp_path
):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=32)
    assert snapshot.train_count == 32
    settings_ = {
        "max_steps": 6,
        "save_steps": 2,
        "per_device_batch_size": 2,
        "learning_rate": 1e-4,
        "seed": 7,
    }
    run = services.training_run_create(
        name="dpo tiny",
        kind="dpo",
        snapshot=snapshot,
        base_model=str(tiny_model),
        gpus=0,
        hyperparameters=settings_,
        created_by=engineer,
    )
    worker = celery_worker_process("gpu", name="gpu1")
    _wait_status(run, {RunStatus.DONE, RunStatus.FAILED}, worker)
    assert run.status == RunStatus.DONE, run.error
    assert (run.step, run.max_steps, run.attempts) == (6, 6, 1)

    metrics = list(RunMetric.objects.filter(run=run).order_by("step"))
    assert [m.step for m in metrics] == [1, 2, 3, 4, 5, 6]  # every logging step
    for name in ("loss", "learning_rate", "grad_norm", "rewards/accuracies", "rewards/margins"):
        assert all(name in m.values for m in metrics), name
    checkpoints = RunCheckpoint.objects.filter(run=run)
    assert sorted(c.step for c in checkpoints if not c.final) == [2, 4, 6]
    final = checkpoints.get(final=True)
    assert final.size_bytes > 0 and Path(final.path) == Path(run.final_dir)
    card = (Path(run.final_dir) / "README.md").read_text()
    assert snapshot.label in card and snapshot.content_hash in card
    assert run.summary.get("train_runtime", 0) > 0
    log = "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )
    assert "took the run" in log and "run done" in log

    direct = direct_step_one_loss(
        run_dir(run) / "data" / "train.jsonl", tiny_model, tmp_path, **settings_
    )
    assert abs(metrics[0].values["loss"] - direct) < 1e-4, (metrics[0].values["loss"], direct)


def test_a_killed_worker_run_is_resumed_by_a_new_worker_and_never_trains_twice(
    engineer, author, admin_user, tiny_model, worker_env, celery_worker_process
):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=32)
    planned = 60
    run = services.training_run_create(
        name="resume me",
        kind="dpo",
        snapshot=snapshot,
        base_model=str(tiny_model),
        gpus=0,
        hyperparameters={
            "max_steps": planned,
            "save_steps": 5,
            "per_device_batch_size": 2,
            "learning_rate": 1e-4,
            "save_total_limit": 2,
        },
        created_by=engineer,
    )
    config_path = run_dir(run) / "config.json"
    seen, most, stop = [], [0], threading.Event()

    def monitor():
        while not stop.is_set():
            pids = engine_processes(config_path)
            most[0] = max(most[0], len(pids))
            seen.extend(p for p in pids if p not in seen)
            time.sleep(0.05)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    try:
        first = celery_worker_process("gpu", name="gpu1")
        wait_for(
            lambda: RunCheckpoint.objects.filter(run=run, final=False).exists(),
            timeout=180,
            interval=0.1,
            message="a first checkpoint",
        )
        # The worker keeps beating while its (solo pool) task trains.
        started = _reload(run).started_at
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(
                hostname__startswith="gpu1@", last_seen__gt=started + timedelta(seconds=1.5)
            ).exists(),
            timeout=15,
            message="a heartbeat while training",
        )
        os.kill(first.pid, signal.SIGKILL)  # the worker dies without a word
        first.wait(timeout=10)
        killed_at_step = _reload(run).step
        assert run.status == RunStatus.RUNNING and killed_at_step < planned
        # Its engine dies with it.
        wait_for(lambda: not engine_processes(config_path), timeout=10, message="engine gone")

        second = celery_worker_process("gpu", name="gpu2")
        _wait_status(run, {RunStatus.DONE, RunStatus.FAILED}, second)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert run.status == RunStatus.DONE, run.error
    assert run.attempts == 2
    assert run.step == planned and run.max_steps == planned
    assert most[0] == 1, f"{most[0]} engines trained the run at once"
    assert len(seen) == 2  # one engine per worker
    events = [json.loads(line) for line in (run_dir(run) / "events.jsonl").read_text().splitlines()]
    starts = [k for k, e in enumerate(events) if e["event"] == "start"]
    assert len(starts) == 2 and not events[starts[0]]["resumed_from"]
    # The second engine resumed from the last checkpoint the first one saved.
    saved = [e for e in events[: starts[1]] if e["event"] == "checkpoint"]
    assert saved and events[starts[1]]["resumed_from"] == saved[-1]["path"] == run.resumed_from
    assert saved[-1]["step"] < planned and saved[-1]["step"] >= killed_at_step - 5
    steps = list(RunMetric.objects.filter(run=run).order_by("step").values_list("step", flat=True))
    assert steps == list(range(1, planned + 1))
    log = "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )
    assert "queued again" in log and "resuming from checkpoint-" in log
