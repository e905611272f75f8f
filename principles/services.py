"""Writes to the principle library. Every function checks the acting user's rights."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import policy
from .models import (
    Domain,
    FewShotCase,
    FewShotCaseVersion,
    Language,
    Principle,
    PrincipleStatus,
    PrincipleVersion,
    Subdomain,
    Task,
    VersionState,
)

REQUIRED_CONTENT = PrincipleVersion.CONTENT_FIELDS
TITLE_MAX = PrincipleVersion._meta.get_field("title").max_length
NOTE_MAX = PrincipleVersion._meta.get_field("change_note").max_length


def principle_content_validate(*, content: dict) -> dict[str, str]:
    """Clean the content fields of a version; raise ValidationError naming each bad field."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field in REQUIRED_CONTENT:
        value = content.get(field)
        if value is None or not isinstance(value, str) or not value.strip():
            errors.setdefault(field, []).append(_("This field is required."))
            continue
        cleaned[field] = value.strip().replace("\r\n", "\n")
    if "title" in cleaned and len(cleaned["title"]) > TITLE_MAX:
        errors.setdefault("title", []).append(_("At most %(max)d characters.") % {"max": TITLE_MAX})
    if "following_text" in cleaned and cleaned.get("following_text") == cleaned.get(
        "violating_text"
    ):
        errors.setdefault("violating_text", []).append(
            _("The violating text must differ from the following text.")
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


def _placement_validate(*, domain: Domain | None, task: Task | None, language: str) -> None:
    errors = {}
    if domain is None:
        errors["domain"] = _("This field is required.")
    if language not in Language.values:
        errors["language"] = _("Choose zh or en.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def principle_create(
    *,
    owner,
    domain: Domain,
    task: Task | None,
    language: str,
    content: dict,
    change_note: str = "",
) -> Principle:
    if not policy.can_create(owner):
        raise PermissionDenied(_("Only authors and admins create principles."))
    _placement_validate(domain=domain, task=task, language=language)
    cleaned = principle_content_validate(content=content)
    principle = Principle.objects.create(
        domain=domain, task=task, language=language, owner=owner, status=PrincipleStatus.DRAFT
    )
    version = PrincipleVersion.objects.create(
        principle=principle,
        number=1,
        state=VersionState.DRAFT,
        author=owner,
        change_note=change_note.strip()[:NOTE_MAX],
        **cleaned,
    )
    principle.latest_version = version
    principle.save(update_fields=["latest_version", "updated_at"])
    return principle


def _lock(principle: Principle) -> Principle:
    """Re-read the principle under a row lock, so concurrent transitions serialise."""
    return (
        Principle.objects.select_for_update(of=("self",))
        .select_related("latest_version", "approved_version")
        .get(pk=principle.pk)
    )


@transaction.atomic
def principle_version_create(
    *,
    principle: Principle,
    author,
    content: dict,
    change_note: str = "",
    domain: Domain | None = None,
    task: Task | None = None,
    set_task: bool = False,
    language: str | None = None,
) -> PrincipleVersion:
    """Save an edit as a new draft version. The approved version, if any, stays in use.

    A draft or in-review version that the new one replaces is marked superseded.
    """
    locked = _lock(principle)
    if not policy.can_edit(author, locked):
        raise PermissionDenied(_("Only the owner edits a principle, and not once it is retired."))
    cleaned = principle_content_validate(content=content)
    latest = locked.latest_version
    placement_changed = (
        (domain is not None and domain.pk != locked.domain_id)
        or (set_task and (task.pk if task else None) != locked.task_id)
        or (language is not None and language != locked.language)
    )
    if latest and latest.content() == cleaned and not placement_changed:
        raise ValidationError(
            _("Nothing changed: the new version would equal version %(n)d.") % {"n": latest.number}
        )
    if latest and latest.state in (VersionState.DRAFT, VersionState.IN_REVIEW):
        latest.state = VersionState.SUPERSEDED
        latest.save(update_fields=["state"])
    version = PrincipleVersion.objects.create(
        principle=locked,
        number=(latest.number + 1) if latest else 1,
        state=VersionState.DRAFT,
        author=author,
        change_note=change_note.strip()[:NOTE_MAX],
        **cleaned,
    )
    if domain is not None:
        locked.domain = domain
    if set_task:
        locked.task = task
    if language is not None:
        _placement_validate(domain=locked.domain, task=locked.task, language=language)
        locked.language = language
    locked.latest_version = version
    locked.status = PrincipleStatus.DRAFT
    locked.save()
    principle.refresh_from_db()
    return version


@transaction.atomic
def principle_submit(*, principle: Principle, user) -> PrincipleVersion:
    locked = _lock(principle)
    if not policy.can_submit(user, locked):
        raise PermissionDenied(_("Only the owner submits a draft for review."))
    version = locked.latest_version
    version.state = VersionState.IN_REVIEW
    version.submitted_at = timezone.now()
    version.save(update_fields=["state", "submitted_at"])
    locked.status = PrincipleStatus.IN_REVIEW
    locked.save(update_fields=["status", "updated_at"])
    principle.refresh_from_db()
    return version


@transaction.atomic
def principle_approve(*, principle: Principle, user, comment: str = "") -> PrincipleVersion:
    locked = _lock(principle)
    if not policy.can_review(user, locked):
        raise PermissionDenied(_("Only an admin approves a version that is in review."))
    now = timezone.now()
    previous = locked.approved_version
    if previous is not None:
        previous.state = VersionState.SUPERSEDED
        previous.save(update_fields=["state"])
    version = locked.latest_version
    version.state = VersionState.APPROVED
    version.approved_at = now
    version.reviewed_at = now
    version.reviewed_by = user
    version.review_comment = comment.strip()
    version.save(
        update_fields=["state", "approved_at", "reviewed_at", "reviewed_by", "review_comment"]
    )
    locked.approved_version = version
    locked.status = PrincipleStatus.APPROVED
    locked.save(update_fields=["approved_version", "status", "updated_at"])
    principle.refresh_from_db()
    return version


@transaction.atomic
def principle_send_back(*, principle: Principle, user, comment: str) -> PrincipleVersion:
    if not comment or not comment.strip():
        raise ValidationError({"comment": _("Say what the author should change.")})
    locked = _lock(principle)
    if not policy.can_review(user, locked):
        raise PermissionDenied(_("Only an admin sends back a version that is in review."))
    version = locked.latest_version
    version.state = VersionState.DRAFT
    version.reviewed_at = timezone.now()
    version.reviewed_by = user
    version.review_comment = comment.strip()
    version.save(update_fields=["state", "reviewed_at", "reviewed_by", "review_comment"])
    locked.status = PrincipleStatus.DRAFT
    locked.save(update_fields=["status", "updated_at"])
    principle.refresh_from_db()
    return version


@transaction.atomic
def principle_retire(*, principle: Principle, user) -> Principle:
    locked = _lock(principle)
    if not policy.can_retire(user, locked):
        raise PermissionDenied(_("Only the owner or an admin retires a principle."))
    locked.status = PrincipleStatus.RETIRED
    locked.retired_at = timezone.now()
    locked.save(update_fields=["status", "retired_at", "updated_at"])
    principle.refresh_from_db()
    return locked


# --- Few-shot cases ------------------------------------------------------------------------

FEWSHOT_CONTENT = FewShotCaseVersion.CONTENT_FIELDS
FEWSHOT_OPTIONAL = frozenset({"context"})
FEWSHOT_NOTE_MAX = FewShotCaseVersion._meta.get_field("change_note").max_length


def _clean_text(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def fewshot_content_validate(*, content: dict) -> dict[str, str]:
    """Clean a few-shot case's content; raise ValidationError naming each bad field.

    ``source_span``, ``instruction``, ``output`` and ``rationale`` are required; ``context`` may
    be empty (not every task works on a given text).
    """
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in FEWSHOT_CONTENT:
        value = content.get(name)
        if value is None and name in FEWSHOT_OPTIONAL:
            value = ""
        if not isinstance(value, str):
            errors[name] = [_("This field is required.") if value is None else _("Send text.")]
            continue
        value = _clean_text(value)
        if not value and name not in FEWSHOT_OPTIONAL:
            errors[name] = [_("This field is required.")]
            continue
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _fewshot_placement_validate(
    *, subdomain: Subdomain | None, task: Task | None, language: str | None
) -> None:
    errors = {}
    if subdomain is None:
        errors["subdomain"] = _("This field is required.")
    if task is None:
        errors["task"] = _("This field is required.")
    if language not in Language.values:
        errors["language"] = _("Choose zh or en.")
    if errors:
        raise ValidationError(errors)


def _note(change_note: str | None) -> str:
    return (change_note or "").strip()[:FEWSHOT_NOTE_MAX]


@transaction.atomic
def fewshot_case_create(
    *,
    owner,
    subdomain: Subdomain,
    task: Task,
    language: str,
    content: dict,
    change_note: str = "",
) -> FewShotCase:
    """A new active case with its content as version 1."""
    if not policy.can_create_fewshot(owner):
        raise PermissionDenied(_("Only authors and admins write few-shot cases."))
    _fewshot_placement_validate(subdomain=subdomain, task=task, language=language)
    cleaned = fewshot_content_validate(content=content)
    case = FewShotCase.objects.create(
        subdomain=subdomain, task=task, language=language, owner=owner, is_active=True
    )
    version = FewShotCaseVersion.objects.create(
        case=case, number=1, author=owner, change_note=_note(change_note), **cleaned
    )
    case.latest_version = version
    case.save(update_fields=["latest_version", "updated_at"])
    return case


def _fewshot_lock(case: FewShotCase) -> FewShotCase:
    """Re-read the case under a row lock, so concurrent edits serialise."""
    return (
        FewShotCase.objects.select_for_update(of=("self",))
        .select_related("latest_version")
        .get(pk=case.pk)
    )


@transaction.atomic
def fewshot_case_version_create(
    *,
    case: FewShotCase,
    author,
    content: dict,
    change_note: str = "",
    subdomain: Subdomain | None = None,
    task: Task | None = None,
    language: str | None = None,
) -> FewShotCaseVersion:
    """Save an edit as a new immutable version, which becomes the one in use.

    ``subdomain``, ``task`` and ``language``, when given, move the case as well. An edit that
    changes nothing is refused.
    """
    locked = _fewshot_lock(case)
    if not policy.can_edit_fewshot(author, locked):
        raise PermissionDenied(_("Only the owner or an admin edits a few-shot case."))
    cleaned = fewshot_content_validate(content=content)
    new_subdomain = subdomain if subdomain is not None else locked.subdomain
    new_task = task if task is not None else locked.task
    new_language = language if language is not None else locked.language
    _fewshot_placement_validate(subdomain=new_subdomain, task=new_task, language=new_language)
    moved = (new_subdomain.pk, new_task.pk, new_language) != (
        locked.subdomain_id,
        locked.task_id,
        locked.language,
    )
    latest = locked.latest_version
    if latest is not None and latest.content() == cleaned and not moved:
        raise ValidationError(
            _("Nothing changed: the new version would equal version %(n)d.") % {"n": latest.number}
        )
    version = FewShotCaseVersion.objects.create(
        case=locked,
        number=(latest.number + 1) if latest else 1,
        author=author,
        change_note=_note(change_note),
        **cleaned,
    )
    locked.subdomain, locked.task, locked.language = new_subdomain, new_task, new_language
    locked.latest_version = version
    locked.save(update_fields=["subdomain", "task", "language", "latest_version", "updated_at"])
    case.refresh_from_db()
    return version


@transaction.atomic
def fewshot_case_retire(*, case: FewShotCase, user) -> FewShotCase:
    """Stop showing the case to the generator; its versions stay for the pairs that used them."""
    locked = _fewshot_lock(case)
    if not policy.can_edit_fewshot(user, locked):
        raise PermissionDenied(_("Only the owner or an admin retires a few-shot case."))
    if not locked.is_active:
        raise ValidationError(_("The case is already retired."))
    locked.is_active = False
    locked.save(update_fields=["is_active", "updated_at"])
    case.refresh_from_db()
    return locked


@transaction.atomic
def fewshot_case_restore(*, case: FewShotCase, user) -> FewShotCase:
    locked = _fewshot_lock(case)
    if not policy.can_edit_fewshot(user, locked):
        raise PermissionDenied(_("Only the owner or an admin restores a few-shot case."))
    if locked.is_active:
        raise ValidationError(_("The case is active already."))
    locked.is_active = True
    locked.save(update_fields=["is_active", "updated_at"])
    case.refresh_from_db()
    return locked
