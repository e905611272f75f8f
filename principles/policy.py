"""Who may do what with a principle. Pages, API and admin all ask these functions."""

from __future__ import annotations

from weaver_site.roles import ADMIN, AUTHOR, ENGINEER, REVIEWER, STUDIO_ROLES, has_role, is_admin

from .models import FewShotCase, Principle, PrincipleStatus, VersionState


def can_read_all(user) -> bool:
    """Reviewers, engineers and admins read every principle, drafts included."""
    return has_role(user, ADMIN, REVIEWER, ENGINEER)


def can_create(user) -> bool:
    return has_role(user, AUTHOR, ADMIN)


def can_view(user, principle: Principle) -> bool:
    if can_read_all(user):
        return True
    if not has_role(user, AUTHOR):
        return False
    return principle.owner_id == user.pk or principle.approved_version_id is not None


def sees_drafts(user, principle: Principle) -> bool:
    """Whether the user sees unapproved versions of this principle."""
    return can_read_all(user) or (has_role(user, AUTHOR) and principle.owner_id == user.pk)


def can_edit(user, principle: Principle) -> bool:
    """Only the owner (an author or admin) writes new versions; never of a retired principle."""
    return (
        principle.owner_id == user.pk
        and has_role(user, AUTHOR, ADMIN)
        and principle.status != PrincipleStatus.RETIRED
    )


def can_submit(user, principle: Principle) -> bool:
    return (
        can_edit(user, principle)
        and principle.latest_version is not None
        and principle.latest_version.state == VersionState.DRAFT
    )


def can_review(user, principle: Principle) -> bool:
    return (
        is_admin(user)
        and principle.latest_version is not None
        and principle.latest_version.state == VersionState.IN_REVIEW
    )


def can_retire(user, principle: Principle) -> bool:
    if principle.status == PrincipleStatus.RETIRED:
        return False
    return is_admin(user) or (principle.owner_id == user.pk and has_role(user, AUTHOR))


def actions_for(user, principle: Principle) -> dict[str, bool]:
    return {
        "edit": can_edit(user, principle),
        "submit": can_submit(user, principle),
        "review": can_review(user, principle),
        "retire": can_retire(user, principle),
    }


# --- Few-shot cases ------------------------------------------------------------------------
# Every role reads every case (they are shown to the generator as they are); authors and admins
# write them; the owner (while an author or admin) or any admin changes one.


def can_read_fewshot(user) -> bool:
    return has_role(user, *STUDIO_ROLES)


def can_create_fewshot(user) -> bool:
    return has_role(user, AUTHOR, ADMIN)


def can_edit_fewshot(user, case: FewShotCase) -> bool:
    return is_admin(user) or (case.owner_id == user.pk and has_role(user, AUTHOR))


def can_retire_fewshot(user, case: FewShotCase) -> bool:
    return case.is_active and can_edit_fewshot(user, case)


def can_restore_fewshot(user, case: FewShotCase) -> bool:
    return not case.is_active and can_edit_fewshot(user, case)


def fewshot_actions_for(user, case: FewShotCase) -> dict[str, bool]:
    return {
        "edit": can_edit_fewshot(user, case),
        "retire": can_retire_fewshot(user, case),
        "restore": can_restore_fewshot(user, case),
    }
