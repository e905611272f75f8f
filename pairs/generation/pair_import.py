"""Importing ready-made instruction pairs from a JSONL file, and reading the imports back.

One line, one pair::

    {"instruction": "...", "response": "...", "task": "content_writing", "language": "en",
     "context": "...", "domain": "fiction", "subdomain": "poetry", "metadata": {...}}

``instruction``, ``response``, ``task`` (a task slug) and ``language`` (``zh`` or ``en``) are
required; ``context``, ``domain`` and ``subdomain`` (slugs; a subdomain needs its domain) and
``metadata`` (an object) are optional; any other key is kept in the metadata too. Strings are
stripped, with ``\\r\\n`` turned into ``\\n``, and each is held to
``WEAVER_CORPUS_TEXT_MAX_CHARS`` characters.

A refused line becomes a :class:`PairImportIssue` per problem (line, field, reason, excerpt)
while the good lines import. A pair whose instruction, context and response are already there
(in the same file, or imported earlier) is an exact duplicate: skipped and counted, so
importing the same file twice adds nothing.

An import is written in one transaction: its pairs (bulk inserts in batches), its issues and
its counters commit together, or nothing does.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from hashlib import sha256
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from pairs.corpus.readers import read_jsonl
from pairs.corpus.uploads import text_max_chars
from pairs.models import InstructionPair, PairImport, PairImportIssue, PairOrigin, PairStatus
from principles.models import Domain, Language, Subdomain, Task

BATCH_SIZE = 500
# Issues kept per import; refused rows past this are still counted in ``errors``.
MAX_ISSUES = 10_000
KNOWN_FIELDS = (
    "instruction",
    "response",
    "task",
    "language",
    "context",
    "domain",
    "subdomain",
    "metadata",
)
EXCERPT_CHARS = 200
REASON_CHARS = 500
VALUE_CHARS = 100
CHUNK_BYTES = 1 << 20
# Room for the multipart envelope around a file at the limit (upload handlers see the body).
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def upload_max_bytes() -> int:
    """The largest pair file accepted, in bytes."""
    return int(settings.WEAVER_IMPORT_MAX_BYTES)


def too_large_message(limit: int) -> str:
    return _("The file is larger than the limit of %(limit)s bytes (%(mib).1f MiB).") % {
        "limit": limit,
        "mib": limit / 1024**2,
    }


# --- Reads ----------------------------------------------------------------------------------
def pair_import_list() -> QuerySet[PairImport]:
    return PairImport.objects.select_related("created_by").order_by("-created_at", "-id")


def pair_import_get(*, pk: int) -> PairImport | None:
    return pair_import_list().filter(pk=pk).first()


def pair_import_issues(*, pair_import: PairImport) -> QuerySet[PairImportIssue]:
    return pair_import.issues.order_by("line", "id")


# --- Checking one row -----------------------------------------------------------------------
def _safe(text: str) -> str:
    """Text the database can store: no NUL, no lone surrogate."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _shown(value: Any) -> str:
    """A value quoted for a reason, shortened."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > VALUE_CHARS:
        text = text[:VALUE_CHARS] + "…"
    return f'"{text}"'


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _("a boolean")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("an object")
    return type(value).__name__


def _bad_string(value: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in value:
        return _("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("contains an invalid character (a lone surrogate)")
    return None


def _bad_json(value: Any) -> str | None:
    """Why a JSON value cannot be stored (NUL, lone surrogates, NaN anywhere in it), or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _bad_string(item)
            if problem:
                return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return _("contains NaN or Infinity, which JSON does not allow")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class _Taxonomy:
    """Task, domain and subdomain ids by slug, loaded once per import."""

    def __init__(self) -> None:
        self.tasks = dict(Task.objects.order_by("position", "slug").values_list("slug", "id"))
        self.domains = dict(Domain.objects.order_by("position", "slug").values_list("slug", "id"))
        self.domain_slugs = {pk: slug for slug, pk in self.domains.items()}
        self.subdomains: dict[tuple[int, str], int] = {}
        self.subdomains_of: dict[int, list[str]] = {}
        for pk, domain_id, slug in Subdomain.objects.order_by(
            "domain__position", "position", "slug"
        ).values_list("id", "domain_id", "slug"):
            self.subdomains[(domain_id, slug)] = pk
            self.subdomains_of.setdefault(domain_id, []).append(slug)
        self.subdomain_domains: dict[str, list[str]] = {}
        for (domain_id, slug), _pk in self.subdomains.items():
            self.subdomain_domains.setdefault(slug, []).append(self.domain_slugs[domain_id])


class _Row:
    """The problems of one line, and the cleaned values as they are checked."""

    def __init__(self, data: dict[str, Any], max_chars: int) -> None:
        self.data = data
        self.max_chars = max_chars
        self.problems: list[tuple[str, str]] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def text(self, field: str, *, required: bool) -> str:
        value = self.data.get(field)
        if value is None:
            if required:
                self.problem(field, _("missing"))
            return ""
        if not isinstance(value, str):
            self.problem(field, _("not a string (got %(type)s)") % {"type": _type_name(value)})
            return ""
        if "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        value = value.strip()
        if not value:
            if required:
                self.problem(field, _("blank"))
            return ""
        if len(value) > self.max_chars:
            self.problem(
                field,
                _("over the size limit (%(n)d characters; the limit is %(max)d)")
                % {"n": len(value), "max": self.max_chars},
            )
            return ""
        bad = _bad_string(value)
        if bad:
            self.problem(field, bad)
            return ""
        return value

    def slug(self, field: str, *, required: bool) -> str | None:
        value = self.data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(field, _("missing"))
            return None
        if not isinstance(value, str):
            self.problem(field, _("not a string (got %(type)s)") % {"type": _type_name(value)})
            return None
        return value.strip()


def _known(slugs) -> str:
    return ", ".join(slugs) or "—"


def _check(data: dict[str, Any], taxonomy: _Taxonomy, max_chars: int) -> dict | _Row:
    """The values of the pair, or the row with its problems."""
    row = _Row(data, max_chars)
    instruction = row.text("instruction", required=True)
    context = row.text("context", required=False)
    response = row.text("response", required=True)

    task_id = None
    task = row.slug("task", required=True)
    if task is not None:
        task_id = taxonomy.tasks.get(task)
        if task_id is None:
            row.problem(
                "task",
                _("unknown task %(value)s; known: %(known)s")
                % {"value": _shown(task), "known": _known(taxonomy.tasks)},
            )

    language = row.slug("language", required=True)
    if language is not None:
        if language.lower() in Language.values:
            language = language.lower()
        else:
            row.problem(
                "language",
                _("unknown language %(value)s; use one of: %(known)s")
                % {"value": _shown(language), "known": _known(Language.values)},
            )

    domain_id = subdomain_id = None
    domain = row.slug("domain", required=False)
    if domain is not None:
        domain_id = taxonomy.domains.get(domain)
        if domain_id is None:
            row.problem(
                "domain",
                _("unknown domain %(value)s; known: %(known)s")
                % {"value": _shown(domain), "known": _known(taxonomy.domains)},
            )
    subdomain = row.slug("subdomain", required=False)
    if subdomain is not None:
        if domain is None:
            row.problem(
                "subdomain",
                _("subdomain %(value)s needs a domain") % {"value": _shown(subdomain)},
            )
        elif domain_id is not None:
            subdomain_id = taxonomy.subdomains.get((domain_id, subdomain))
            if subdomain_id is None:
                owners = taxonomy.subdomain_domains.get(subdomain)
                message = (
                    _(
                        "subdomain %(value)s belongs to %(owners)s, not to domain "
                        "%(domain)s; its subdomains: %(known)s"
                    )
                    if owners
                    else _("unknown subdomain %(value)s of domain %(domain)s; known: %(known)s")
                )
                row.problem(
                    "subdomain",
                    message
                    % {
                        "value": _shown(subdomain),
                        "owners": _known(owners or ()),
                        "domain": _shown(domain),
                        "known": _known(taxonomy.subdomains_of.get(domain_id, ())),
                    },
                )

    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        row.problem("metadata", _("not an object (got %(type)s)") % {"type": _type_name(metadata)})
        metadata = {}
    extras = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    metadata = {**extras, **metadata}
    bad = _bad_json(metadata)
    if bad:
        row.problem("metadata", bad)

    if row.problems:
        return row
    key = f"{instruction}\x00{context}\x00{response}"
    return {
        "instruction": instruction,
        "context": context,
        "response": response,
        "task_id": task_id,
        "language": language,
        "domain_id": domain_id,
        "subdomain_id": subdomain_id,
        "metadata": metadata,
        "content_hash": sha256(key.encode("utf-8")).hexdigest(),
    }


def _row_excerpt(data: dict[str, Any]) -> str:
    return _safe(json.dumps(data, ensure_ascii=False, default=str)[:EXCERPT_CHARS])


# --- Writing --------------------------------------------------------------------------------
class _Batches:
    """Pairs and issues waiting to be inserted, flushed every ``BATCH_SIZE``."""

    def __init__(self, pair_import: PairImport) -> None:
        self.pair_import = pair_import
        self.pairs: list[InstructionPair] = []
        self.issues: list[PairImportIssue] = []
        self.issues_kept = 0

    def add_issue(self, line: int, field: str, reason: str, excerpt: str) -> None:
        if self.issues_kept >= MAX_ISSUES:
            return
        self.issues_kept += 1
        self.issues.append(
            PairImportIssue(
                pair_import=self.pair_import,
                line=line,
                field=field[:64],
                reason=_safe(reason)[:REASON_CHARS],
                excerpt=_safe(excerpt)[:300],
            )
        )
        if len(self.issues) >= BATCH_SIZE:
            self.flush_issues()

    def add_pair(self, pair: InstructionPair) -> None:
        self.pairs.append(pair)
        if len(self.pairs) >= BATCH_SIZE:
            self.flush_pairs()

    def flush_issues(self) -> None:
        if self.issues:
            PairImportIssue.objects.bulk_create(self.issues, batch_size=BATCH_SIZE)
            self.issues = []

    def flush_pairs(self) -> None:
        """Insert the new pairs; those already imported (by an earlier import, or one
        committed meanwhile) are skipped by the unique hash and counted at the end."""
        if not self.pairs:
            return
        hashes = [p.content_hash for p in self.pairs]
        existing = set(
            InstructionPair.objects.filter(
                origin=PairOrigin.IMPORT, content_hash__in=hashes
            ).values_list("content_hash", flat=True)
        )
        new = [p for p in self.pairs if p.content_hash not in existing]
        self.pairs = []
        if new:
            InstructionPair.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)

    def flush(self) -> None:
        self.flush_pairs()
        self.flush_issues()


def instruction_pairs_import(
    *,
    path: str | Path,
    original_name: str,
    name: str = "",
    created_by=None,
    keep: bool = False,
) -> PairImport:
    """Import the pairs of the JSONL file at ``path``; return the import with its counters.

    Raises ``ValidationError`` (on ``file``) when the file cannot be read; nothing is written
    then, nor when anything else fails part way.
    """
    original_name = str(original_name or Path(path).name)
    max_chars = text_max_chars()
    status = PairStatus.KEPT if keep else PairStatus.GENERATED
    try:
        with transaction.atomic():
            pair_import = PairImport.objects.create(
                name=(name or original_name)[:200],
                original_name=original_name[:255],
                created_by=created_by,
            )
            taxonomy = _Taxonomy()
            batches = _Batches(pair_import)
            seen: set[str] = set()
            read = valid = errors = 0
            rows = read_jsonl(path, file=original_name, max_line_bytes=12 * max_chars + 65_536)
            for row in rows:
                read += 1
                if row.error is not None:
                    errors += 1
                    batches.add_issue(row.line, "", row.error, row.excerpt)
                    continue
                result = _check(row.data, taxonomy, max_chars)
                if isinstance(result, _Row):
                    errors += 1
                    excerpt = _row_excerpt(row.data)
                    for field, message in result.problems:
                        reason = _('field "%(field)s": %(problem)s') % {
                            "field": field,
                            "problem": message,
                        }
                        batches.add_issue(row.line, field, reason, excerpt)
                    continue
                valid += 1
                if result["content_hash"] in seen:
                    continue
                seen.add(result["content_hash"])
                batches.add_pair(
                    InstructionPair(
                        origin=PairOrigin.IMPORT,
                        status=status,
                        pair_import=pair_import,
                        source_line=row.line,
                        **result,
                    )
                )
            batches.flush()
            pair_import.rows_read = read
            pair_import.errors = errors
            pair_import.imported = InstructionPair.objects.filter(pair_import=pair_import).count()
            pair_import.duplicates = valid - pair_import.imported
            pair_import.save(update_fields=["rows_read", "errors", "imported", "duplicates"])
    except (OSError, RecursionError) as exc:
        # RecursionError: a line nested too deeply for the JSON parser.
        raise ValidationError(
            {"file": _("The file could not be read: %(error)s") % {"error": exc}}
        ) from exc
    return pair_import


def instruction_pairs_import_upload(
    *, uploaded_file, name: str = "", created_by=None, keep: bool = False
) -> PairImport:
    """Import an uploaded file (a Django ``UploadedFile``): refuse it on ``file`` when it is
    over ``WEAVER_IMPORT_MAX_BYTES``, otherwise spool it to a temporary file, import it and
    remove the temporary file."""
    limit = upload_max_bytes()
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise ValidationError({"file": too_large_message(limit)})
    original = Path(str(getattr(uploaded_file, "name", "") or "upload.jsonl")).name
    fd, tmp = tempfile.mkstemp(prefix="weaver-pairs-", suffix=".jsonl")
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in uploaded_file.chunks(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise ValidationError({"file": too_large_message(limit)})
                out.write(chunk)
        return instruction_pairs_import(
            path=tmp, original_name=original, name=name, created_by=created_by, keep=keep
        )
    finally:
        Path(tmp).unlink(missing_ok=True)
