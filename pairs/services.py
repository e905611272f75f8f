"""Writes to instruction pairs that people make from the pages and the API.

Generation, curation and imports have their own modules; this holds the small manual edits.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER, has_role

from .models import (
    Decision,
    InstructionPair,
    ItemStatus,
    PairMark,
    PreferencePair,
    PreferenceStatus,
    ReviewItem,
)

#: Who may mark pairs good or bad.
MARK_ROLES = (ENGINEER, REVIEWER, ADMIN)


def instruction_pair_mark(*, pair: InstructionPair, user, mark: str) -> InstructionPair:
    """Mark a pair good or bad, or clear the mark with ``""``; records who and when."""
    if not has_role(user, *MARK_ROLES):
        raise PermissionDenied(_("Only engineers, reviewers and admins mark instruction pairs."))
    if not isinstance(mark, str) or mark not in PairMark.values:
        raise ValidationError({"mark": _("Choose good, bad or nothing.")})
    pair.mark = mark
    if mark:
        pair.marked_by = user
        pair.marked_at = timezone.now()
    else:
        pair.marked_by = None
        pair.marked_at = None
    pair.save(update_fields=["mark", "marked_by", "marked_at", "updated_at"])
    return pair


#: Statuses a preference pair can be set to by hand (the admin's bulk actions).
SETTABLE_PAIR_STATUSES = (PreferenceStatus.ACCEPTED, PreferenceStatus.REJECTED)
_ID_CHUNK = 500


def preference_pairs_set_status(*, pair_ids, status: str, user) -> int:
    """Accept or reject preference pairs by hand, recording who; admins only. Failed pairs (no
    rejected response) are left alone. Returns how many pairs were changed."""
    if not has_role(user, ADMIN):
        raise PermissionDenied(_("Only admins accept or reject preference pairs by hand."))
    if status not in SETTABLE_PAIR_STATUSES:
        raise ValidationError({"status": _("Choose accepted or rejected.")})
    ids = sorted({int(pk) for pk in pair_ids})
    now = timezone.now()
    changed = 0
    final = Decision.ACCEPT if status == PreferenceStatus.ACCEPTED else Decision.REJECT
    with transaction.atomic():
        for start in range(0, len(ids), _ID_CHUNK):
            pairs = (
                PreferencePair.objects.filter(pk__in=ids[start : start + _ID_CHUNK])
                .exclude(status=PreferenceStatus.FAILED)
                .exclude(rejected="")
            )
            chunk = list(pairs.values_list("pk", flat=True))
            changed += pairs.update(status=status, reviewed_by=user, updated_at=now)
            # Decided by hand: review queues stop giving these pairs out, and a later review
            # cannot undo the decision.
            ReviewItem.objects.filter(
                pair_id__in=chunk, is_gold=False, status__in=(ItemStatus.OPEN, ItemStatus.CONFLICT)
            ).update(
                status=ItemStatus.DECIDED,
                final_decision=final,
                decided_at=now,
                adjudicated_by=user,
                adjudication_note=_("Decided by hand in the admin."),
            )
    return changed
