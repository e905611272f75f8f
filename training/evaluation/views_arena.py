"""The arena's pages (``/arena/``, namespace ``arena``), for Evaluators and Admins.

- ``home``: the evaluations open to evaluators, with how many of their comparisons this
  evaluator has done.
- ``compare`` (``<evaluation_pk>/``): the evaluator's current comparison: one instruction, two
  responses as "Response 1" (left) and "Response 2" (right), and a form of four radio groups
  (creativity, style, relevance, fluency). Nothing on the page names a model or a response: the
  form posts the assignment's token only. ``arena.js`` adds the keyboard; without it the page is
  a plain form. When nothing is left, a page says so.
- ``submit`` (``<evaluation_pk>/submit/``, POST): records the answer and goes to the next
  comparison; a refused answer shows the same comparison again with the errors.

An evaluation not open to evaluators is a 404. Every text is escaped by the templates.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from weaver_site.roles import RoleRequiredMixin

from . import arena
from .models import ArenaAssignment

#: Keys per choice, as the page shows them ("0" and "t" also mean a tie).
CHOICE_KEYS = {"left": "1", "right": "2", "tie": "3"}


def _choice_labels() -> dict[str, str]:
    return {
        "left": _("Response 1 is better"),
        "right": _("Response 2 is better"),
        "tie": _("Tie"),
    }


def _criterion_help() -> dict[str, str]:
    return {
        "creativity": _("Originality, imagination, surprising but fitting ideas."),
        "style": _("Voice, rhythm, word choice, suitability to the genre."),
        "relevance": _("Does what the instruction asks, all of it."),
        "fluency": _("Reads naturally, grammatical, coherent, no errors."),
    }


class ArenaMixin(RoleRequiredMixin):
    roles = arena.ARENA_ROLES

    def get_evaluation(self, request, evaluation_pk):
        evaluation = arena.arena_evaluation_get(user=request.user, pk=evaluation_pk)
        if evaluation is None:
            raise Http404
        return evaluation


class HomeView(ArenaMixin, View):
    def get(self, request):
        rows = arena.arena_evaluations(user=request.user)
        return render(request, "evaluation/arena_home.html", {"rows": rows})


def _compare_page(request, evaluation, assignment, *, values=None, errors=None, status=200):
    values = values or {}
    errors = errors or {}
    labels = _choice_labels()
    helps = _criterion_help()
    criteria = [
        {
            "name": name,
            "label": arena.CRITERION_LABELS[name],
            "help": helps[name],
            "number": i + 1,
            "errors": errors.get(name, []),
            "choices": [
                {
                    "value": value,
                    "label": labels[value],
                    "key": CHOICE_KEYS[value],
                    "checked": values.get(name) == value,
                }
                for value in arena.CHOICES
            ],
        }
        for i, name in enumerate(arena.CRITERIA)
    ]
    ctx = {
        "evaluation_pk": evaluation.pk,
        "label": arena.arena_label(evaluation),
        "view": arena.arena_assignment_view(assignment=assignment),
        "progress": arena.arena_progress(evaluation=evaluation, evaluator=request.user),
        "criteria": criteria,
        "errors": errors,
        "non_field_errors": errors.get("__all__", []) + errors.get("token", []),
        "strings": {
            "missing": _("Answer every criterion first. Still open:"),
            "sending": _("Sending…"),
            "answered": _("All four answered: press Enter to submit."),
        },
    }
    return render(request, "evaluation/arena_compare.html", ctx, status=status)


class CompareView(ArenaMixin, View):
    def get(self, request, evaluation_pk):
        evaluation = self.get_evaluation(request, evaluation_pk)
        assignment = arena.arena_next(evaluation=evaluation, evaluator=request.user)
        if assignment is None:
            return render(
                request,
                "evaluation/arena_done.html",
                {
                    "evaluation_pk": evaluation.pk,
                    "label": arena.arena_label(evaluation),
                    "progress": arena.arena_progress(evaluation=evaluation, evaluator=request.user),
                },
            )
        return _compare_page(request, evaluation, assignment)


def _seconds(value, assignment) -> int:
    """The seconds the page measured; without script, the time since the comparison was
    first shown."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        if assignment is None:
            return 0
        seconds = (timezone.now() - assignment.created_at).total_seconds()
    return int(min(max(seconds, 0), arena.MAX_SECONDS))


class SubmitView(ArenaMixin, View):
    def post(self, request, evaluation_pk):
        evaluation = self.get_evaluation(request, evaluation_pk)
        post = request.POST
        token = post.get("token", "")
        values = {name: post.get(name, "") for name in arena.CRITERIA}
        mine = None
        key = arena.parse_token(token)
        if key is not None:
            mine = ArenaAssignment.objects.filter(
                token=key, evaluator=request.user, evaluation=evaluation
            ).first()
        try:
            arena.arena_submit(
                token=token,
                evaluator=request.user,
                criteria=values,
                seconds=_seconds(post.get("seconds"), mine),
                evaluation=evaluation,
            )
        except ValidationError as exc:
            errors = (
                {f: list(m) for f, m in exc.message_dict.items()}
                if hasattr(exc, "error_dict")
                else {"__all__": list(exc.messages)}
            )
            if "token" in errors or mine is None:
                for message in errors.get("token", []) or exc.messages:
                    messages.warning(request, message)
                return redirect("arena:compare", evaluation_pk=evaluation.pk)
            return _compare_page(
                request, evaluation, mine, values=values, errors=errors, status=400
            )
        return redirect("arena:compare", evaluation_pk=evaluation.pk)


urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("<int:evaluation_pk>/", CompareView.as_view(), name="compare"),
    path("<int:evaluation_pk>/submit/", SubmitView.as_view(), name="submit"),
]
