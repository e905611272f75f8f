"""Services of corpus imports: upload, mapping, the streaming import loop, cancel and resume.

The pieces live beside this module: ``uploads`` (size-limited uploads, stored files),
``mapping`` (source row to text: targets, language, taxonomy) and ``writer`` (one batch per
transaction, COPY on PostgreSQL).

The flow: ``corpus_import_create`` stores the upload (refusing one over
``WEAVER_CORPUS_UPLOAD_MAX_BYTES``); ``corpus_import_configure`` checks the field mapping
against a preview of the file; ``corpus_import_start`` enqueues the ``corpus.import`` task,
which calls ``corpus_import_run``.

``corpus_import_run`` streams the file and writes every ``batch_size`` rows in one
transaction: the new texts (exact duplicates by ``content_hash`` skipped), the refused rows as
``ImportIssue``s, and the counters with ``resume_from``. So a crash or a cancel never leaves half
a batch, a resumed run starts after the last committed batch, and two runs of the same import
(a redelivered task) cannot both commit the same batch: each batch commits only if
``resume_from`` is still where that run left it.

Domains and subdomains are given by slug (mapped field or default). A domain value that is not
a domain slug but is the slug of exactly one subdomain (``poetry`` is a subdomain of
``fiction``) is taken as that subdomain and its domain, so sources that label poetry as a
domain import as they are. Any other unknown value refuses the row, naming the value.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pairs.models import CorpusImport, ImportIssue, ImportStatus

from . import readers
from .mapping import DEFAULT_TARGETS, SCALAR_TARGETS, _Mapper, _Taxonomy, normalize_language
from .uploads import (  # noqa: F401  (the upload side of the import services, re-exported)
    LimitedUploadHandler,
    corpus_import_create,
    text_max_chars,
    upload_max_bytes,
)
from .writer import _Batch, _Cancelled, _Superseded, _write_batch, _Writer

logger = logging.getLogger(__name__)

BATCH = 2_000


def corpus_import_configure(
    *, corpus_import: CorpusImport, mapping: dict[str, Any], defaults: dict[str, Any]
) -> CorpusImport:
    """Check the field mapping against the file's fields and the defaults against the
    taxonomy; save them and queue the import. Raises ValidationError naming each bad field."""
    if corpus_import.resume_from or corpus_import.status in (
        ImportStatus.RUNNING,
        ImportStatus.DONE,
    ):
        raise ValidationError(
            _("The mapping of an import that has started cannot change; import the file again.")
        )
    mapping = dict(mapping or {})
    defaults = {k: v for k, v in (defaults or {}).items() if v not in (None, "")}
    errors: dict[str, list[str]] = {}
    try:
        fields, _rows = readers.preview(corpus_import.path, corpus_import.format)
    except (readers.ReaderError, OSError, ValueError) as exc:
        raise ValidationError(
            _("The file could not be read: %(error)s") % {"error": str(exc)[:300]}
        ) from exc
    known = set(fields)
    for target in mapping:
        if target not in SCALAR_TARGETS and target != "signals":
            errors.setdefault(target, []).append(_("Unknown target field."))
    text_field = mapping.get("text")
    if not text_field:
        errors.setdefault("text", []).append(_("Say which field holds the text."))
    for target in SCALAR_TARGETS:
        source = mapping.get(target)
        if source and source not in known:
            errors.setdefault(target, []).append(
                _("The file has no field %(field)s.") % {"field": source}
            )
    signals = mapping.get("signals") or []
    if not isinstance(signals, list | tuple):
        errors.setdefault("signals", []).append(_("Give a list of field names."))
        signals = []
    for name in signals:
        if name not in known:
            errors.setdefault("signals", []).append(
                _("The file has no field %(field)s.") % {"field": name}
            )
    for key in defaults:
        if key not in DEFAULT_TARGETS:
            errors.setdefault(key, []).append(_("No default can be given for this field."))
    if "language" in defaults and normalize_language(defaults["language"]) is None:
        errors.setdefault("language", []).append(_("The language must be zh or en."))
    elif "language" in defaults:
        defaults["language"] = normalize_language(defaults["language"])
    if "domain" in defaults or "subdomain" in defaults:
        resolved = _Taxonomy().resolve(defaults.get("domain"), defaults.get("subdomain"))
        if isinstance(resolved, str):
            target = "subdomain" if "subdomain" in resolved else "domain"
            errors.setdefault(target, []).append(
                _("Unknown %(target)s: %(value)s")
                % {"target": target, "value": defaults.get(target, defaults.get("domain"))}
            )
    if errors:
        raise ValidationError(errors)
    corpus_import.mapping = {**mapping, "signals": list(signals)}
    corpus_import.defaults = defaults
    corpus_import.status = ImportStatus.QUEUED
    corpus_import.cancel_requested = False
    corpus_import.error = ""
    corpus_import.save(update_fields=["mapping", "defaults", "status", "cancel_requested", "error"])
    return corpus_import


def corpus_import_start(*, corpus_import: CorpusImport) -> CorpusImport:
    """Queue the import task (after commit); also resumes a cancelled, failed or stalled
    import from its last committed batch."""
    from .import_tasks import run_import

    with transaction.atomic():
        locked = CorpusImport.objects.select_for_update().get(pk=corpus_import.pk)
        if locked.status == ImportStatus.UPLOADED or not locked.mapping.get("text"):
            raise ValidationError(_("Map the fields before starting the import."))
        if locked.status == ImportStatus.DONE:
            raise ValidationError(_("This import is already done."))
        locked.status = ImportStatus.QUEUED
        locked.cancel_requested = False
        locked.error = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "cancel_requested", "error", "finished_at"])
        pk = locked.pk
        transaction.on_commit(lambda: run_import.delay(pk))
    return locked


def corpus_import_cancel(*, corpus_import: CorpusImport) -> CorpusImport:
    """Ask a running import to stop after its current batch; a queued one stops at once.
    Starting it again resumes it."""
    with transaction.atomic():
        locked = CorpusImport.objects.select_for_update().get(pk=corpus_import.pk)
        if locked.status in (ImportStatus.UPLOADED, ImportStatus.QUEUED):
            locked.status = ImportStatus.CANCELLED
            locked.cancel_requested = False
            locked.finished_at = timezone.now()
        elif locked.status == ImportStatus.RUNNING:
            locked.cancel_requested = True
        locked.save(update_fields=["status", "cancel_requested", "finished_at"])
    return locked


# --- The import loop ------------------------------------------------------------------------
def _claim(corpus_import: CorpusImport) -> CorpusImport | None:
    """Mark the import running; ``None`` when there is nothing to do."""
    with transaction.atomic():
        locked = CorpusImport.objects.select_for_update().get(pk=corpus_import.pk)
        if locked.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return None
        if locked.cancel_requested:
            locked.status = ImportStatus.CANCELLED
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "finished_at"])
            return None
        locked.status = ImportStatus.RUNNING
        locked.started_at = locked.started_at or timezone.now()
        locked.error = ""
        locked.save(update_fields=["status", "started_at", "error"])
        return locked


def _finish(corpus_import: CorpusImport, status: str, error: str = "") -> None:
    with transaction.atomic():
        current = CorpusImport.objects.select_for_update().get(pk=corpus_import.pk)
        if current.resume_from != corpus_import.resume_from:
            return  # another run has moved on; it will finish the import
        fields = {"status": status, "error": error[:2000], "finished_at": timezone.now()}
        if status == ImportStatus.DONE:
            fields["rows_total"] = current.rows_read
        if status == ImportStatus.CANCELLED:
            fields["cancel_requested"] = False
        CorpusImport.objects.filter(pk=current.pk).update(**fields)


def _iter_batches(
    rows: Iterator[readers.Row], mapper: _Mapper, corpus_import: CorpusImport, size: int
) -> Iterator[_Batch]:
    batch = _Batch()
    map_row = mapper.map
    pk = corpus_import.pk
    for row in rows:
        batch.read += 1
        if row.error is None:
            result = map_row(row.data)
            if type(result) is tuple:
                h = result[9]
                if h in batch.hashes:
                    batch.in_batch_duplicates += 1
                else:
                    batch.hashes.add(h)
                    batch.rows.append((*result, row.file[:500], row.line))
            else:
                batch.issues.append(
                    ImportIssue(
                        corpus_import_id=pk,
                        file=row.file[:500],
                        line=row.line,
                        reason=result[:500],
                        excerpt=_issue_excerpt(row.data, mapper.text_key),
                    )
                )
        else:
            batch.issues.append(
                ImportIssue(
                    corpus_import_id=pk,
                    file=row.file[:500],
                    line=row.line,
                    reason=row.error[:500],
                    excerpt=row.excerpt[:300],
                )
            )
        if batch.read >= size:
            yield batch
            batch = _Batch()
    if batch.read:
        yield batch


def _issue_excerpt(data: dict[str, Any] | None, text_key: str) -> str:
    if not data:
        return ""
    value = data.get(text_key)
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    return json.dumps(data, ensure_ascii=False, default=str)[:200]


def _write_pipelined(
    corpus_import: CorpusImport,
    batches: Iterator[_Batch],
    on_batch: Callable[[CorpusImport], None] | None,
) -> None:
    """Write batches on a second thread (with its own connection) while this one reads and
    maps the next: PostgreSQL and Python then work at the same time. At most three batches
    exist at once, so memory stays flat. An error on either side stops both and is raised
    here; batches already committed stay committed."""
    pending: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
    failures: list[BaseException] = []

    writer = _Writer(corpus_import)

    def work() -> None:
        try:
            while (batch := pending.get()) is not None:
                _write_batch(corpus_import, writer, batch)
                if on_batch is not None:
                    on_batch(corpus_import)
        except BaseException as exc:  # handed to the reading thread
            failures.append(exc)
            while pending.get() is not None:
                pass
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"import-{corpus_import.pk}-writer", daemon=True)
    thread.start()
    try:
        for batch in batches:
            if failures:
                break
            # Formatting here leaves the writing thread only the waiting on PostgreSQL.
            batch.data = writer.prepare(batch.rows)
            pending.put(batch)
    finally:
        pending.put(None)
        thread.join()
    if failures:
        raise failures[0]


def corpus_import_run(
    *,
    corpus_import: CorpusImport,
    batch_size: int = BATCH,
    on_batch: Callable[[CorpusImport], None] | None = None,
) -> CorpusImport:
    """Import the file: stream, map and commit batch by batch from ``resume_from``.

    Safe to call twice (a redelivered task): it does nothing unless the import is queued or
    running, and a batch only commits while ``resume_from`` is where this run left it.
    Ends ``done``, ``cancelled`` (resumable with ``corpus_import_start``) or ``failed`` with a
    message (also resumable); an unexpected exception is re-raised after marking it failed.
    """
    claimed = _claim(corpus_import)
    if claimed is None:
        corpus_import.refresh_from_db()
        return corpus_import
    imp = claimed
    try:
        if imp.rows_total is None:
            total = readers.count_rows(imp.path, imp.format)
            if total is not None:
                imp.rows_total = total
                CorpusImport.objects.filter(pk=imp.pk).update(rows_total=total)
        max_chars = text_max_chars()
        mapper = _Mapper(imp.mapping, imp.defaults, _Taxonomy(), max_chars)
        rows = readers.read_rows(
            imp.path,
            imp.format,
            file=imp.original_name,
            skip=imp.resume_from,
            max_line_bytes=4 * max_chars + 65_536,
        )
        batches = _iter_batches(rows, mapper, imp, batch_size)
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            _write_pipelined(imp, batches, on_batch)
        else:
            writer = _Writer(imp)
            for batch in batches:
                _write_batch(imp, writer, batch)
                if on_batch is not None:
                    on_batch(imp)
        _finish(imp, ImportStatus.DONE)
    except _Superseded:
        logger.info("Import %s: another run committed first; this one stops.", imp.pk)
    except _Cancelled:
        _finish(imp, ImportStatus.CANCELLED)
    except (readers.ReaderError, OSError, zipfile.BadZipFile) as exc:
        logger.warning("Import %s failed: %s", imp.pk, exc)
        _finish(
            imp, ImportStatus.FAILED, _("The file could not be read: %(error)s") % {"error": exc}
        )
    except Exception as exc:
        logger.exception("Import %s failed", imp.pk)
        _finish(
            imp,
            ImportStatus.FAILED,
            _("The import stopped on an unexpected error: %(error)s") % {"error": exc},
        )
        raise
    corpus_import.refresh_from_db()
    return corpus_import
