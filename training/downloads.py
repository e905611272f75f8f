"""The run's files as downloads, for the pages and the API alike: the whole log as text and a
checkpoint's folder as a zip, both streamed as they are produced."""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from . import selectors
from .models import RunCheckpoint, TrainingRun


def _attachment(response: StreamingHttpResponse, filename: str) -> StreamingHttpResponse:
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def run_log_download(run: TrainingRun) -> StreamingHttpResponse:
    """``run-<id>.log``: every chunk of the run's log, in order."""
    response = StreamingHttpResponse(
        (text.encode() for text in selectors.run_log_lines(run)),
        content_type="text/plain; charset=utf-8",
    )
    return _attachment(response, f"run-{run.pk}.log")


def checkpoint_download(checkpoint: RunCheckpoint | None) -> StreamingHttpResponse:
    """``run-<id>-<name>.zip`` of the checkpoint's folder; 404 when there is no such
    checkpoint or its folder is gone (or lies outside the training folder)."""
    folder = None if checkpoint is None else selectors.checkpoint_folder(checkpoint)
    if folder is None:
        raise Http404(_("This checkpoint's folder is no longer on disk."))
    name = f"run-{checkpoint.run_id}-{checkpoint.name}"
    response = StreamingHttpResponse(
        selectors.zip_stream(folder, prefix=name), content_type="application/zip"
    )
    return _attachment(response, f"{name}.zip")
