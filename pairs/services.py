"""Writes to instruction pairs that people make from the pages and the API.

Generation, curation and imports have their own modules; this holds the small manual edits.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER, has_role

from .models import InstructionPair, PairMark

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
