"""The arena's services and selectors: an evaluator is never given a pair twice, a reload gets
the same assignment, left/right become a/b by the assignment's side, the overall rule, bad
answers and other people's tokens refused with nothing written, the least-compared pairs
first, which evaluations are open, and model names masked in what is shown."""

import uuid
from itertools import combinations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from training.evaluation import arena
from training.models import (
    ArenaAssignment,
    EvalResponse,
    EvaluationStatus,
    HumanComparison,
)

from ..factories import UserFactory
from .eval_factories import make_contestant, make_evaluation_with_responses

pytestmark = pytest.mark.django_db

THREE = ("Model Alpha", "Model Beta", "Model Gamma")
ALL_TIE = {c: "tie" for c in arena.CRITERIA}


@pytest.fixture
def evaluator():
    return UserFactory(username="eva", roles=["Evaluator"])


@pytest.fixture
def evaluator2():
    return UserFactory(username="evan", roles=["Evaluator"])


def answer(assignment, user, criteria=None, **kwargs):
    return arena.arena_submit(
        token=assignment.token, evaluator=user, criteria=criteria or ALL_TIE, **kwargs
    )


def test_an_evaluator_gets_every_pair_once_then_none(evaluator):
    evaluation = make_evaluation_with_responses(THREE, n=2)
    expected = {
        (a.pk, b.pk)
        for item in evaluation.benchmark.items.all()
        for a, b in combinations(
            EvalResponse.objects.filter(item=item).order_by("contestant_id"), 2
        )
    }
    assert len(expected) == 6
    assert arena.arena_progress(evaluation=evaluation, evaluator=evaluator) == {
        "done": 0,
        "total": 6,
        "left": 6,
    }
    seen = []
    sides = set()
    for n in range(6):
        assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
        assert assignment is not None, f"comparison {n + 1} of 6"
        # Same instruction, a before b by contestant id, both contestants in the evaluation.
        assert assignment.response_a.item_id == assignment.response_b.item_id
        assert assignment.response_a.contestant_id < assignment.response_b.contestant_id
        seen.append((assignment.response_a_id, assignment.response_b_id))
        sides.add(assignment.a_on_left)
        answer(assignment, evaluator)
        progress = arena.arena_progress(evaluation=evaluation, evaluator=evaluator)
        assert (progress["done"], progress["total"]) == (n + 1, 6)
    assert len(set(seen)) == 6
    assert set(seen) == expected
    assert arena.arena_next(evaluation=evaluation, evaluator=evaluator) is None
    assert ArenaAssignment.objects.count() == 0
    rows = HumanComparison.objects.filter(evaluator=evaluator)
    assert rows.count() == 6
    assert {(r.response_a_id, r.response_b_id) for r in rows} == expected
    assert {r.item_id for r in rows} == set(evaluation.benchmark.items.values_list("pk", flat=True))


def test_a_second_evaluator_still_gets_every_pair(evaluator, evaluator2):
    evaluation = make_evaluation_with_responses(THREE, n=2)
    for _ in range(6):
        answer(arena.arena_next(evaluation=evaluation, evaluator=evaluator), evaluator)
    got = set()
    while (a := arena.arena_next(evaluation=evaluation, evaluator=evaluator2)) is not None:
        got.add((a.response_a_id, a.response_b_id))
        answer(a, evaluator2)
    assert len(got) == 6
    assert HumanComparison.objects.count() == 12


def test_a_reload_returns_the_same_assignment(evaluator, evaluator2):
    evaluation = make_evaluation_with_responses(THREE, n=2)
    first = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    again = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    assert again.pk == first.pk and again.token == first.token
    assert again.a_on_left == first.a_on_left
    # Another evaluator gets an assignment of their own, not this one.
    other = arena.arena_next(evaluation=evaluation, evaluator=evaluator2)
    assert other.pk != first.pk
    assert ArenaAssignment.objects.filter(evaluator=evaluator).count() == 1


def test_pairs_of_other_evaluations_sharing_responses_are_not_repeated(evaluator):
    """Responses are shared between evaluations of the same contestants on the same
    benchmark: a pair compared in one is not handed out again in the other."""
    evaluation = make_evaluation_with_responses(("Model Alpha", "Model Beta"), n=1)
    twin = type(evaluation).objects.create(
        name="twin", benchmark=evaluation.benchmark, status=EvaluationStatus.DONE
    )
    twin.contestants.set(evaluation.contestants.all())
    answer(arena.arena_next(evaluation=evaluation, evaluator=evaluator), evaluator)
    assert arena.arena_next(evaluation=twin, evaluator=evaluator) is None
    assert arena.arena_progress(evaluation=twin, evaluator=evaluator)["done"] == 1


def make_assignment(evaluation, user, *, a_on_left):
    assignment = arena.arena_next(evaluation=evaluation, evaluator=user)
    assignment.a_on_left = a_on_left
    assignment.save(update_fields=["a_on_left"])
    return assignment


@pytest.mark.parametrize(
    ("a_on_left", "expected"),
    [
        (True, {"creativity": "a", "style": "b", "relevance": "tie", "fluency": "a"}),
        (False, {"creativity": "b", "style": "a", "relevance": "tie", "fluency": "b"}),
    ],
)
def test_left_and_right_become_a_and_b_by_the_side_shown(evaluator, a_on_left, expected):
    evaluation = make_evaluation_with_responses(n=1)
    assignment = make_assignment(evaluation, evaluator, a_on_left=a_on_left)
    criteria = {"creativity": "left", "style": "right", "relevance": "tie", "fluency": "left"}
    comparison = answer(assignment, evaluator, criteria, seconds=42)
    assert comparison.criteria == expected
    # Left was better on two criteria, right on one: the left response wins overall.
    assert comparison.outcome == ("a" if a_on_left else "b")
    assert comparison.a_on_left is a_on_left
    assert comparison.seconds == 42
    assert comparison.evaluation_id == evaluation.pk
    assert comparison.item_id == assignment.response_a.item_id
    assert (comparison.response_a_id, comparison.response_b_id) == (
        assignment.response_a_id,
        assignment.response_b_id,
    )
    assert not ArenaAssignment.objects.filter(pk=assignment.pk).exists()


@pytest.mark.parametrize(
    ("choices", "outcome_if_a_left"),
    [
        (("left", "left", "right", "tie"), "a"),  # 2 to 1
        (("left", "right", "tie", "tie"), "tie"),  # 1 to 1
        (("right", "right", "left", "left"), "tie"),  # 2 to 2
        (("tie", "tie", "tie", "right"), "b"),  # 0 to 1
        (("tie", "tie", "tie", "tie"), "tie"),
        (("right", "right", "right", "left"), "b"),
    ],
)
def test_overall_is_the_response_better_on_more_criteria(evaluator, choices, outcome_if_a_left):
    evaluation = make_evaluation_with_responses(n=1)
    assignment = make_assignment(evaluation, evaluator, a_on_left=True)
    comparison = answer(assignment, evaluator, dict(zip(arena.CRITERIA, choices, strict=True)))
    assert comparison.outcome == outcome_if_a_left


def test_bad_answers_name_each_criterion_and_write_nothing(evaluator):
    evaluation = make_evaluation_with_responses(n=1)
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    with pytest.raises(ValidationError) as info:
        answer(assignment, evaluator, {"creativity": "left", "style": "better", "fluency": ""})
    errors = info.value.message_dict
    assert set(errors) == {"style", "relevance", "fluency"}
    assert "Style" in errors["style"][0] and "better" in errors["style"][0]
    assert "Relevance" in errors["relevance"][0]
    assert "Fluency" in errors["fluency"][0]
    with pytest.raises(ValidationError) as info:
        answer(assignment, evaluator, {c: "a" for c in arena.CRITERIA})  # a/b is not shown
    assert set(info.value.message_dict) == set(arena.CRITERIA)
    with pytest.raises(ValidationError):
        answer(assignment, evaluator, "left")
    assert HumanComparison.objects.count() == 0
    assert ArenaAssignment.objects.filter(pk=assignment.pk).exists()


def test_another_evaluators_token_is_refused(evaluator, evaluator2):
    evaluation = make_evaluation_with_responses(n=1)
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    with pytest.raises(PermissionDenied):
        answer(assignment, evaluator2)
    engineer = UserFactory(username="eddie", roles=["Engineer"])
    with pytest.raises(PermissionDenied):
        answer(assignment, engineer)
    assert HumanComparison.objects.count() == 0
    assert ArenaAssignment.objects.filter(pk=assignment.pk).exists()
    answer(assignment, evaluator)
    assert HumanComparison.objects.get().evaluator == evaluator


def test_a_second_submit_of_a_token_is_refused_and_writes_no_second_row(evaluator):
    evaluation = make_evaluation_with_responses(n=2)
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    answer(assignment, evaluator)
    with pytest.raises(ValidationError) as info:
        answer(assignment, evaluator, {c: "left" for c in arena.CRITERIA})
    assert "already submitted" in info.value.message_dict["token"][0]
    assert HumanComparison.objects.count() == 1
    assert HumanComparison.objects.get().outcome == "tie"
    for bad in ("", "not-a-token", str(uuid.uuid4()), None):
        with pytest.raises(ValidationError) as info:
            arena.arena_submit(token=bad, evaluator=evaluator, criteria=ALL_TIE)
        assert "token" in info.value.message_dict
    assert HumanComparison.objects.count() == 1


def test_a_token_of_another_evaluation_is_refused_when_one_is_named(evaluator):
    evaluation = make_evaluation_with_responses(n=1)
    other = make_evaluation_with_responses(("Model Gamma", "Model Delta"), n=1)
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    with pytest.raises(ValidationError):
        answer(assignment, evaluator, evaluation=other)
    assert HumanComparison.objects.count() == 0


def test_a_closed_evaluation_takes_no_more_answers(evaluator):
    evaluation = make_evaluation_with_responses(n=1)
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    evaluation.arena_open = False
    evaluation.save()
    with pytest.raises(ValidationError) as info:
        answer(assignment, evaluator)
    assert "no longer open" in info.value.message_dict["token"][0]
    assert HumanComparison.objects.count() == 0


def test_the_fewest_compared_pairs_come_first(evaluator, evaluator2):
    evaluation = make_evaluation_with_responses(THREE, n=2)
    pairs = arena.arena_pairs(evaluation=evaluation)
    assert len(pairs) == 6
    # Five other evaluators compare all pairs but one; that one is then always given first.
    least = pairs[3]
    for k in range(5):
        other = UserFactory(username=f"other{k}", roles=["Evaluator"])
        for p in pairs:
            if p != least:
                HumanComparison.objects.create(
                    evaluation=evaluation,
                    evaluator=other,
                    item_id=p.item_id,
                    response_a_id=p.response_a_id,
                    response_b_id=p.response_b_id,
                    a_on_left=True,
                    criteria={c: "tie" for c in arena.CRITERIA},
                    outcome="tie",
                )
    for user in (evaluator, evaluator2):
        got = arena.arena_next(evaluation=evaluation, evaluator=user)
        assert (got.response_a_id, got.response_b_id) == least.key
    # With one more comparison on two pairs, the next pick avoids them.
    answer(got, evaluator2)
    busy = {least.key, pairs[0].key}
    HumanComparison.objects.create(
        evaluation=evaluation,
        evaluator=UserFactory(username="other9", roles=["Evaluator"]),
        item_id=pairs[0].item_id,
        response_a_id=pairs[0].response_a_id,
        response_b_id=pairs[0].response_b_id,
        a_on_left=False,
        criteria={c: "tie" for c in arena.CRITERIA},
        outcome="tie",
    )
    answer(arena.arena_next(evaluation=evaluation, evaluator=evaluator), evaluator)
    nxt = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    assert (nxt.response_a_id, nxt.response_b_id) not in busy


def test_ties_are_broken_at_random_and_sides_too(evaluator):
    """Among equally compared pairs the pick varies, and so does the side of a."""
    firsts, sides = set(), set()
    evaluation = make_evaluation_with_responses(THREE, n=4)
    for k in range(30):
        user = UserFactory(username=f"tie{k}", roles=["Evaluator"])
        a = arena.arena_next(evaluation=evaluation, evaluator=user)
        firsts.add((a.response_a_id, a.response_b_id))
        sides.add(a.a_on_left)
    assert len(firsts) > 1
    assert sides == {True, False}


def test_which_evaluations_are_open(evaluator):
    open_done = make_evaluation_with_responses(n=1)
    judging = make_evaluation_with_responses(
        ("Model Gamma", "Model Delta"), n=1, status=EvaluationStatus.JUDGING
    )
    generating = make_evaluation_with_responses(
        ("Model Eps", "Model Zeta"), n=1, status=EvaluationStatus.GENERATING
    )
    failed = make_evaluation_with_responses(
        ("Model Eta", "Model Theta"), n=1, status=EvaluationStatus.FAILED
    )
    closed = make_evaluation_with_responses(("Model Iota", "Model Kappa"), n=1)
    closed.arena_open = False
    closed.save()
    single = make_evaluation_with_responses(("Model Solo",), n=1)
    # Generating with only one contestant's response in: no pair yet, not listed.
    empty = make_evaluation_with_responses(("Model Mu",), n=1, status=EvaluationStatus.GENERATING)
    empty.contestants.add(make_contestant("Model Nu"))

    listed = {row["evaluation"].pk: row for row in arena.arena_evaluations(user=evaluator)}
    assert set(listed) == {open_done.pk, judging.pk, generating.pk}
    assert (listed[generating.pk]["done"], listed[generating.pk]["total"]) == (0, 1)
    for evaluation in (failed, closed, single):
        assert arena.arena_evaluation_get(user=evaluator, pk=evaluation.pk) is None
    assert arena.arena_evaluation_get(user=evaluator, pk=empty.pk) is not None
    assert arena.arena_next(evaluation=empty, evaluator=evaluator) is None
    assert arena.arena_evaluation_get(user=evaluator, pk=open_done.pk) == open_done
    engineer = UserFactory(username="eddie", roles=["Engineer"])
    assert arena.arena_evaluation_get(user=engineer, pk=open_done.pk) is None


def test_the_label_hides_an_evaluation_name_that_names_a_model(evaluator):
    evaluation = make_evaluation_with_responses(n=1)  # "eval of Model Alpha, Model Beta"
    assert arena.arena_label(evaluation) == f"Evaluation #{evaluation.pk}"
    evaluation.name = "Spring stories"
    evaluation.save()
    assert arena.arena_label(evaluation) == "Spring stories"


def test_model_names_are_masked_in_what_is_shown(evaluator):
    evaluation = make_evaluation_with_responses(n=1)
    response = EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).first()
    response.text = "I am MODEL ALPHA, served as ep-model-alpha-model.\nSecond line <b>bold</b>."
    response.save()
    assignment = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    view = arena.arena_assignment_view(assignment=assignment)
    shown = view["left"] + view["right"] + view["instruction"]
    for contestant in evaluation.contestants.select_related("endpoint"):
        for name in (contestant.name, contestant.endpoint.name, contestant.endpoint.model):
            assert name.lower() not in shown.lower()
    a_text, b_text = (
        (view["left"], view["right"]) if assignment.a_on_left else (view["right"], view["left"])
    )
    assert a_text == "I am ▇▇▇, served as ▇▇▇.\nSecond line <b>bold</b>."
    assert b_text == "▇▇▇ answers q001: the lantern glows <b>softly</b>."
    assert set(view) == {"token", "instruction", "language", "domain", "task", "left", "right"}
    assert arena.mask_names("a Model Alphabet", ["Model Alpha", "ab"]) == "a ▇▇▇bet"
