"""Services of corpus imports: upload, mapping, the streaming import loop, cancel and resume.

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
import math
import queue
import re
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from pairs.models import CorpusImport, CorpusText, ImportFormat, ImportIssue, ImportStatus

from . import readers
from .normalize import hash_key

logger = logging.getLogger(__name__)

BATCH = 2_000
CHUNK_BYTES = 1 << 20
LANGUAGES = ("zh", "en")
SCALAR_TARGETS = (
    "text",
    "title",
    "author",
    "language",
    "domain",
    "subdomain",
    "licence",
    "source",
    "external_id",
)
DEFAULT_TARGETS = ("title", "author", "language", "domain", "subdomain", "licence", "source")
_ZH_NAMES = {"zh", "cn", "chi", "zho", "chinese", "mandarin", "中文", "汉语", "漢語", "华语"}
_EN_NAMES = {"en", "eng", "english", "英文", "英语", "英語"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
DETECT_SAMPLE = 2_000
ZH_SHARE = 0.3


def upload_max_bytes() -> int:
    """The largest upload accepted, in bytes."""
    return int(getattr(settings, "WEAVER_CORPUS_UPLOAD_MAX_BYTES", 2 * 1024**3))


def text_max_chars() -> int:
    """The longest text accepted, in characters."""
    return int(getattr(settings, "WEAVER_CORPUS_TEXT_MAX_CHARS", 200_000))


def imports_dir() -> Path:
    """Where uploads are stored: ``DATA_DIR/imports/``."""
    return Path(settings.DATA_DIR) / "imports"


def _too_large_message(limit: int) -> str:
    return _("The file is larger than the upload limit of %(limit)s bytes (%(mib).1f MiB).") % {
        "limit": limit,
        "mib": limit / 1024**2,
    }


# --- Upload ---------------------------------------------------------------------------------
class LimitedUploadHandler(FileUploadHandler):
    """Refuses a request body over ``WEAVER_CORPUS_UPLOAD_MAX_BYTES`` before it is stored.

    Put it first: ``request.upload_handlers.insert(0, LimitedUploadHandler(request))`` in a
    ``csrf_exempt`` view that then applies ``csrf_protect`` (Django's documented pattern), before
    ``request.POST``/``request.FILES`` are read. A declared ``Content-Length`` over the limit is
    refused without reading the body; otherwise the bytes are counted as they arrive and the
    upload is stopped (the connection reset) as soon as they pass the limit, so the handlers
    after this one never see the rest. Either way ``request.upload_over_limit`` is set to the
    limit and ``request.FILES`` holds no file; the view answers with ``_too_large_message``.
    """

    def __init__(self, request=None, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = upload_max_bytes() if limit is None else limit
        self.received = 0

    def _refuse(self) -> None:
        if self.request is not None:
            self.request.upload_over_limit = self.limit

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        """Answer for the whole request, with no data, when the declared length is too big."""
        if content_length and content_length > self.limit:
            from django.http import QueryDict
            from django.utils.datastructures import MultiValueDict

            self._refuse()
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, *args, **kwargs) -> None:
        """Refuse at once when the request already announced too many bytes."""
        super().new_file(*args, **kwargs)
        if self.content_length and self.content_length > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Count the bytes; stop the upload as soon as they pass the limit."""
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        """Leave the file to the next handler."""
        return None


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name
    try:
        safe = get_valid_filename(base)
    except Exception:  # noqa: BLE001 - Django raises SuspiciousFileOperation for "" and ".."
        safe = ""
    return (safe or "upload")[:200]


def _unpack_hf_zip(archive: Path, folder: Path, limit: int) -> Path:
    """Unpack a zip of a saved dataset into ``folder`` (no path leaves it; the unpacked size
    is capped at 4 times the upload limit); return the dataset's root folder."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ValidationError({"uploaded_file": _("This is not a zip file.")}) from exc
    with zf:
        members = zf.infolist()
        if sum(m.file_size for m in members) > 4 * limit:
            raise ValidationError({"uploaded_file": _("The unpacked dataset is too large.")})
        root = folder.resolve()
        for member in members:
            target = (folder / member.filename).resolve()
            if root != target and root not in target.parents:
                raise ValidationError(
                    {"uploaded_file": _("The zip holds a path outside its folder.")}
                )
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
    try:
        return readers.hf_dataset_root(folder)
    except readers.ReaderError as exc:
        raise ValidationError(
            {
                "uploaded_file": _(
                    "The zip holds no dataset saved with save_to_disk "
                    "(no state.json or dataset_dict.json)."
                )
            }
        ) from exc


def corpus_import_create(*, uploaded_file, format: str, name: str, created_by) -> CorpusImport:
    """Store an upload under ``DATA_DIR/imports/<uuid>/`` chunk by chunk and record it.

    Refuses a file over ``WEAVER_CORPUS_UPLOAD_MAX_BYTES`` (by its declared size first, then
    by the bytes actually written) and removes whatever was written. A Hugging Face dataset
    arrives as a zip of the ``save_to_disk`` folder and is unpacked; ``path`` is then the
    dataset's folder.
    """
    if format not in ImportFormat.values:
        raise ValidationError({"format": _("Unknown format: %(format)s") % {"format": format}})
    limit = upload_max_bytes()
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise ValidationError({"uploaded_file": _too_large_message(limit)})
    original = str(getattr(uploaded_file, "name", "") or "upload")
    folder = imports_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / _safe_name(original)
    written = 0
    try:
        with open(target, "wb") as out:
            for chunk in uploaded_file.chunks(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise ValidationError({"uploaded_file": _too_large_message(limit)})
                out.write(chunk)
        path = target
        if format == ImportFormat.HF_DISK:
            path = _unpack_hf_zip(target, folder / "dataset", limit)
            target.unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return CorpusImport.objects.create(
        name=(name or original)[:200],
        format=format,
        path=str(path),
        original_name=original[:255],
        size_bytes=written,
        created_by=created_by,
    )


# --- Mapping --------------------------------------------------------------------------------
def _slug(value: Any) -> str:
    return str(value).strip().lower().replace("-", "_").replace(" ", "_")


def normalize_language(value: Any) -> str | None:
    """``zh`` or ``en`` for the usual ways of naming them (``zh-Hans``, ``Chinese``, ``中文``,
    ``en-GB``, ``English`` ...); ``None`` otherwise."""
    if value is None:
        return None
    v = str(value).strip().lower().replace("_", "-")
    if not v:
        return None
    if v in _ZH_NAMES or v.startswith("zh-") or v.startswith("中文"):
        return "zh"
    if v in _EN_NAMES or v.startswith("en-"):
        return "en"
    return None


def detect_language(key: str) -> str:
    """``zh`` when at least 30% of the first non-whitespace characters are Han, else ``en``."""
    sample = key[:DETECT_SAMPLE]
    if not sample:
        return "en"
    return "zh" if len(_HAN.findall(sample)) >= ZH_SHARE * len(sample) else "en"


class _Taxonomy:
    """Domain and subdomain ids by slug, loaded once per run."""

    def __init__(self) -> None:
        from principles.models import Domain, Subdomain

        self.domains = {d.slug: d.pk for d in Domain.objects.all()}
        self.subdomains: dict[tuple[int, str], int] = {}
        self.by_sub_slug: dict[str, list[tuple[int, int]]] = {}
        for s in Subdomain.objects.all():
            self.subdomains[(s.domain_id, s.slug)] = s.pk
            self.by_sub_slug.setdefault(s.slug, []).append((s.domain_id, s.pk))
        self._cache: dict[tuple[Any, Any], tuple[int | None, int | None] | str] = {}

    def resolve(self, domain: Any, subdomain: Any) -> tuple[int | None, int | None] | str:
        """``(domain_id, subdomain_id)`` or the reason the values are refused."""
        key = (domain, subdomain)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(domain, subdomain)
            if len(self._cache) < 10_000:
                self._cache[key] = hit
        return hit

    def _resolve(self, domain: Any, subdomain: Any) -> tuple[int | None, int | None] | str:
        d = _slug(domain) if domain not in (None, "") else ""
        s = _slug(subdomain) if subdomain not in (None, "") else ""
        domain_id = sub_id = None
        if d:
            domain_id = self.domains.get(d)
            if domain_id is None:
                matches = self.by_sub_slug.get(d, [])
                if len(matches) != 1 or s:
                    return f"unknown domain {str(domain)[:100]!r}"
                domain_id, sub_id = matches[0]
        if s:
            if domain_id is not None:
                sub_id = self.subdomains.get((domain_id, s))
                if sub_id is None:
                    return f"unknown subdomain {str(subdomain)[:100]!r} for domain {d!r}"
            else:
                matches = self.by_sub_slug.get(s, [])
                if len(matches) != 1:
                    return f"unknown subdomain {str(subdomain)[:100]!r}"
                domain_id, sub_id = matches[0]
        return domain_id, sub_id


@dataclass
class _Mapper:
    """Turns a source record into the values of a ``CorpusText`` row (or a reason)."""

    mapping: dict[str, Any]
    defaults: dict[str, Any]
    taxonomy: _Taxonomy
    max_chars: int = field(default_factory=text_max_chars)

    def __post_init__(self) -> None:
        m, d = self.mapping, self.defaults
        self.text_key = m.get("text") or "text"
        self.keys = {t: m.get(t) for t in SCALAR_TARGETS if t != "text"}
        self.signal_keys = [str(k) for k in (m.get("signals") or [])]
        self.default_language = normalize_language(d.get("language"))

    def _value(self, data: dict[str, Any], target: str, limit: int) -> str:
        key = self.keys.get(target)
        value = data.get(key) if key else None
        if value is None or value == "":
            value = self.defaults.get(target)
        if value is None:
            return ""
        value = value if isinstance(value, str) else str(value)
        return value[:limit] if len(value) > limit else value

    def map(self, data: dict[str, Any]) -> tuple | str:
        """``(title, author, source, licence, external_id, text, language, domain_id,
        subdomain_id, content_hash, length, signals_json)`` or the reason for refusing."""
        text = data.get(self.text_key)
        if text is None:
            return "missing text"
        if not isinstance(text, str):
            if isinstance(text, dict | list | bool):
                return f"text field {self.text_key!r} is not text"
            text = str(text)
        if len(text) > self.max_chars:
            return (
                f"text over the size limit ({len(text)} characters; the limit is {self.max_chars})"
            )
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.strip()
        if not text:
            return "missing text"
        if "\x00" in text:
            return "text contains a NUL character"
        key = hash_key(text)
        lang_key = self.keys["language"]
        language = normalize_language(data.get(lang_key)) if lang_key else None
        if language is None:
            language = self.default_language or detect_language(key)
        dkey, skey = self.keys["domain"], self.keys["subdomain"]
        dval = data.get(dkey) if dkey else None
        sval = data.get(skey) if skey else None
        if dval is None or dval == "":
            dval = self.defaults.get("domain")
        if sval is None or sval == "":
            sval = self.defaults.get("subdomain")
        if dval or sval:
            resolved = self.taxonomy.resolve(dval, sval)
            if type(resolved) is str:
                return resolved
            domain_id, subdomain_id = resolved
        else:
            domain_id = subdomain_id = None
        signals = "{}"
        if self.signal_keys:
            values = {}
            for name in self.signal_keys:
                raw = data.get(name)
                if raw is None or raw == "":
                    continue
                if isinstance(raw, bool):
                    raw = float(raw)
                try:
                    number = float(raw)
                except (TypeError, ValueError):
                    return f"signal {name!r} is not a number: {str(raw)[:50]!r}"
                if not math.isfinite(number):
                    return f"signal {name!r} is not a finite number: {str(raw)[:50]!r}"
                values[name] = number
            if values:
                signals = json.dumps(values)
        return (
            self._value(data, "title", 500),
            self._value(data, "author", 200),
            self._value(data, "source", 500),
            self._value(data, "licence", 200),
            self._value(data, "external_id", 200),
            text,
            language,
            domain_id,
            subdomain_id,
            sha256(key.encode("utf-8")).hexdigest(),
            len(key),
            signals,
        )


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
