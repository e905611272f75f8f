"""Principle import and export as JSON (schema: ``docs/principles-json.md``).

An import is all or nothing: every record is checked first and any error refuses the whole
file, naming the record, its line and the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import policy, services
from .models import Domain, Language, Principle, Task
from .selectors import principle_display_version

FORMAT = "weaver-principles"
FORMAT_VERSION = 1
MAX_RECORDS = 10_000
CASE_KEYS = ("instruction", "text", "rationale")
RECORD_KEYS = {
    "domain",
    "task",
    "language",
    "title",
    "description",
    "following",
    "violating",
    "change_note",
    # Written by export, ignored by import:
    "id",
    "version",
    "status",
    "owner",
    "approved_version",
    "updated_at",
}


@dataclass(frozen=True)
class ImportIssue:
    message: str
    record: int | None = None  # 1-based position in the "principles" list
    field: str | None = None  # JSON path inside the record, e.g. "violating.text"
    line: int | None = None  # line of the file where the record (or the syntax error) is

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(_("line %(n)d") % {"n": self.line})
        if self.record is not None:
            where.append(_("record %(n)d") % {"n": self.record})
        if self.field:
            where.append(_("field “%(f)s”") % {"f": self.field})
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {**asdict(self), "text": str(self)}


class ImportRejected(Exception):
    def __init__(self, issues: list[ImportIssue]):
        super().__init__("; ".join(str(i) for i in issues[:5]))
        self.issues = issues


def _record_lines(text: str) -> list[int]:
    """The 1-based line on which each record of the principles list starts.

    Called on text that already parsed, so the walk below cannot meet a syntax error.
    """
    decoder = json.JSONDecoder()
    ws = " \t\r\n"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    def array_starts(i: int) -> list[int]:
        starts = []
        i = skip(i + 1)  # past "["
        while text[i] != "]":
            starts.append(i)
            _, i = decoder.raw_decode(text, i)
            i = skip(i)
            if text[i] == ",":
                i = skip(i + 1)
        return starts

    i = skip(0)
    starts: list[int] = []
    if text[i] == "[":
        starts = array_starts(i)
    elif text[i] == "{":
        i = skip(i + 1)
        while text[i] != "}":
            key, i = decoder.raw_decode(text, i)
            i = skip(skip(i) + 1)  # past ":"
            if key == "principles" and text[i] == "[":
                starts = array_starts(i)
            _, i = decoder.raw_decode(text, i)
            i = skip(i)
            if text[i] == ",":
                i = skip(i + 1)
    return [text.count("\n", 0, s) + 1 for s in starts]


def _parse(data: bytes | str) -> tuple[list, list[int]]:
    if isinstance(data, bytes):
        if len(data) > settings.WEAVER_IMPORT_MAX_BYTES:
            raise ImportRejected(
                [
                    ImportIssue(
                        _("The file is larger than %(max)d bytes.")
                        % {"max": settings.WEAVER_IMPORT_MAX_BYTES}
                    )
                ]
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ImportRejected(
                [
                    ImportIssue(
                        _("The file is not UTF-8 (byte %(b)d).") % {"b": exc.start}, line=line
                    )
                ]
            ) from None
    else:
        text = data
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRejected(
            [
                ImportIssue(
                    _("Invalid JSON: %(msg)s (column %(col)d).")
                    % {"msg": exc.msg, "col": exc.colno},
                    line=exc.lineno,
                )
            ]
        ) from None
    if isinstance(doc, dict):
        if doc.get("format", FORMAT) != FORMAT:
            raise ImportRejected(
                [
                    ImportIssue(
                        _("Unknown format “%(f)s”; expected “%(e)s”.")
                        % {"f": doc.get("format"), "e": FORMAT},
                        field="format",
                    )
                ]
            )
        if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise ImportRejected(
                [
                    ImportIssue(
                        _("Unsupported version %(v)s; expected %(e)d.")
                        % {"v": doc.get("version"), "e": FORMAT_VERSION},
                        field="version",
                    )
                ]
            )
        records = doc.get("principles")
        if not isinstance(records, list):
            raise ImportRejected(
                [
                    ImportIssue(
                        _("Expected a list of principles under “principles”."), field="principles"
                    )
                ]
            )
    elif isinstance(doc, list):
        records = doc
    else:
        raise ImportRejected([ImportIssue(_("Expected an object with “principles”, or a list."))])
    if not records:
        raise ImportRejected([ImportIssue(_("The file holds no principles."))])
    if len(records) > MAX_RECORDS:
        raise ImportRejected(
            [ImportIssue(_("At most %(n)d principles per file.") % {"n": MAX_RECORDS})]
        )
    return records, _record_lines(text)


def _field_path(model_field: str) -> str:
    for side in ("following", "violating"):
        if model_field.startswith(side + "_"):
            return f"{side}.{model_field[len(side) + 1 :]}"
    return model_field


def _check_record(record, *, n: int, line: int | None, domains: dict, tasks: dict):
    """Return (placement, content, note, issues) for one record."""
    issues: list[ImportIssue] = []

    def issue(message: str, field: str | None = None):
        issues.append(ImportIssue(message, record=n, field=field, line=line))

    if not isinstance(record, dict):
        issue(_("A principle must be a JSON object."))
        return None, None, "", issues
    for key in sorted(set(record) - RECORD_KEYS):
        issue(_("Unknown field."), key)

    domain = None
    slug = record.get("domain")
    if slug in (None, ""):
        issue(_("This field is required."), "domain")
    elif not isinstance(slug, str) or slug not in domains:
        issue(
            _("Unknown domain “%(v)s”; known: %(known)s.")
            % {"v": slug, "known": ", ".join(sorted(domains))},
            "domain",
        )
    else:
        domain = domains[slug]

    task = None
    task_slug = record.get("task")
    if task_slug not in (None, "", "all"):
        if not isinstance(task_slug, str) or task_slug not in tasks:
            issue(
                _("Unknown task “%(v)s”; known: %(known)s, or null for all tasks.")
                % {"v": task_slug, "known": ", ".join(sorted(tasks))},
                "task",
            )
        else:
            task = tasks[task_slug]

    language = record.get("language")
    if language in (None, ""):
        issue(_("This field is required."), "language")
    elif language not in Language.values:
        issue(_("Unknown language “%(v)s”; use zh or en.") % {"v": language}, "language")

    content: dict = {"title": record.get("title"), "description": record.get("description")}
    for side in ("following", "violating"):
        case = record.get(side)
        if case is None:
            issue(_("This field is required."), side)
            continue
        if not isinstance(case, dict):
            issue(_("Expected an object with instruction, text and rationale."), side)
            continue
        for key in sorted(set(case) - set(CASE_KEYS)):
            issue(_("Unknown field."), f"{side}.{key}")
        for key in CASE_KEYS:
            content[f"{side}_{key}"] = case.get(key)
    try:
        content = services.principle_content_validate(content=content)
    except ValidationError as exc:
        for fname, messages in exc.message_dict.items():
            if (
                fname.split("_")[0] in ("following", "violating")
                and record.get(fname.split("_")[0]) is None
            ):
                continue  # already reported as a missing case
            for message in messages:
                issue(message, _field_path(fname))
    note = record.get("change_note") or ""
    if not isinstance(note, str):
        issue(_("Expected text."), "change_note")
        note = ""
    return (domain, task, language), content, note, issues


def principles_import(*, user, data: bytes | str) -> list[Principle]:
    """Create one draft principle per record, owned by ``user``; all or nothing."""
    if not policy.can_create(user):
        raise ImportRejected([ImportIssue(_("Only authors and admins import principles."))])
    records, lines = _parse(data)
    domains = {d.slug: d for d in Domain.objects.all()}
    tasks = {t.slug: t for t in Task.objects.all()}
    checked, issues = [], []
    for n, record in enumerate(records, start=1):
        line = lines[n - 1] if n - 1 < len(lines) else None
        placement, content, note, found = _check_record(
            record, n=n, line=line, domains=domains, tasks=tasks
        )
        issues.extend(found)
        checked.append((placement, content, note))
    if issues:
        raise ImportRejected(issues)
    created = []
    with transaction.atomic():
        for (domain, task, language), content, note in checked:
            created.append(
                services.principle_create(
                    owner=user,
                    domain=domain,
                    task=task,
                    language=language,
                    content=content,
                    change_note=note or _("Imported"),
                )
            )
    return created


def principle_record(*, user, principle: Principle) -> dict:
    version = principle_display_version(user=user, principle=principle)
    record = {
        "id": principle.pk,
        "domain": principle.domain.slug,
        "task": principle.task.slug if principle.task_id else None,
        "language": principle.language,
        "status": principle.status,
        "owner": principle.owner.username,
        "version": version.number if version else None,
        "approved_version": principle.approved_version.number
        if principle.approved_version_id
        else None,
    }
    if version is not None:
        record.update(
            {
                "title": version.title,
                "description": version.description,
                "following": {k: getattr(version, f"following_{k}") for k in CASE_KEYS},
                "violating": {k: getattr(version, f"violating_{k}") for k in CASE_KEYS},
                "change_note": version.change_note,
            }
        )
    return record


def principles_export(*, user, queryset) -> dict:
    """The visible principles of ``queryset`` in the import format, as each viewer sees them."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "principles": [principle_record(user=user, principle=p) for p in queryset],
    }
