"""What a ``gpu`` worker does with a training run: take its lease, write its data and config,
start the engine as a subprocess (``accelerate launch`` for several GPUs), and until it ends
follow its events into the database (metrics, checkpoints, the final model), ship its output
to the run's log, renew the lease and watch for a cancel or the worker's own shutdown.

At most one process trains a run: the lease is taken with one conditional UPDATE (a queued
run, or a running one whose lease ran out) and renewed every poll; a supervisor that finds its
lease gone kills its engine at once. The engine itself dies with the task's process (the
kernel's parent-death signal, and a watch on the parent pid) and holds a lock on the run's
output folder, so even a late-dying engine and its successor never train together.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from pairs.datasets import rows as R
from pairs.datasets.export import snapshot_rows

from .models import RunCheckpoint, RunMetric, RunStatus, TrainingRun
from .services import _enqueue, _stamp, engine_config, run_dir, run_log_append

logger = logging.getLogger(__name__)

LOG_CHUNK_BYTES = 64 * 1024
FAILURE_LINES = 40


def training_run_claim(*, run_id: int, worker: str) -> str:
    """Take the run's lease for ``worker`` (a queued run, or a running one whose lease ran
    out). Returns the lease token, or "" when the run is not free to take."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        TrainingRun.objects.filter(pk=run_id)
        .filter(
            Q(status=RunStatus.QUEUED)
            | Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=RunStatus.RUNNING, lease_expires_at__isnull=True)
        )
        .update(
            status=RunStatus.RUNNING,
            worker=worker,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.WEAVER_TRAINING_LEASE_SECONDS),
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
            error="",
            pid=None,
        )
    )
    return token if taken else ""


def training_run_execute(*, run_id: int, worker: str) -> str:
    """Run the training run ``run_id`` here if its lease can be taken; return how it ended
    (a status, or ``not-claimed``/``handed-back``/``lease-lost``)."""
    token = training_run_claim(run_id=run_id, worker=worker)
    if not token:
        return "not-claimed"
    run = TrainingRun.objects.select_related("snapshot", "base_run").get(pk=run_id)
    supervisor = Supervisor(run, token, worker)
    try:
        return supervisor.start()
    except Exception as exc:  # a fault here, not in the engine: end the run, keep the reason
        logger.exception("training run %s: the supervisor failed", run_id)
        if supervisor.proc is not None:
            supervisor.signal_engine(signal.SIGKILL)
        return supervisor.finish(RunStatus.FAILED, error=f"The worker failed: {exc}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask the kernel to kill this (child) process when the process that started it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_stopping() -> bool:
    """Whether the Celery worker this runs in has been asked to shut down."""
    try:
        from celery.worker import state
    except ImportError:  # pragma: no cover
        return False
    # Celery sets these to the exit code, which may be 0: compare with None and False by identity.
    return any(
        flag is not None and flag is not False
        for flag in (state.should_stop, state.should_terminate)
    )


def _folder_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


def write_training_data(run: TrainingRun, folder: Path) -> Path:
    """The snapshot's rows in the run's layout (only the columns a trainer reads), one file
    per split; kept when already there, so a resumed run trains on the very same file."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    train = data / "train.jsonl"
    if train.exists():
        return train
    layout = run.hyperparameters.get("layout", "conversational")
    parts = {split: (data / f"{split}.jsonl.part").open("wb") for split in ("train", "test")}
    try:
        for split, line in snapshot_rows(run.snapshot_id):
            row = R.to_layout(json.loads(bytes(line)), kind=run.kind, layout=layout, metadata=False)
            parts[split].write(R.dumps(row).encode() + b"\n")
    finally:
        for fh in parts.values():
            fh.close()
    os.replace(data / "test.jsonl.part", data / "test.jsonl")
    os.replace(data / "train.jsonl.part", train)
    return train


def engine_command(run: TrainingRun, config_path: Path, events_path: Path) -> list[str]:
    """Plain Python for the CPU or one GPU; ``accelerate launch`` for several."""
    engine = [
        "training.engine",
        "--config",
        str(config_path),
        "--events",
        str(events_path),
        "--lock-wait",
        str(2 * settings.WEAVER_TRAINING_LEASE_SECONDS),
    ]
    if run.gpus > 1:
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(run.gpus),
            "--multi_gpu",
            "-m",
            *engine,
        ]
    return [sys.executable, "-m", *engine]


def engine_ranks(pid: int) -> list[int]:
    """The engine processes (one per rank) below a launcher process ``pid``: under ``accelerate
    launch`` a stop goes to them alone, since the launcher, signalled itself, exits with an
    error even when every rank stopped cleanly."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - accelerate (the train extra) brings psutil
        return []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    ranks = []
    for child in children:
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if "training.engine" in cmdline and not any(
            "accelerate" in part or "distributed.run" in part for part in cmdline
        ):
            ranks.append(child.pid)
    return ranks


class Supervisor:
    def __init__(self, run: TrainingRun, token: str, worker: str):
        self.run = run
        self.token = token
        self.worker = worker
        self.folder = run_dir(run)
        self.events_path = self.folder / "events.jsonl"
        self.log_path = self.folder / "engine.log"
        self.log_offset = 0
        self.done_event: dict | None = None
        self.proc: subprocess.Popen | None = None
        self.attempt = 0
        self.events_offset = run.events_offset

    # --- the lease ---------------------------------------------------------------------------

    def mine(self):
        return TrainingRun.objects.filter(pk=self.run.pk, lease_token=self.token)

    def renew(self) -> str | None:
        """Extend the lease; return the run's status, or None when the lease is gone."""
        now = timezone.now()
        until = now + timedelta(seconds=settings.WEAVER_TRAINING_LEASE_SECONDS)
        if not self.mine().update(lease_expires_at=until, heartbeat_at=now):
            return None
        return self.mine().values_list("status", flat=True).first()

    def note(self, message: str) -> None:
        run_log_append(run_id=self.run.pk, text=_stamp(message), attempt=self.attempt)

    # --- the run -------------------------------------------------------------------------------

    def start(self) -> str:
        self.attempt = TrainingRun.objects.values_list("attempts", flat=True).get(pk=self.run.pk)
        self.note(f"worker {self.worker} took the run (attempt {self.attempt})")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_training_data(self.run, self.folder)
            config = engine_config(self.run)
            config_path = self.folder / "config.json"
            config_path.write_text(config.to_json(), encoding="utf-8")
        except Exception as exc:
            logger.exception("training run %s could not start", self.run.pk)
            return self.finish(RunStatus.FAILED, error=f"Could not start: {exc}")
        status = self.renew()
        if status is None:
            return "lease-lost"
        if status == RunStatus.CANCELLING:
            return self.finish(RunStatus.CANCELLED)
        # This supervisor alone reads the events now: it keeps the offset and records it.
        self.events_offset = self.run.events_offset
        if not self.events_path.exists() or self.events_offset > self.events_path.stat().st_size:
            self.events_offset = 0  # a new folder (another machine's disk)
            self.mine().update(events_offset=0)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ)
        env.update(
            WEAVER_ENGINE_PARENT_PID=str(os.getpid()),
            PYTHONUNBUFFERED="1",
            TOKENIZERS_PARALLELISM="false",
        )
        if self.run.gpus == 0:
            env["CUDA_VISIBLE_DEVICES"] = ""
        command = engine_command(self.run, config_path, self.events_path)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        self.mine().update(pid=self.proc.pid)
        self.note(f"engine started (pid {self.proc.pid}): {' '.join(command[1:4])} …")
        return self.follow()

    def signal_engine(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop_engine(self) -> None:
        """Ask the engine to stop after its current step (it saves a checkpoint): its ranks
        when a launcher started several, else the whole process group."""
        ranks = engine_ranks(self.proc.pid) if self.run.gpus > 1 else []
        if not ranks:
            self.signal_engine(signal.SIGTERM)
        for pid in ranks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def follow(self) -> str:
        poll = settings.WEAVER_TRAINING_POLL_SECONDS
        grace = settings.WEAVER_TRAINING_STOP_GRACE_SECONDS
        reason, stop_sent = "", None
        while True:
            code = self.proc.poll()
            self.read_events()
            self.ship_log()
            if code is not None:
                break
            status = self.renew()
            if status is None:
                reason = "lost"
                self.signal_engine(signal.SIGKILL)
                self.proc.wait()
                break
            if stop_sent is None:
                if status == RunStatus.CANCELLING:
                    reason = "cancel"
                elif _worker_stopping():
                    reason = "shutdown"
                if reason:
                    self.note(
                        "stopping the engine (cancel)"
                        if reason == "cancel"
                        else f"worker {self.worker} is shutting down: stopping the engine"
                    )
                    self.stop_engine()
                    stop_sent = time.monotonic()
            elif time.monotonic() - stop_sent > grace:
                self.note(f"the engine did not stop within {grace} s: killed")
                self.signal_engine(signal.SIGKILL)
                stop_sent = float("inf")
            time.sleep(poll)
        self.signal_engine(signal.SIGKILL)  # whatever it left behind (accelerate's children)
        self.read_events()
        self.ship_log()
        code = self.proc.returncode
        if reason == "lost":
            logger.warning("training run %s: lease lost; engine killed", self.run.pk)
            self.note("the lease was lost (another worker took the run): engine killed")
            return "lease-lost"
        if self.done_event is not None and code == 0:
            return self.finish(RunStatus.DONE, final_dir=self.done_event.get("final_dir", ""))
        if reason == "cancel":
            return self.finish(RunStatus.CANCELLED)
        if reason == "shutdown":
            return self.hand_back()
        return self.finish(
            RunStatus.FAILED,
            error=f"The engine exited with code {code}.\n\n{self.log_tail()}",
        )

    def hand_back(self) -> str:
        """Put the run back on the queue (this worker is shutting down); it resumes from the
        checkpoint the engine just saved."""
        with transaction.atomic():
            if (
                self.mine()
                .filter(status=RunStatus.RUNNING)
                .update(status=RunStatus.QUEUED, lease_token="", worker="", pid=None)
            ):
                _enqueue(self.run)
        self.note("run handed back to the queue; it resumes from its last checkpoint")
        return "handed-back"

    def finish(self, status: str, *, error: str = "", final_dir: str = "") -> str:
        values = {
            "status": status,
            "finished_at": timezone.now(),
            "lease_token": "",
            "pid": None,
            "error": error[:20000],
        }
        if final_dir:
            values["final_dir"] = final_dir
        self.mine().update(**values)
        self.note(f"run {status}")
        return status

    # --- what the engine says ----------------------------------------------------------------

    def read_events(self) -> None:
        """Apply the new complete lines of the events file, then record how far it was read
        (the writes are idempotent, so lines applied twice after a crash change nothing)."""
        if not self.events_path.exists():
            return
        offset = self.events_offset
        with self.events_path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        events = []
        for raw in data[: end + 1].splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                logger.warning("run %s: unreadable event line %r", self.run.pk, raw[:200])
                continue
            if isinstance(event, dict):
                events.append(event)
        with transaction.atomic():
            self.apply(events)
            TrainingRun.objects.filter(pk=self.run.pk).update(events_offset=offset + end + 1)
        self.events_offset = offset + end + 1

    def apply(self, events: list[dict]) -> None:
        run = TrainingRun.objects.select_for_update().get(pk=self.run.pk)
        metrics: dict[int, dict] = {}
        for event in events:
            kind = event.get("event")
            at = _event_time(event)
            if kind == "start":
                run.resumed_from = event.get("resumed_from", "")
                run.max_steps = int(event.get("max_steps") or run.max_steps)
                run.segment_started_at = None
                if run.resumed_from:
                    self.note(f"resuming from {Path(run.resumed_from).name}")
            elif kind == "metrics":
                step = int(event.get("step", 0))
                # A diverging run logs NaN or infinity, which JSON columns refuse: kept as None.
                values = {
                    k: (v if math.isfinite(v) else None)
                    for k, v in event.items()
                    if k not in ("event", "step", "max_steps", "time")
                    and isinstance(v, int | float)
                }
                values["time"] = at.timestamp()
                metrics[step] = values
                run.step = max(run.step, step)
                run.max_steps = int(event.get("max_steps") or run.max_steps)
                run.epoch = float(values.get("epoch") or run.epoch)
                if "loss" in values:
                    run.last_loss = values["loss"]
                if run.segment_started_at is None:
                    run.segment_started_at, run.segment_start_step = at, step
            elif kind == "checkpoint":
                self.checkpoint(int(event.get("step", 0)), event.get("path", ""), final=False)
            elif kind == "dropped":
                self.note(f"removed {Path(event.get('path', '')).name}: it was only half saved")
            elif kind == "summary":
                run.summary = {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in event.items()
                    if k not in ("event", "time")
                }
            elif kind == "stopped":
                run.step = max(run.step, int(event.get("step", 0)))
            elif kind == "done":
                self.done_event = event
                run.step = max(run.step, int(event.get("step", 0)))
                self.checkpoint(run.step, event.get("final_dir", ""), final=True)
        if metrics:
            RunMetric.objects.bulk_create(
                [
                    RunMetric(
                        run_id=run.pk,
                        step=step,
                        values=values,
                        recorded_at=datetime.fromtimestamp(values["time"], tz=UTC),
                    )
                    for step, values in sorted(metrics.items())
                ],
                update_conflicts=True,
                unique_fields=["run", "step"],
                update_fields=["values", "recorded_at"],
            )
        run.save(
            update_fields=[
                "resumed_from",
                "max_steps",
                "segment_started_at",
                "segment_start_step",
                "step",
                "epoch",
                "last_loss",
                "summary",
            ]
        )

    def checkpoint(self, step: int, path: str, *, final: bool) -> None:
        if not path:
            return
        RunCheckpoint.objects.update_or_create(
            run_id=self.run.pk,
            step=step,
            final=final,
            defaults={"path": path, "size_bytes": _folder_size(path)},
        )

    def ship_log(self) -> None:
        """Copy the engine's new output into the run's log in the database (whole lines, at
        most 64 KB a piece)."""
        if not self.log_path.exists():
            return
        with self.log_path.open("rb") as fh:
            fh.seek(self.log_offset)
            data = fh.read()
        while data:
            piece = data[:LOG_CHUNK_BYTES]
            cut = piece.rfind(b"\n") + 1
            if cut == 0:
                if len(data) < LOG_CHUNK_BYTES and self.proc.poll() is None:
                    return  # wait for the rest of the line
                cut = len(piece)
            run_log_append(
                run_id=self.run.pk,
                text=piece[:cut].decode("utf-8", errors="replace"),
                attempt=self.attempt,
            )
            self.log_offset += cut
            data = data[cut:]

    def log_tail(self, lines: int = FAILURE_LINES) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as fh:
            fh.seek(max(0, self.log_path.stat().st_size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _event_time(event: dict) -> datetime:
    value = event.get("time")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return timezone.now()
