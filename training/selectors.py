"""Reads for the training pages and API: runs, metric series for the charts, progress and
ETA, the log, checkpoints and their downloads."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from .models import RunCheckpoint, RunLogChunk, RunMetric, TrainingRun

#: The curves the run page draws, in order (DPO-only ones are absent from SFT runs).
CHART_METRICS = (
    "loss",
    "rewards/accuracies",
    "rewards/margins",
    "learning_rate",
    "rewards/chosen",
    "rewards/rejected",
    "grad_norm",
    "logps/chosen",
    "logps/rejected",
    "tokens_per_s",
    "gpu_memory_mb",
)
LOG_TAIL_CHARS = 20_000


def runs_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("snapshot", "created_by", "base_run").order_by(
        "-created_at", "-id"
    )


def run_metric_series(run: TrainingRun, *, after_step: int = 0) -> dict:
    """The run's logged values after ``after_step``, as columns:
    ``{"steps": [...], "series": {name: [value or None, ...]}}`` (names from
    :data:`CHART_METRICS`, and any other number the engine logged)."""
    rows = list(
        RunMetric.objects.filter(run=run, step__gt=after_step)
        .order_by("step")
        .values_list("step", "values")
    )
    names = [n for n in CHART_METRICS if any(n in v for _s, v in rows)]
    names += sorted({k for _s, v in rows for k in v} - set(names) - {"time"})
    return {
        "steps": [s for s, _v in rows],
        "series": {name: [v.get(name) for _s, v in rows] for name in names},
    }


def run_eta_seconds(run: TrainingRun) -> float | None:
    """Seconds left at the pace of the current attempt (None until two steps are in)."""
    if not run.is_active or not run.max_steps or run.segment_started_at is None:
        return None
    last = RunMetric.objects.filter(run=run).order_by("-step").values_list("step", "recorded_at")
    latest = last.first()
    if latest is None:
        return None
    step, at = latest
    done = step - run.segment_start_step
    if done <= 0:
        return None
    per_step = (at - run.segment_started_at).total_seconds() / done
    return max(0.0, per_step * (run.max_steps - step))


def run_log_tail(run: TrainingRun, *, max_chars: int = LOG_TAIL_CHARS) -> str:
    """The end of the run's log (whole chunks, newest last, cut to ``max_chars``)."""
    texts, size = [], 0
    for text in RunLogChunk.objects.filter(run=run).order_by("-seq").values_list("text", flat=True):
        texts.append(text)
        size += len(text)
        if size >= max_chars:
            break
    tail = "".join(reversed(texts))
    return tail[-max_chars:]


def run_log_lines(run: TrainingRun) -> Iterator[str]:
    """The whole log, in order (for a download)."""
    yield from (
        RunLogChunk.objects.filter(run=run)
        .order_by("seq")
        .values_list("text", flat=True)
        .iterator()
    )


def run_checkpoints(run: TrainingRun) -> list[RunCheckpoint]:
    """The run's checkpoints, each with ``available`` (its folder is still on disk: the engine
    keeps only the last few)."""
    items = list(RunCheckpoint.objects.filter(run=run).order_by("step", "final"))
    for item in items:
        item.available = checkpoint_folder(item) is not None
    return items


def checkpoint_folder(checkpoint: RunCheckpoint) -> Path | None:
    """The checkpoint's folder if it exists inside the training folder (never a path
    outside it, whatever the database says)."""
    root = Path(settings.WEAVER_TRAINING_DIR).resolve()
    try:
        path = Path(checkpoint.path).resolve()
    except (OSError, ValueError):
        return None
    if root not in path.parents or not path.is_dir():
        return None
    return path


class _Sink:
    """A write-only file for ``zipfile`` that hands out what was written so far."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def zip_stream(folder: Path, *, prefix: str, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """A zip of ``folder`` (stored, not compressed: weights do not compress), produced as it
    is sent, so a checkpoint of many gigabytes needs no temporary file or memory."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root, name)
                arcname = f"{prefix}/{path.relative_to(folder).as_posix()}"
                with path.open("rb") as src, zf.open(arcname, "w", force_zip64=True) as dst:
                    while data := src.read(chunk):
                        dst.write(data)
                        yield sink.take()
                yield sink.take()
    yield sink.take()


def runs_filtered(*, status: str = "", kind: str = "") -> QuerySet[TrainingRun]:
    """The runs list narrowed to one status and/or kind (empty: any)."""
    runs = runs_list()
    if status:
        runs = runs.filter(status=status)
    if kind:
        runs = runs.filter(kind=kind)
    return runs
