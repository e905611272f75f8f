"""Writing import batches: COPY on PostgreSQL, bulk inserts elsewhere, one transaction each."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pairs.models import CorpusImport, CorpusText, ImportIssue, ImportStatus

logger = logging.getLogger(__name__)


class _Superseded(Exception):
    """Another run of the same import committed first; this one stops."""


class _Cancelled(Exception):
    """Cancel was requested; the batch in hand was not written."""


# The values ``_Mapper.map`` returns, in order, then the provenance added per row.
_ROW_COLUMNS = (
    "title",
    "author",
    "source",
    "licence",
    "external_id",
    "text",
    "language",
    "domain_id",
    "subdomain_id",
    "content_hash",
    "length",
    "signals",
    "source_file",
    "source_line",
)


def _copy_escape(value: str) -> str:
    """A string in COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    return value


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if hasattr(value, "obj"):  # psycopg's Jsonb wrapper
        return _copy_escape(json.dumps(value.obj))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return _copy_escape(str(value))


class _Writer:
    """Writes one batch of texts; PostgreSQL through COPY, other databases through the ORM.

    On PostgreSQL the batch's hashes are looked up first and only the new rows are copied
    straight into the table. Should another import insert one of those hashes in between (the
    COPY then fails on the unique constraint), the batch is copied into a temporary table and
    moved with ``INSERT ... ON CONFLICT (content_hash) DO NOTHING`` instead.
    """

    def __init__(self, corpus_import: CorpusImport) -> None:
        self.corpus_import = corpus_import
        self.postgres = connection.vendor == "postgresql"
        self.lz4 = False
        if self.postgres:
            self._prepare_sql()
            with connection.cursor() as cursor:
                # lz4 compresses long texts several times faster than the default pglz.
                cursor.execute(
                    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                    "AND 'lz4' = ANY(enumvals)"
                )
                self.lz4 = cursor.fetchone() is not None

    def _prepare_sql(self) -> None:
        qn = connection.ops.quote_name
        fields = {f.column: f for f in CorpusText._meta.concrete_fields}
        columns = list(_ROW_COLUMNS)
        constants = []
        now = timezone.now()
        for f in CorpusText._meta.concrete_fields:
            if f.primary_key or f.column in _ROW_COLUMNS:
                continue
            if f.name == "corpus_import":
                value = self.corpus_import.pk
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now
            else:
                value = f.get_default()
            columns.append(f.column)
            constants.append(_copy_value(f.get_db_prep_save(value, connection)))
        # Every row ends with the same values for the columns the import does not fill.
        self.suffix = "\t" + "\t".join(constants) + "\n" if constants else "\n"
        table = qn(CorpusText._meta.db_table)
        names = ", ".join(qn(c) for c in columns)
        types = ", ".join(f"{qn(c)} {fields[c].db_type(connection)}" for c in columns)
        temp = "weaver_import_" + sha256(types.encode()).hexdigest()[:12]
        # Identifiers come from the model, never from input.
        self.exists_sql = f"SELECT content_hash FROM {table} WHERE content_hash = ANY(%s)"  # noqa: S608
        self.copy_sql = f"COPY {table} ({names}) FROM STDIN"
        self.create_temp_sql = f"CREATE TEMP TABLE IF NOT EXISTS {temp} ({types})"
        self.copy_temp_sql = f"COPY {temp} ({names}) FROM STDIN"
        self.insert_sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "  # noqa: S608
            f"ON CONFLICT ({qn('content_hash')}) DO NOTHING"
        )
        self.truncate_temp_sql = f"TRUNCATE {temp}"

    def _copy_data(self, rows: list[tuple]) -> bytes:
        esc = _copy_escape
        suffix = self.suffix
        null = "\\N"
        lines = []
        for r in rows:
            d, s = r[7], r[8]
            lines.append(
                f"{esc(r[0])}\t{esc(r[1])}\t{esc(r[2])}\t{esc(r[3])}\t{esc(r[4])}\t"
                f"{esc(r[5])}\t{r[6]}\t{null if d is None else d}\t"
                f"{null if s is None else s}\t{r[9]}\t{r[10]}\t{esc(r[11])}\t"
                f"{esc(r[12])}\t{r[13]}{suffix}"
            )
        return "".join(lines).encode("utf-8")

    def prepare(self, rows: list[tuple]) -> bytes | None:
        """The COPY data of the rows (PostgreSQL), made ahead on the reading thread."""
        return self._copy_data(rows) if self.postgres and rows else None

    def write(self, rows: list[tuple], data: bytes | None = None) -> int:
        """Insert the rows (no duplicate hashes among them); return how many were new.
        ``data`` is ``prepare(rows)`` when it was made ahead."""
        if not rows:
            return 0
        if self.postgres:
            return self._write_postgres(rows, data)
        return self._write_orm(rows)

    def _write_postgres(self, rows: list[tuple], data: bytes | None) -> int:
        from psycopg.errors import UniqueViolation  # COPY errors are not wrapped by Django

        with connection.cursor() as cursor:
            # The batch and its counters commit together, so losing the last commits in a
            # server crash loses nothing that a resume does not redo.
            cursor.execute("SET LOCAL synchronous_commit = off")
            if self.lz4:
                cursor.execute("SET LOCAL default_toast_compression = lz4")
            cursor.execute(self.exists_sql, [[r[9] for r in rows]])
            existing = {h for (h,) in cursor.fetchall()}
            if existing:
                rows = [r for r in rows if r[9] not in existing]
                if not rows:
                    return 0
                data = None
            if data is None:
                data = self._copy_data(rows)
            try:
                with transaction.atomic(), cursor.copy(self.copy_sql) as copy:
                    copy.write(data)
                return len(rows)
            except (IntegrityError, UniqueViolation):
                pass  # another import added one of these texts since the look-up
            cursor.execute(self.create_temp_sql)
            with cursor.copy(self.copy_temp_sql) as copy:
                copy.write(data)
            cursor.execute(self.insert_sql)
            imported = cursor.rowcount
            cursor.execute(self.truncate_temp_sql)
            return imported

    def _write_orm(self, rows: list[tuple]) -> int:
        objects = [
            CorpusText(
                corpus_import_id=self.corpus_import.pk,
                title=r[0],
                author=r[1],
                source=r[2],
                licence=r[3],
                external_id=r[4],
                text=r[5],
                language=r[6],
                domain_id=r[7],
                subdomain_id=r[8],
                content_hash=r[9],
                length=r[10],
                signals=json.loads(r[11]),
                source_file=r[12],
                source_line=r[13],
            )
            for r in rows
        ]
        raw = connection.connection
        before = getattr(raw, "total_changes", None)
        CorpusText.objects.bulk_create(objects, batch_size=500, ignore_conflicts=True)
        if before is not None:
            return raw.total_changes - before
        hashes = [r[9] for r in rows]
        return CorpusText.objects.filter(
            corpus_import_id=self.corpus_import.pk, content_hash__in=hashes
        ).count()


@dataclass
class _Batch:
    rows: list[tuple] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    read: int = 0
    in_batch_duplicates: int = 0
    data: bytes | None = None


def _write_batch(corpus_import: CorpusImport, writer: _Writer, batch: _Batch) -> None:
    """Commit one batch with the counters, if this run still owns the import."""
    with transaction.atomic():
        current = (
            CorpusImport.objects.select_for_update()
            .only("resume_from", "cancel_requested", "status")
            .get(pk=corpus_import.pk)
        )
        if current.resume_from != corpus_import.resume_from or current.status != (
            ImportStatus.RUNNING
        ):
            raise _Superseded
        if current.cancel_requested:
            raise _Cancelled
        imported = writer.write(batch.rows, batch.data)
        if batch.issues:
            ImportIssue.objects.bulk_create(batch.issues, ignore_conflicts=True)
        corpus_import.rows_read += batch.read
        corpus_import.resume_from += batch.read
        corpus_import.imported += imported
        corpus_import.duplicates += len(batch.rows) - imported + batch.in_batch_duplicates
        corpus_import.errors += len(batch.issues)
        corpus_import.save(
            update_fields=["rows_read", "resume_from", "imported", "duplicates", "errors"]
        )
