"""The blind human arena: services and selectors.

An evaluator is shown one instruction of an open evaluation and two responses to it, from two
of its contestants, on the left and on the right in random order, and says which is better on
creativity, style, relevance and fluency. The page knows the comparison only by the token of an
:class:`ArenaAssignment`; which contestant wrote which response never leaves the server.

- A pair is two responses to the same instruction; ``response_a`` is always the one of the
  contestant with the lower id (as in :class:`HumanComparison` and :class:`JudgeComparison`).
- No evaluator is given a pair twice: a pair they compared (in any evaluation: responses are
  shared between evaluations of the same contestants) or hold an open assignment for elsewhere
  is never handed out again. An unanswered assignment comes back first, so a reload shows the
  same comparison.
- Among the pairs left, one with the fewest human comparisons so far (then the fewest open
  assignments of other evaluators), at random among ties: the work is spread.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from weaver_site.roles import ADMIN, EVALUATOR, has_role

from .models import (
    ArenaAssignment,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    HumanComparison,
    Outcome,
)

__all__ = [
    "ARENA_ROLES",
    "CRITERIA",
    "CRITERION_LABELS",
    "CHOICES",
    "MAX_SECONDS",
    "ArenaPair",
    "arena_evaluations",
    "arena_evaluation_get",
    "arena_label",
    "parse_token",
    "arena_open_evaluations",
    "arena_pairs",
    "arena_progress",
    "arena_next",
    "arena_assignment_view",
    "arena_submit",
    "mask_names",
    "overall_outcome",
]

ARENA_ROLES = (EVALUATOR, ADMIN)
#: The criteria an evaluator judges, in the order the page asks them.
CRITERIA = ("creativity", "style", "relevance", "fluency")
CRITERION_LABELS = {
    "creativity": gettext_lazy("Creativity"),
    "style": gettext_lazy("Style"),
    "relevance": gettext_lazy("Relevance"),
    "fluency": gettext_lazy("Fluency"),
}
#: What an evaluator answers per criterion, as shown: the left response, the right one, a tie.
CHOICES = ("left", "right", "tie")
#: A longer time on one comparison is recorded as this many seconds.
MAX_SECONDS = 6 * 3600
#: Statuses in which an evaluation's responses may be compared (generating: those already in).
ARENA_STATUSES = (EvaluationStatus.GENERATING, EvaluationStatus.JUDGING, EvaluationStatus.DONE)
#: Names shorter than this are not masked in the texts shown (they would mask ordinary words).
MIN_MASK_CHARS = 3
MASK = "▇▇▇"


@dataclass(frozen=True)
class ArenaPair:
    item_id: int
    response_a_id: int
    response_b_id: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.response_a_id, self.response_b_id)


# --- Selectors -------------------------------------------------------------------------------


def arena_open_evaluations():
    """Evaluations open to evaluators: arena open, at least two contestants, in a status whose
    responses may be compared. Whether any pair exists yet is :func:`arena_pairs`'s answer."""
    return (
        Evaluation.objects.filter(arena_open=True, status__in=ARENA_STATUSES)
        .annotate(n_contestants=Count("contestants", distinct=True))
        .filter(n_contestants__gte=2)
        .select_related("benchmark")
        .order_by("-created_at", "-id")
    )


def arena_evaluation_get(*, user, pk: int) -> Evaluation | None:
    """The open evaluation ``pk`` for an arena user; None when it is not open (or the user may
    not use the arena): the page answers 404."""
    if not has_role(user, *ARENA_ROLES):
        return None
    return arena_open_evaluations().filter(pk=pk).first()


def arena_pairs(*, evaluation) -> list[ArenaPair]:
    """Every pair of responses of the evaluation's contestants to the same instruction of its
    benchmark, among the responses that exist."""
    contestant_ids = list(evaluation.contestants.values_list("id", flat=True))
    rows = (
        EvalResponse.objects.filter(
            item__benchmark_id=evaluation.benchmark_id, contestant_id__in=contestant_ids
        )
        .order_by("item_id", "contestant_id")
        .values_list("item_id", "contestant_id", "id")
    )
    by_item: dict[int, list[int]] = defaultdict(list)
    for item_id, _contestant_id, response_id in rows:
        by_item[item_id].append(response_id)  # in contestant order: a before b
    pairs = []
    for item_id, responses in by_item.items():
        for i, response_a in enumerate(responses):
            for response_b in responses[i + 1 :]:
                pairs.append(ArenaPair(item_id, response_a, response_b))
    return pairs


def _compared_keys(*, evaluator, evaluation) -> set[tuple[int, int]]:
    """Pairs of responses to the evaluation's benchmark that the evaluator compared (in any
    evaluation: responses are shared)."""
    return set(
        HumanComparison.objects.filter(
            evaluator=evaluator, response_a__item__benchmark_id=evaluation.benchmark_id
        ).values_list("response_a_id", "response_b_id")
    )


def arena_progress(*, evaluation, evaluator) -> dict:
    """``done``: pairs of the evaluation this evaluator has compared; ``total``: all its pairs."""
    pairs = arena_pairs(evaluation=evaluation)
    compared = _compared_keys(evaluator=evaluator, evaluation=evaluation)
    done = sum(1 for p in pairs if p.key in compared)
    return {"done": done, "total": len(pairs), "left": len(pairs) - done}


def arena_evaluations(*, user) -> list[dict]:
    """The evaluations open to evaluators with ``evaluation``, ``label`` (its name, unless that
    names one of its models), ``done`` and ``total`` for this evaluator; those with no pair to
    compare yet are left out."""
    out = []
    for evaluation in arena_open_evaluations():
        progress = arena_progress(evaluation=evaluation, evaluator=user)
        if not progress["total"]:
            continue
        out.append({"evaluation": evaluation, "label": arena_label(evaluation), **progress})
    return out


def arena_label(evaluation) -> str:
    """The evaluation's name as evaluators see it: its name, unless that names one of its
    models (then "Evaluation #id")."""
    if mask_names(evaluation.name, _blind_names(evaluation)) == evaluation.name:
        return evaluation.name
    return _("Evaluation #%(pk)s") % {"pk": evaluation.pk}


def _blind_names(evaluation) -> list[str]:
    """Every name that would tell an evaluator which model wrote a response: contestant names,
    their endpoints' names and models, and the models recorded on the responses."""
    names: set[str] = set()
    for contestant in evaluation.contestants.select_related("endpoint"):
        names.add(contestant.name)
        if contestant.endpoint_id:
            names.add(contestant.endpoint.name)
            names.add(contestant.endpoint.model)
    names.update(
        EvalResponse.objects.filter(
            item__benchmark_id=evaluation.benchmark_id,
            contestant__in=evaluation.contestants.all(),
        )
        .values_list("model_name", flat=True)
        .distinct()
    )
    return sorted((n for n in names if n and len(n.strip()) >= MIN_MASK_CHARS), key=len)[::-1]


def mask_names(text: str, names: list[str]) -> str:
    """``text`` with every occurrence of ``names`` (case-insensitive, longest first) replaced by
    a mask, so a response that names its model does not unblind the comparison."""
    names = sorted({n.strip() for n in names if n and len(n.strip()) >= MIN_MASK_CHARS}, key=len)
    if not names or not text:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in reversed(names)), re.IGNORECASE)
    return pattern.sub(MASK, text)


def arena_assignment_view(*, assignment) -> dict:
    """What the comparison page shows of an assignment: the instruction and the two texts as
    left and right, with any model name masked. Nothing here names a model or a response."""
    evaluation = assignment.evaluation
    names = _blind_names(evaluation)
    response_a, response_b = assignment.response_a, assignment.response_b
    left, right = (response_a, response_b) if assignment.a_on_left else (response_b, response_a)
    item = response_a.item
    return {
        "token": str(assignment.token),
        "instruction": mask_names(item.instruction, names),
        "language": item.language,
        "domain": item.domain.name if item.domain_id else "",
        "task": item.task.name if item.task_id else "",
        "left": mask_names(left.text, names),
        "right": mask_names(right.text, names),
    }


# --- Services --------------------------------------------------------------------------------


def arena_next(*, evaluation, evaluator) -> ArenaAssignment | None:
    """The evaluator's comparison in ``evaluation``: their unanswered assignment if there is
    one, else a new one for a pair they have never compared, chosen among those with the
    fewest human comparisons (random among ties), with its sides in random order. None when
    nothing is left."""
    existing = (
        ArenaAssignment.objects.filter(evaluation=evaluation, evaluator=evaluator)
        .order_by("created_at", "id")
        .first()
    )
    if existing is not None:
        return existing
    pairs = arena_pairs(evaluation=evaluation)
    if not pairs:
        return None
    on_benchmark = {"response_a__item__benchmark_id": evaluation.benchmark_id}
    taken = _compared_keys(evaluator=evaluator, evaluation=evaluation)
    taken.update(
        ArenaAssignment.objects.filter(evaluator=evaluator, **on_benchmark).values_list(
            "response_a_id", "response_b_id"
        )
    )
    remaining = [p for p in pairs if p.key not in taken]
    if not remaining:
        return None
    done = Counter(
        HumanComparison.objects.filter(**on_benchmark).values_list("response_a_id", "response_b_id")
    )
    pending = Counter(
        ArenaAssignment.objects.filter(**on_benchmark)
        .exclude(evaluator=evaluator)
        .values_list("response_a_id", "response_b_id")
    )
    rng = random.SystemRandom()
    rng.shuffle(remaining)
    for pair in sorted(remaining, key=lambda p: (done[p.key], pending[p.key])):
        try:
            with transaction.atomic():
                return ArenaAssignment.objects.create(
                    evaluation=evaluation,
                    evaluator=evaluator,
                    response_a_id=pair.response_a_id,
                    response_b_id=pair.response_b_id,
                    a_on_left=rng.random() < 0.5,
                )
        except IntegrityError:
            # The same evaluator took this pair at the same moment (another tab): theirs.
            again = ArenaAssignment.objects.filter(
                evaluation=evaluation, evaluator=evaluator
            ).first()
            if again is not None:
                return again
    return None


def parse_token(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _clean_criteria(criteria) -> dict[str, str]:
    """The four answers, each "left", "right" or "tie"; a ValidationError names each one
    missing or wrong."""
    criteria = criteria if isinstance(criteria, dict) else {}
    errors: dict[str, list[str]] = {}
    clean = {}
    for name in CRITERIA:
        value = criteria.get(name)
        label = CRITERION_LABELS[name]
        if value in (None, ""):
            errors[name] = [_("Choose an answer for %(criterion)s.") % {"criterion": label}]
        elif value not in CHOICES:
            errors[name] = [
                _("%(criterion)s: “%(value)s” is not one of left, right or tie.")
                % {"criterion": label, "value": str(value)[:40]}
            ]
        else:
            clean[name] = value
    if errors:
        raise ValidationError(errors)
    return clean


def _to_ab(choice: str, a_on_left: bool) -> str:
    if choice == "tie":
        return Outcome.TIE
    left = choice == "left"
    return Outcome.A if left == a_on_left else Outcome.B


def overall_outcome(criteria_ab: dict[str, str]) -> str:
    """The response better on more criteria; a tie when they are level."""
    a = sum(1 for v in criteria_ab.values() if v == Outcome.A)
    b = sum(1 for v in criteria_ab.values() if v == Outcome.B)
    if a > b:
        return Outcome.A
    if b > a:
        return Outcome.B
    return Outcome.TIE


def arena_submit(
    *,
    token,
    evaluator,
    criteria: dict[str, str],
    seconds: int = 0,
    evaluation: Evaluation | None = None,
) -> HumanComparison:
    """Record the evaluator's answer to the assignment ``token`` and close the assignment, in
    one transaction. ``criteria`` maps creativity, style, relevance and fluency to "left",
    "right" or "tie" as shown; they are stored as "a", "b" or "tie".

    Someone else's token: PermissionDenied. An unknown token (a second submit of the same one
    included), a closed evaluation, or one other than ``evaluation`` when given: a
    ValidationError on ``token``; nothing is written."""
    if not has_role(evaluator, *ARENA_ROLES):
        raise PermissionDenied
    clean = _clean_criteria(criteria)
    try:
        seconds = max(0, min(int(seconds or 0), MAX_SECONDS))
    except (TypeError, ValueError):
        seconds = 0
    key = parse_token(token)
    gone = ValidationError(
        {
            "token": [
                _(
                    "This comparison was already submitted or is no longer open; "
                    "here is the next one."
                )
            ]
        }
    )
    if key is None:
        raise gone
    with transaction.atomic():
        assignment = (
            ArenaAssignment.objects.select_for_update(of=("self",))
            .select_related("evaluation", "response_a")
            .filter(token=key)
            .first()
        )
        if assignment is None:
            raise gone
        if assignment.evaluator_id != evaluator.pk:
            raise PermissionDenied
        if evaluation is not None and assignment.evaluation_id != evaluation.pk:
            raise gone
        if not arena_open_evaluations().filter(pk=assignment.evaluation_id).exists():
            raise ValidationError(
                {"token": [_("This evaluation is no longer open to evaluators.")]}
            )
        criteria_ab = {name: _to_ab(clean[name], assignment.a_on_left) for name in CRITERIA}
        try:
            with transaction.atomic():
                comparison = HumanComparison.objects.create(
                    evaluation=assignment.evaluation,
                    evaluator=evaluator,
                    item_id=assignment.response_a.item_id,
                    response_a_id=assignment.response_a_id,
                    response_b_id=assignment.response_b_id,
                    a_on_left=assignment.a_on_left,
                    criteria=criteria_ab,
                    outcome=overall_outcome(criteria_ab),
                    seconds=seconds,
                )
        except IntegrityError:  # compared already (arena_next never hands such a pair out)
            raise gone from None
        assignment.delete()
    return comparison
