"""Training runs: create (checked before anything is queued), cancel, resume, delete, and the
recovery of runs whose worker died. What the worker does with a run is in
:mod:`training.supervisor`."""

from __future__ import annotations

import logging
import shutil
from dataclasses import fields
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from pairs.models import DatasetSnapshot, SnapshotStatus
from weaver_site.roles import ADMIN, ENGINEER, has_role

from .engine.config import ConfigError, RunConfig
from .models import (
    ACTIVE_STATUSES,
    RunKind,
    RunLogChunk,
    RunMethod,
    RunStatus,
    TrainingRun,
)

logger = logging.getLogger(__name__)

TASK_NAME = "gpu.train"

#: The engine settings a run may set (everything else comes from the run itself).
HYPERPARAMETERS = (
    "learning_rate",
    "lr_scheduler",
    "warmup_ratio",
    "epochs",
    "max_steps",
    "per_device_batch_size",
    "gradient_accumulation",
    "max_length",
    "precision",
    "seed",
    "beta",
    "loss_type",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "gradient_checkpointing",
)
#: How the snapshot's rows are given to the trainer: chat messages (the model's chat template
#: applies) or plain prompt/response text.
LAYOUTS = ("conversational", "standard")
MAX_GPUS = 64


def can_train(user) -> bool:
    return has_role(user, ENGINEER, ADMIN)


def _check_user(user) -> None:
    if not can_train(user):
        raise PermissionDenied(_("Only engineers and admins run training."))


def run_defaults(kind: str) -> dict:
    """The hyperparameters a new run of ``kind`` starts from (the Weaver method's DPO values:
    beta 0.1, learning rate 5e-7, linear schedule, 5% warmup, 3 epochs, sigmoid loss)."""
    defaults = {f.name: f.default for f in fields(RunConfig) if f.name in HYPERPARAMETERS}
    defaults["learning_rate"] = RunConfig(kind=kind, model="", train_file="", output_dir="").lr
    defaults["layout"] = "conversational"
    return defaults


def _coerce(name: str, value, default):
    """Form and JSON values to the engine's types (a whole number stays an int)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "on", "yes"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "off", "no", ""):
            return False
        return value
    if isinstance(default, int) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(default, float | type(None)) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_hyperparameters(kind: str, method: str, gpus: int, values: dict | None) -> dict:
    """The run's hyperparameters, defaults filled in and every value checked; raises
    ValidationError naming the field."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(HYPERPARAMETERS) - {"layout"})
    if unknown:
        raise ValidationError({unknown[0]: _("Unknown setting.")})
    defaults = run_defaults(kind)
    merged = {}
    for name, default in defaults.items():
        value = values.get(name, default)
        if value is None and name != "learning_rate":
            value = default
        merged[name] = _coerce(name, value, default)
    if merged["layout"] not in LAYOUTS:
        raise ValidationError({"layout": _("Expected one of: %s.") % ", ".join(LAYOUTS)})
    engine = {k: v for k, v in merged.items() if k != "layout"}
    try:
        RunConfig(
            kind=kind, model="-", train_file="-", output_dir="-", method=method, gpus=gpus, **engine
        ).check()
    except ConfigError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    except TypeError as exc:  # a value of the wrong type the check could not compare
        raise ValidationError({"hyperparameters": str(exc)}) from None
    return merged


def training_run_create(
    *,
    name: str,
    kind: str,
    snapshot: DatasetSnapshot,
    created_by,
    base_model: str = "",
    base_run: TrainingRun | None = None,
    method: str = RunMethod.FULL,
    hyperparameters: dict | None = None,
    gpus: int = 1,
) -> TrainingRun:
    """Check a new run and queue it on the ``gpu`` queue. Everything is checked first:
    the snapshot is ready and of the run's kind, a base model or a finished base run is named,
    and every number is in range."""
    _check_user(created_by)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the run a name.")
    if kind not in RunKind.values:
        errors["kind"] = _("Expected one of: %s.") % ", ".join(RunKind.values)
    if method not in RunMethod.values:
        errors["method"] = _("Expected one of: %s.") % ", ".join(RunMethod.values)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= MAX_GPUS:
        errors["gpus"] = _("Expected a whole number from 0 to %d.") % MAX_GPUS
    elif method == RunMethod.QLORA and gpus == 0:
        errors["method"] = _("QLoRA needs a GPU (4-bit weights run on CUDA only).")
    if snapshot.status != SnapshotStatus.READY:
        errors["snapshot"] = _("This snapshot is not ready (it is %(status)s).") % {
            "status": snapshot.get_status_display()
        }
    elif kind in RunKind.values and snapshot.kind != kind:
        errors["snapshot"] = _(
            "A %(kind)s run needs a %(kind)s snapshot; %(snapshot)s holds %(other)s pairs."
        ) % {"kind": kind.upper(), "snapshot": snapshot.label, "other": snapshot.kind.upper()}
    elif snapshot.train_count == 0:
        errors["snapshot"] = _("This snapshot has no training rows.")
    base_model = (base_model or "").strip()
    if base_run is not None and base_model:
        errors["base_model"] = _("Name a base model or an earlier run, not both.")
    elif base_run is not None:
        if base_run.status != RunStatus.DONE or not base_run.final_dir:
            errors["base_run"] = _("Run #%(id)s has not finished with a final model.") % {
                "id": base_run.pk
            }
    elif not base_model:
        errors["base_model"] = _("Name a base model (a local path or a Hugging Face id).")
    if errors:
        raise ValidationError(errors)
    values = check_hyperparameters(kind, method, gpus, hyperparameters)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=name,
            kind=kind,
            snapshot=snapshot,
            base_model=base_model,
            base_run=base_run,
            method=method,
            hyperparameters=values,
            gpus=gpus,
            created_by=created_by,
            status=RunStatus.QUEUED,
        )
        _enqueue(run)
    return run


def _enqueue(run: TrainingRun) -> None:
    from celery import current_app

    run_id = run.pk
    transaction.on_commit(lambda: current_app.send_task(TASK_NAME, args=[run_id]))


def model_path(run: TrainingRun) -> str:
    """What the run trains from: its base run's final model, or the base model named."""
    if run.base_run_id:
        return run.base_run.final_dir
    return run.base_model


def run_dir(run: TrainingRun | int) -> Path:
    pk = run if isinstance(run, int) else run.pk
    return Path(settings.WEAVER_TRAINING_DIR) / f"run-{pk}"


def engine_config(run: TrainingRun) -> RunConfig:
    folder = run_dir(run)
    values = {k: v for k, v in run.hyperparameters.items() if k in HYPERPARAMETERS}
    return RunConfig.from_dict(
        {
            **values,
            "kind": run.kind,
            "model": model_path(run),
            "train_file": str(folder / "data" / "train.jsonl"),
            "output_dir": str(folder / "output"),
            "method": run.method,
            "gpus": run.gpus,
            "run_name": run.name,
            "snapshot": run.snapshot.label,
            "snapshot_hash": run.snapshot.content_hash,
        }
    )


def run_log_append(*, run_id: int, text: str, attempt: int = 0) -> None:
    """Add ``text`` to the run's log (the next sequence number; retried if two writers race)."""
    if not text:
        return
    for _try in range(5):
        seq = (RunLogChunk.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                RunLogChunk.objects.create(run_id=run_id, seq=seq, attempt=attempt, text=text)
            return
        except IntegrityError:  # another writer took that number
            logger.debug("log chunk %s of run %s taken; trying the next", seq, run_id)
    logger.warning("could not append to the log of run %s", run_id)


def _stamp(message: str) -> str:
    return f"[{timezone.now():%Y-%m-%d %H:%M:%S}] {message}\n"


def training_run_cancel(*, run: TrainingRun, user) -> bool:
    """Cancel a run: a queued one at once; a running one is asked to stop (it saves a
    checkpoint at the end of the step under way and keeps it). Returns whether it changed."""
    _check_user(user)
    now = timezone.now()
    changed = TrainingRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, finished_at=now
    )
    if not changed:
        changed = TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.CANCELLING
        )
    if changed:
        run_log_append(run_id=run.pk, text=_stamp(f"cancel asked by {user.get_username()}"))
    run.refresh_from_db()
    return bool(changed)


def training_run_resume(*, run: TrainingRun, user) -> bool:
    """Queue a failed or cancelled run again: it continues from its last checkpoint."""
    _check_user(user)
    with transaction.atomic():
        changed = TrainingRun.objects.filter(
            pk=run.pk, status__in=(RunStatus.FAILED, RunStatus.CANCELLED)
        ).update(status=RunStatus.QUEUED, error="", finished_at=None)
        if changed:
            _enqueue(run)
    if changed:
        run_log_append(run_id=run.pk, text=_stamp(f"resume asked by {user.get_username()}"))
    run.refresh_from_db()
    return bool(changed)


def training_run_delete(*, run: TrainingRun, user) -> None:
    """Delete a finished run with its metrics, log and files. Refused while it is active or
    while another run starts from it."""
    if not has_role(user, ADMIN):
        raise PermissionDenied(_("Only admins delete training runs."))
    if run.status in ACTIVE_STATUSES:
        raise ValidationError({"status": _("Cancel the run before deleting it.")})
    if run.derived_runs.exists():
        raise ValidationError({"base_run": _("Other runs start from this run's model.")})
    folder = run_dir(run)
    run.delete()
    shutil.rmtree(folder, ignore_errors=True)


def training_run_recover_orphans() -> list[int]:
    """Runs whose lease ran out (their worker died or lost the database): a running one is
    queued again (it resumes from its last checkpoint), a cancelling one is cancelled (nothing
    runs it any more). Safe when several workers run it at once. Returns the ids queued."""
    now = timezone.now()
    queued = []
    stale = TrainingRun.objects.filter(
        status__in=(RunStatus.RUNNING, RunStatus.CANCELLING), lease_expires_at__lt=now
    ).values_list("pk", "status", "worker", "lease_token", "attempts")
    for pk, status, worker, token, attempts in stale:
        base = TrainingRun.objects.filter(
            pk=pk, status=status, lease_token=token, lease_expires_at__lt=now
        )
        if status == RunStatus.RUNNING and attempts >= settings.WEAVER_TRAINING_MAX_ATTEMPTS:
            error = _(
                "Its worker was lost %(n)d times; not queued again (Resume to try once more)."
            ) % {"n": attempts}
            if base.update(
                status=RunStatus.FAILED, finished_at=now, lease_token="", pid=None, error=error
            ):
                run_log_append(run_id=pk, text=_stamp(f"worker {worker} lost; {error}"))
            continue
        if status == RunStatus.CANCELLING:
            if base.update(
                status=RunStatus.CANCELLED, finished_at=now, lease_token="", pid=None, worker=""
            ):
                run_log_append(run_id=pk, text=_stamp(f"worker {worker} lost; run cancelled"))
            continue
        with transaction.atomic():
            if base.update(status=RunStatus.QUEUED, lease_token="", pid=None, worker=""):
                logger.warning("training run %s lost its worker %r; queued again", pk, worker)
                _enqueue(TrainingRun(pk=pk))
                queued.append(pk)
        if pk in queued:
            run_log_append(
                run_id=pk,
                text=_stamp(f"worker {worker} lost (lease expired); queued again to resume"),
            )
    return queued
