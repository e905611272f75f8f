"""Reads of evaluation results: the comparisons an evaluation's judge and its evaluators made
(turned into the same Elo and Bradley-Terry values as :mod:`training.evaluation.ratings`),
reproducible bootstrap intervals, per-domain groups, the judge's score table, progress and the
side-by-side view of one instruction. Data is made directly in the database."""

import itertools
import math

import pytest
from django.utils import translation

from principles.models import Domain, Subdomain, Task
from principles.taxonomy import seed_taxonomy
from tests.factories import UserFactory
from tests.training.eval_factories import (
    make_contestant,
    make_endpoint,
    make_evaluation_with_responses,
)
from training.evaluation import ratings, selectors
from training.evaluation.ratings import Comparison
from training.models import (
    EvalResponse,
    EvaluationStatus,
    GenerationJob,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
)
from weaver_site.models import Job, JobStatus

pytestmark = pytest.mark.django_db

NAMES = ("Model Alpha", "Model Beta", "Model Gamma")


@pytest.fixture(autouse=True)
def _taxonomy(db):
    seed_taxonomy(Domain, Subdomain, Task)


def responses_by_name(evaluation) -> dict[tuple[str, int], EvalResponse]:
    """``(contestant name, item position) -> response``."""
    return {
        (r.contestant.name, r.item.position): r
        for r in EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).select_related(
            "contestant", "item"
        )
    }


def add_judge(evaluation, name="judge"):
    evaluation.judge = make_endpoint(name)
    evaluation.save()
    return evaluation.judge


def judge_compare(ra, rb, outcome, *, judge, criteria=None, prompt_version="v1"):
    """A judge comparison (``ra`` belongs to the contestant with the lower id)."""
    if ra.contestant_id > rb.contestant_id:
        ra, rb = rb, ra
        outcome = {"a": "b", "b": "a"}.get(outcome, outcome)
    return JudgeComparison.objects.create(
        item=ra.item,
        response_a=ra,
        response_b=rb,
        judge=judge,
        prompt_version=prompt_version,
        first={"reason": "first order", "winner": "A"},
        second={"reason": "second order", "winner": "B"},
        outcome=outcome,
        criteria=criteria
        or {"creativity": outcome, "style": outcome, "relevance": outcome, "fluency": outcome},
    )


def human_compare(evaluation, evaluator, ra, rb, outcome, criteria=None):
    return HumanComparison.objects.create(
        evaluation=evaluation,
        evaluator=evaluator,
        item=ra.item,
        response_a=ra,
        response_b=rb,
        a_on_left=True,
        criteria=criteria or {"creativity": outcome, "style": outcome},
        outcome=outcome,
    )


def grade(response, *, judge, style, relevance, creativity, overall, prompt_version="v1"):
    return JudgeGrade.objects.create(
        response=response,
        judge=judge,
        prompt_version=prompt_version,
        reason="because",
        style=style,
        relevance=relevance,
        creativity=creativity,
        overall=overall,
    )


#: The fixed games of the judge: per item position, (a, b, outcome) by name.
GAMES = {
    0: [("Model Alpha", "Model Beta", "a"), ("Model Beta", "Model Gamma", "a")],
    1: [("Model Alpha", "Model Beta", "a"), ("Model Alpha", "Model Gamma", "tie")],
    2: [("Model Alpha", "Model Beta", "b"), ("Model Beta", "Model Gamma", "a")],
    3: [("Model Alpha", "Model Gamma", "a"), ("Model Beta", "Model Gamma", "tie")],
    4: [("Model Alpha", "Model Beta", "a"), ("Model Beta", "Model Gamma", "b")],
    5: [("Model Alpha", "Model Gamma", "a"), ("Model Alpha", "Model Beta", "tie")],
    6: [("Model Beta", "Model Gamma", "a"), ("Model Alpha", "Model Gamma", "a")],
    7: [("Model Alpha", "Model Beta", "a"), ("Model Beta", "Model Gamma", "a")],
}


@pytest.fixture
def judged():
    """Three models on eight instructions (two per domain), with the judge's GAMES."""
    evaluation = make_evaluation_with_responses(NAMES, n=8)
    judge = add_judge(evaluation)
    responses = responses_by_name(evaluation)
    # Made in another order than the benchmark's, which the selector restores.
    for position in reversed(range(8)):
        for a, b, outcome in GAMES[position]:
            judge_compare(responses[a, position], responses[b, position], outcome, judge=judge)
    return evaluation


def expected_games() -> list[Comparison]:
    domains = ("fiction", "creative_nonfiction", "marketing", "technical_writing")
    return [
        Comparison(a, b, outcome, domains[position % 4])
        for position in range(8)
        for a, b, outcome in sorted(GAMES[position])
    ]


# --- Comparisons ------------------------------------------------------------------------------


def test_judge_comparisons_come_in_benchmark_order_with_domains(judged):
    got = selectors.evaluation_comparisons(evaluation=judged, source="judge")
    assert got == expected_games()
    assert selectors.evaluation_comparisons(evaluation=judged, source="human") == []


def test_a_criterion_reads_the_criteria_not_the_outcome(judged):
    responses = responses_by_name(judged)
    row = JudgeComparison.objects.get(
        response_a=responses["Model Alpha", 0], response_b=responses["Model Beta", 0]
    )
    row.criteria = {"creativity": "b", "style": "tie", "relevance": "a"}  # no fluency
    row.save()
    creativity = selectors.evaluation_comparisons(
        evaluation=judged, source="judge", criterion="creativity"
    )
    assert creativity[0] == Comparison("Model Alpha", "Model Beta", "b", "fiction")
    style = selectors.evaluation_comparisons(evaluation=judged, source="judge", criterion="style")
    assert style[0].outcome == "tie"
    fluency = selectors.evaluation_comparisons(
        evaluation=judged, source="judge", criterion="fluency"
    )
    assert len(fluency) == len(expected_games()) - 1  # the row without fluency is left out
    with pytest.raises(ValueError):
        selectors.evaluation_comparisons(evaluation=judged, source="judge", criterion="length")
    with pytest.raises(ValueError):
        selectors.evaluation_comparisons(evaluation=judged, source="crowd")


def test_other_judges_models_and_prompt_versions_are_left_out(judged):
    responses = responses_by_name(judged)
    other = make_endpoint("other-judge")
    judge_compare(responses["Model Alpha", 0], responses["Model Beta", 0], "b", judge=other)
    # A model outside the evaluation answered the same instruction.
    outsider = make_contestant("Outsider")
    item = responses["Model Alpha", 0].item
    out = EvalResponse.objects.create(
        item=item, contestant=outsider, text="x", model_name="m", request_hash="h" * 64
    )
    judge_compare(responses["Model Alpha", 0], out, "b", judge=judged.judge)
    # The same pair judged again under a newer prompt version: the newest counts, once.
    judge_compare(
        responses["Model Beta", 1],
        responses["Model Alpha", 1],
        "a",
        judge=judged.judge,
        prompt_version="v2",
    )
    got = selectors.evaluation_comparisons(evaluation=judged, source="judge")
    want = expected_games()
    want[2] = Comparison("Model Alpha", "Model Beta", "b", "creative_nonfiction")
    assert got == want
    assert "Outsider" not in {c.a for c in got} | {c.b for c in got}


def test_human_and_judge_comparisons_stay_apart(judged, engineer):
    responses = responses_by_name(judged)
    evaluators = [UserFactory(username=f"eva{i}", roles=["Evaluator"]) for i in range(3)]
    for i, who in enumerate(evaluators):
        outcome = "b" if i < 2 else "tie"
        human_compare(
            judged, who, responses["Model Alpha", i], responses["Model Gamma", i], outcome
        )
    # Another evaluation's human comparison is not this one's.
    other = make_evaluation_with_responses(("Model Delta", "Model Eps"), n=2)
    other_responses = responses_by_name(other)
    human_compare(
        other,
        evaluators[0],
        other_responses["Model Delta", 0],
        other_responses["Model Eps", 0],
        "a",
    )
    human = selectors.evaluation_comparisons(evaluation=judged, source="human")
    assert human == [
        Comparison("Model Alpha", "Model Gamma", "b", "fiction"),
        Comparison("Model Alpha", "Model Gamma", "b", "creative_nonfiction"),
        Comparison("Model Alpha", "Model Gamma", "tie", "marketing"),
    ]
    creativity = selectors.evaluation_comparisons(
        evaluation=judged, source="human", criterion="creativity"
    )
    assert [c.outcome for c in creativity] == ["b", "b", "tie"]
    assert (
        selectors.evaluation_comparisons(evaluation=judged, source="human", criterion="fluency")
        == []
    )
    assert selectors.evaluation_comparisons(evaluation=judged, source="judge") == expected_games()
    board = selectors.evaluation_leaderboard(evaluation=judged, source="human", rounds=50)
    assert [r["model"] for r in board[0]["rows"]] == ["Model Gamma", "Model Alpha"]
    assert board[0]["comparisons"] == 3


def test_an_evaluation_without_a_judge_has_no_judge_comparisons(judged):
    judged.judge = None
    judged.save()
    assert selectors.evaluation_comparisons(evaluation=judged, source="judge") == []
    board = selectors.evaluation_leaderboard(evaluation=judged, source="judge", rounds=10)
    assert board == [
        {"group": "", "label": "Overall", "rows": [], "comparisons": 0, "components": []}
    ]


# --- Ratings ----------------------------------------------------------------------------------


def test_the_leaderboard_equals_the_ratings_module_on_the_same_games(judged):
    games = expected_games()
    board = selectors.evaluation_leaderboard(evaluation=judged, source="judge", rounds=300, seed=7)
    overall = board[0]
    assert overall["group"] == "" and overall["comparisons"] == len(games)
    assert overall["rows"] == ratings.ratings_table(games, rounds=300, seed=7)
    elo = ratings.elo(games)
    bt = ratings.bradley_terry(games)
    for row in overall["rows"]:
        assert row["elo"] == pytest.approx(elo[row["model"]])
        assert row["bt"] == pytest.approx(bt[row["model"]])
        assert row["elo_low"] <= row["elo_high"] and row["bt_low"] <= row["bt_high"]
    # Alpha won 7 of its 10 games, lost 1 and tied 2: the favourite.
    assert [r["model"] for r in overall["rows"]][0] == "Model Alpha"
    alpha = overall["rows"][0]
    assert (alpha["games"], alpha["wins"], alpha["losses"], alpha["ties"]) == (10, 7, 1, 2)


def test_hand_checked_ratings_for_a_tiny_case():
    evaluation = make_evaluation_with_responses(("Model Alpha", "Model Beta"), n=4)
    judge = add_judge(evaluation)
    responses = responses_by_name(evaluation)
    judge_compare(responses["Model Alpha", 0], responses["Model Beta", 0], "a", judge=judge)
    board = selectors.evaluation_leaderboard(evaluation=evaluation, source="judge", rounds=20)
    rows = {r["model"]: r for r in board[0]["rows"]}
    # One game, k = 32 from 1000: the winner takes k * (1 - 1/2) = 16 points.
    assert rows["Model Alpha"]["elo"] == pytest.approx(1016.0)
    assert rows["Model Beta"]["elo"] == pytest.approx(984.0)
    # Three wins against one loss: Bradley-Terry odds of 3 to 1, i.e. 400 * log10(3) = 190.8
    # points apart (the prior of 0.01 games pulls a little in), centred on 1000.
    for position in (1, 2):
        judge_compare(
            responses["Model Alpha", position], responses["Model Beta", position], "a", judge=judge
        )
    judge_compare(responses["Model Alpha", 3], responses["Model Beta", 3], "b", judge=judge)
    board = selectors.evaluation_leaderboard(evaluation=evaluation, source="judge", rounds=20)
    rows = {r["model"]: r for r in board[0]["rows"]}
    gap = 400 * math.log10(3)
    assert rows["Model Alpha"]["bt"] == pytest.approx(1000 + gap / 2, abs=1.0)
    assert rows["Model Beta"]["bt"] == pytest.approx(1000 - gap / 2, abs=1.0)
    assert rows["Model Alpha"]["bt"] < 1000 + gap / 2  # the prior pulls towards the mean


def test_bootstrap_intervals_are_reproducible_with_a_seed(judged):
    def intervals(seed):
        board = selectors.evaluation_leaderboard(
            evaluation=judged, source="judge", rounds=200, seed=seed
        )
        return [
            (g["group"], r["model"], r["elo_low"], r["elo_high"], r["bt_low"], r["bt_high"])
            for g in board
            for r in g["rows"]
        ]

    first = intervals(0)
    assert intervals(0) == first
    assert intervals(1) != first


def test_groups_are_overall_then_each_domain_with_its_name(judged):
    board = selectors.evaluation_leaderboard(evaluation=judged, source="judge", rounds=20)
    slugs = sorted(("fiction", "creative_nonfiction", "marketing", "technical_writing"))
    assert [g["group"] for g in board] == ["", *slugs]
    names = {d.slug: d for d in Domain.objects.filter(slug__in=slugs)}
    assert [g["label"] for g in board] == ["Overall", *(names[s].name_en for s in slugs)]
    games = expected_games()
    for g in board[1:]:
        mine = [c for c in games if c.group == g["group"]]
        assert g["comparisons"] == len(mine) == 4
        assert g["rows"] == ratings.ratings_table(mine, rounds=20, seed=0)
    with translation.override("zh-hans"):
        board = selectors.evaluation_leaderboard(evaluation=judged, source="judge", rounds=5)
    assert [g["label"] for g in board[1:]] == [names[s].name_zh for s in slugs]


def test_models_that_never_met_are_reported(judged):
    JudgeComparison.objects.filter(
        response_a__contestant__name="Model Alpha", response_b__contestant__name="Model Gamma"
    ).delete()
    JudgeComparison.objects.filter(response_b__contestant__name="Model Gamma").delete()
    extra = make_evaluation_with_responses(("Model Delta",), n=1, benchmark=judged.benchmark)
    judged.contestants.add(*extra.contestants.all())
    responses = responses_by_name(judged)
    judge_compare(responses["Model Gamma", 0], responses["Model Delta", 0], "a", judge=judged.judge)
    board = selectors.evaluation_leaderboard(evaluation=judged, source="judge", rounds=10)
    assert board[0]["components"] == [
        ["Model Alpha", "Model Beta"],
        ["Model Delta", "Model Gamma"],
    ]


# --- Scores -----------------------------------------------------------------------------------


def test_the_score_table_means_per_model_and_domain(judged):
    judge = judged.judge
    responses = responses_by_name(judged)
    # An older grade of a response, superseded by the one made after it.
    grade(
        responses["Model Beta", 0],
        judge=judge,
        style=1,
        relevance=1,
        creativity=1,
        overall=1,
        prompt_version="v0",
    )
    # Beta is the judge's favourite; Gamma has no grades of this judge.
    for position in range(8):
        grade(
            responses["Model Alpha", position],
            judge=judge,
            style=5,
            relevance=6 + position % 2,
            creativity=4,
            overall=5 + (position == 0),
        )
        grade(
            responses["Model Beta", position],
            judge=judge,
            style=8,
            relevance=9,
            creativity=7 + (position < 3),
            overall=8,
        )
    other = make_endpoint("other-judge")
    grade(
        responses["Model Gamma", 0], judge=other, style=10, relevance=10, creativity=10, overall=10
    )
    table = selectors.evaluation_score_table(evaluation=judged)
    assert table["criteria"] == ("style", "relevance", "creativity", "overall")
    rows = table["rows"]
    assert [r["contestant"] for r in rows] == ["Model Beta", "Model Alpha", "Model Gamma"]
    beta, alpha, gamma = rows
    assert beta["n"] == 8 and alpha["n"] == 8 and gamma["n"] == 0
    assert alpha == {
        "contestant": "Model Alpha",
        "contestant_id": alpha["contestant_id"],
        "n": 8,
        "style": 5.0,
        "relevance": 6.5,
        "creativity": 4.0,
        "overall": 5.12,  # 41 / 8 = 5.125, rounded to 2 decimals
    }
    assert (beta["style"], beta["relevance"], beta["creativity"], beta["overall"]) == (
        8.0,
        9.0,
        7.38,  # (3 * 8 + 5 * 7) / 8 = 7.375
        8.0,
    )
    assert gamma["overall"] is None and gamma["style"] is None
    slugs = [d["slug"] for d in table["domains"]]
    assert set(slugs) == {"fiction", "creative_nonfiction", "marketing", "technical_writing"}
    fiction = table["by_domain"]["fiction"]  # positions 0 and 4
    assert [r["contestant"] for r in fiction] == ["Model Beta", "Model Alpha"]
    assert fiction[1]["overall"] == 5.5 and fiction[1]["n"] == 2
    assert fiction[0]["creativity"] == 7.5


def test_the_latest_grade_of_a_response_counts():
    evaluation = make_evaluation_with_responses(("Model Alpha",), n=1)
    judge = add_judge(evaluation)
    response = EvalResponse.objects.get()
    grade(response, judge=judge, style=2, relevance=2, creativity=2, overall=2, prompt_version="a")
    grade(response, judge=judge, style=9, relevance=9, creativity=9, overall=9, prompt_version="b")
    row = selectors.evaluation_score_table(evaluation=evaluation)["rows"][0]
    assert (row["n"], row["overall"]) == (1, 9.0)


# --- Progress and the side-by-side view -------------------------------------------------------


def test_progress_sums_the_jobs_and_says_what_can_be_done(judged):
    judged.status = EvaluationStatus.GENERATING
    judged.grade = True
    judged.save()
    jobs = []
    for i, contestant in enumerate(judged.contestants.order_by("-name")):
        job = Job.objects.create(
            kind="eval.generate",
            name=f"gen {contestant.name}",
            total=8,
            done=8 if i else 3,
            status=JobStatus.DONE if i else JobStatus.RUNNING,
            spent_usd="0.125",
        )
        GenerationJob.objects.create(evaluation=judged, contestant=contestant, job=job)
        jobs.append(job)
    progress = selectors.evaluation_progress(evaluation=judged)
    assert [j["contestant"] for j in progress["jobs"]] == sorted(NAMES)
    assert progress["active"] and progress["pending_judge"]
    assert progress["done"] == 19 and progress["total"] == 24 and progress["percent"] == 79
    assert str(progress["spent_usd"]) == "0.375000"
    assert progress["can_cancel"] and not progress["can_resume"]
    Job.objects.filter(pk=jobs[0].pk).update(status=JobStatus.STOPPED_BUDGET)
    progress = selectors.evaluation_progress(evaluation=judged)
    assert progress["can_resume"]
    judge_job = Job.objects.create(kind="eval.judge", name="judge", total=10, done=10)
    judged.judge_job = judge_job
    judged.status = EvaluationStatus.DONE
    judged.save()
    progress = selectors.evaluation_progress(evaluation=judged)
    assert progress["jobs"][-1]["kind"] == "judge"
    assert not progress["active"] and not progress["pending_judge"]
    assert not progress["can_cancel"] and not progress["can_resume"]


def test_the_item_view_shows_every_model_with_grades_in_few_queries(
    judged, django_assert_max_num_queries
):
    responses = responses_by_name(judged)
    grade(
        responses["Model Beta", 2],
        judge=judged.judge,
        style=7,
        relevance=8,
        creativity=6,
        overall=7,
    )
    evaluator = UserFactory(username="eva", roles=["Evaluator"])
    human_compare(judged, evaluator, responses["Model Alpha", 2], responses["Model Beta", 2], "b")
    EvalResponse.objects.filter(pk=responses["Model Gamma", 2].pk).delete()
    item = responses["Model Alpha", 2].item
    with django_assert_max_num_queries(5):
        view = selectors.evaluation_item_view(evaluation=judged, item=item)
        columns = [(c["contestant"].name, c["response"], c["grade"]) for c in view["columns"]]
    assert [name for name, _r, _g in columns] == list(NAMES)
    assert columns[0][1].text.startswith("Model Alpha answers q003")
    assert columns[0][2] is None
    assert columns[1][2]["overall"] == 7 and columns[1][2]["reason"] == "because"
    assert columns[2][1] is None  # Gamma has not answered
    judge_rows = view["judge_comparisons"]
    assert [(c["a"], c["b"], c["outcome"], c["winner"]) for c in judge_rows] == [
        ("Model Alpha", "Model Beta", "b", "Model Beta")
    ]  # Beta-Gamma is gone with Gamma's response
    assert judge_rows[0]["reason_first"] == "first order"
    human = view["human_comparisons"]
    assert [(c["winner"], c["evaluator"]) for c in human] == [("Model Beta", "eva")]
    assert {c["name"]: c["winner"] for c in human[0]["criteria"]}["creativity"] == "Model Beta"


def test_item_neighbours(judged):
    items = list(judged.benchmark.items.order_by("position"))
    first = selectors.evaluation_item_neighbours(evaluation=judged, item=items[0])
    assert first["prev"] is None and first["next"]["pk"] == items[1].pk
    assert (first["number"], first["count"]) == (1, 8)
    last = selectors.evaluation_item_neighbours(evaluation=judged, item=items[-1])
    assert last["next"] is None and last["prev"]["key"] == items[-2].key


def test_lists_count_models_and_responses(judged):
    row = selectors.evaluations_list().get(pk=judged.pk)
    assert row.n_contestants == 3
    contestants = {c.name: c for c in selectors.contestants_list()}
    assert contestants["Model Alpha"].n_responses == 8
    assert contestants["Model Alpha"].n_evaluations == 1
    items = list(selectors.evaluation_items(evaluation=judged))
    assert [i.n_responses for i in items] == [3] * 8
    assert list(itertools.islice((i.key for i in items), 2)) == ["q001", "q002"]
