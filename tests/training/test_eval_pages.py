"""The evaluation pages: who may see them, the lists, the new-evaluation and new-model forms
(the services' errors on the fields, nothing created when invalid), an evaluation's progress
partial with cancel and resume, the leaderboard (the favourite first, tabs, criterion, chart,
score table), the instructions and the side-by-side view, and escaping. Data is made directly in
the database; no job runs here."""

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from pairs.models import DatasetSnapshot, SnapshotStatus
from principles.models import Domain, Subdomain, Task
from principles.taxonomy import seed_taxonomy
from tests.factories import UserFactory, dpo_snapshot
from tests.training.eval_factories import (
    make_benchmark,
    make_contestant,
    make_endpoint,
    make_evaluation_with_responses,
)
from training.models import (
    BenchmarkItem,
    ContaminationReport,
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    GenerationJob,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
    RunCheckpoint,
    RunStatus,
    TrainingRun,
)
from training.services import run_defaults
from weaver_site.models import Job, JobStatus

pytestmark = pytest.mark.django_db

HOME = reverse("evaluation:home")
NEW = reverse("evaluation:evaluation-new")
MODELS = reverse("evaluation:contestant-list")
NEW_MODEL = reverse("evaluation:contestant-new")
XSS = "<script>alert(1)</script>"


def url(name, *args):
    return reverse(f"evaluation:{name}", args=args)


@pytest.fixture(autouse=True)
def _taxonomy(db):
    seed_taxonomy(Domain, Subdomain, Task)


@pytest.fixture
def evaluator(db):
    return UserFactory(username="eva", roles=["Evaluator"])


def responses_by_name(evaluation):
    return {
        (r.contestant.name, r.item.position): r
        for r in EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).select_related(
            "contestant", "item"
        )
    }


def judge_everything(evaluation, favourite: str, *, judge=None):
    """The judge prefers ``favourite`` in every comparison and grades it higher."""
    judge = judge or make_endpoint("judge")
    evaluation.judge = judge
    evaluation.save()
    responses = responses_by_name(evaluation)
    names = sorted({name for name, _p in responses}, key=lambda n: responses[n, 0].contestant_id)
    positions = sorted({p for _n, p in responses})
    for position in positions:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                outcome = "a" if a == favourite else "b" if b == favourite else "tie"
                JudgeComparison.objects.create(
                    item=responses[a, position].item,
                    response_a=responses[a, position],
                    response_b=responses[b, position],
                    judge=judge,
                    prompt_version="v1",
                    first={"reason": f"{a} vs {b}"},
                    second={"reason": "swapped"},
                    outcome=outcome,
                    criteria=dict.fromkeys(
                        ("creativity", "style", "relevance", "fluency"), outcome
                    ),
                )
        for name in names:
            score = 9 if name == favourite else 4
            JudgeGrade.objects.create(
                response=responses[name, position],
                judge=judge,
                prompt_version="v1",
                reason=f"graded {name}",
                style=score,
                relevance=score,
                creativity=score,
                overall=score,
            )
    return judge


@pytest.fixture
def evaluation(engineer):
    # "Model Beta" is the favourite, although "Model Alpha" comes first by name and by id.
    evaluation = make_evaluation_with_responses(
        ("Model Alpha", "Model Beta", "Model Gamma"), n=4, user=engineer
    )
    judge_everything(evaluation, "Model Beta")
    return evaluation


def pages_of(evaluation):
    item = evaluation.benchmark.items.order_by("position").first()
    return [
        HOME,
        NEW,
        MODELS,
        NEW_MODEL,
        url("evaluation-detail", evaluation.pk),
        url("evaluation-progress", evaluation.pk),
        url("leaderboard", evaluation.pk),
        url("leaderboard", evaluation.pk) + "?source=human&criterion=style",
        url("item-list", evaluation.pk),
        url("item-detail", evaluation.pk, item.pk),
    ]


# --- Who may see what -----------------------------------------------------------------------


def test_only_engineers_and_admins_see_the_evaluation_pages(
    client, client_for, engineer, admin_user, author, reviewer, evaluator, evaluation
):
    pages = pages_of(evaluation)
    posts = [
        NEW,
        NEW_MODEL,
        url("evaluation-cancel", evaluation.pk),
        url("evaluation-resume", evaluation.pk),
    ]
    for user in (author, reviewer, evaluator):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 403, (user, page)
        for page in posts:
            assert c.post(page, {"name": "x"}).status_code == 403, (user, page)
    for page in pages + posts:
        response = client.get(page) if page not in posts else client.post(page, {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], page
    assert Evaluation.objects.count() == 1 and Contestant.objects.count() == 3
    for user in (engineer, admin_user):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 200, (user, page)
    c = client_for(engineer)
    other = make_evaluation_with_responses(("Model Other",), n=1)
    other_item = other.benchmark.items.get()
    for page in (
        url("evaluation-detail", 999),
        url("evaluation-progress", 999),
        url("leaderboard", 999),
        url("item-list", 999),
        url("item-detail", evaluation.pk, other_item.pk),  # another benchmark's item
    ):
        assert c.get(page).status_code == 404, page
    assert c.post(url("evaluation-cancel", 999)).status_code == 404


def test_the_list_links_evaluations_benchmarks_and_models(client_for, engineer, evaluation):
    body = client_for(engineer).get(HOME).content.decode()
    assert f'id="evaluation-{evaluation.pk}"' in body
    assert url("evaluation-detail", evaluation.pk) in body
    assert url("leaderboard", evaluation.pk) in body
    assert 'href="/evaluation/benchmarks/"' in body
    assert f'href="{MODELS}"' in body and f'href="{NEW}"' in body
    models = client_for(engineer).get(MODELS).content.decode()
    for name in ("Model Alpha", "Model Beta", "Model Gamma"):
        assert name in models
    assert "temperature=0.7" in models


# --- Leaderboard ----------------------------------------------------------------------------


def rating_models(body: str, table_id: str) -> list[str]:
    table = re.search(rf'id="{table_id}".*?</table>', body, re.S)
    assert table, table_id
    return [
        html.unescape(m) for m in re.findall(r'class="rating-row" data-model="([^"]*)"', table[0])
    ]


def test_the_leaderboard_ranks_the_favourite_first(client_for, engineer, evaluation):
    body = client_for(engineer).get(url("leaderboard", evaluation.pk)).content.decode()
    assert rating_models(body, "ratings-overall")[0] == "Model Beta"
    # One table per domain, named in the current language.
    fiction = Domain.objects.get(slug="fiction")
    assert 'id="ratings-fiction"' in body and fiction.name_en in body
    assert rating_models(body, "ratings-fiction")[0] == "Model Beta"
    # The chart: a dot and a whisker per model and rating.
    chart = re.search(r'id="chart-overall".*?</svg>', body, re.S)[0]
    assert chart.count('class="bt dot"') == 3 and chart.count('class="elo whisker"') == 3
    assert "<title" in chart and "<desc" in chart
    # The score table, best overall first.
    scores = re.search(r'id="scores-overall".*?</table>', body, re.S)[0]
    order = re.findall(r'class="score-row" data-model="([^"]*)"', scores)
    assert order == ["Model Beta", "Model Alpha", "Model Gamma"]
    assert "9.0" in scores and "4.0" in scores
    assert 'aria-current="page"' in re.search(r'id="source-judge"[^>]*>', body)[0]
    assert "not-connected" not in body


def test_the_human_tab_and_a_criterion(client_for, engineer, evaluation):
    c = client_for(engineer)
    body = c.get(url("leaderboard", evaluation.pk) + "?source=human").content.decode()
    assert 'id="no-comparisons"' in body
    assert 'aria-current="page"' in re.search(r'id="source-human"[^>]*>', body)[0]
    responses = responses_by_name(evaluation)
    evaluators = [UserFactory(username=f"ev{i}", roles=["Evaluator"]) for i in range(3)]
    for i, who in enumerate(evaluators):
        HumanComparison.objects.create(
            evaluation=evaluation,
            evaluator=who,
            item=responses["Model Alpha", i].item,
            response_a=responses["Model Alpha", i],
            response_b=responses["Model Gamma", i],
            a_on_left=bool(i % 2),
            criteria={"creativity": "b", "style": "a", "relevance": "b", "fluency": "b"},
            outcome="b",
        )
    body = c.get(url("leaderboard", evaluation.pk) + "?source=human").content.decode()
    assert rating_models(body, "ratings-overall") == ["Model Gamma", "Model Alpha"]
    body = c.get(
        url("leaderboard", evaluation.pk) + "?source=human&criterion=style"
    ).content.decode()
    assert rating_models(body, "ratings-overall") == ["Model Alpha", "Model Gamma"]
    assert '<option value="style" selected>' in body
    # Unknown values fall back to the judge's overall outcome.
    body = c.get(url("leaderboard", evaluation.pk) + "?source=x&criterion=y").content.decode()
    assert rating_models(body, "ratings-overall")[0] == "Model Beta"


def test_models_that_never_met_are_noted(client_for, engineer, evaluation):
    JudgeComparison.objects.filter(response_b__contestant__name="Model Gamma").delete()
    body = client_for(engineer).get(url("leaderboard", evaluation.pk)).content.decode()
    assert "not-connected" not in body  # Gamma played no game: not on the board
    JudgeComparison.objects.all().delete()
    responses = responses_by_name(evaluation)
    extra = make_evaluation_with_responses(("Model Delta",), benchmark=evaluation.benchmark)
    evaluation.contestants.add(*extra.contestants.all())
    responses = responses_by_name(evaluation)
    for a, b in (("Model Alpha", "Model Beta"), ("Model Gamma", "Model Delta")):
        JudgeComparison.objects.create(
            item=responses[a, 0].item,
            response_a=responses[a, 0],
            response_b=responses[b, 0],
            judge=evaluation.judge,
            prompt_version="v1",
            outcome="a",
        )
    body = client_for(engineer).get(url("leaderboard", evaluation.pk)).content.decode()
    note = re.search(r'class="msg msg-warning not-connected".*?</p>', body, re.S)[0]
    assert "Model Alpha, Model Beta" in note and "Model Delta, Model Gamma" in note


# --- Instructions, side by side ---------------------------------------------------------------


def test_the_side_by_side_view_shows_every_model(
    client_for, engineer, evaluation, django_assert_max_num_queries
):
    items = list(evaluation.benchmark.items.order_by("position"))
    c = client_for(engineer)
    listing = c.get(url("item-list", evaluation.pk)).content.decode()
    for item in items:
        assert url("item-detail", evaluation.pk, item.pk) in listing
    assert "3 / 3" in listing
    with django_assert_max_num_queries(20):
        page = c.get(url("item-detail", evaluation.pk, items[1].pk))
    body = page.content.decode()
    for name in ("Model Alpha", "Model Beta", "Model Gamma"):
        assert f"{name} answers q002" in body
        assert f"graded {name}" in body
    assert items[1].instruction in body
    assert 'id="item-prev"' in body and 'id="item-next"' in body
    assert url("item-detail", evaluation.pk, items[0].pk) in body
    assert url("item-detail", evaluation.pk, items[2].pk) in body
    judge_rows = re.search(r'id="judge-comparisons".*?</section>', body, re.S)[0]
    assert judge_rows.count('class="comparison"') == 3
    assert "Model Beta better" in judge_rows
    first = c.get(url("item-detail", evaluation.pk, items[0].pk)).content.decode()
    assert 'id="item-prev"' not in first and "Instruction 1 of 4" in first


def test_responses_and_names_are_escaped(client_for, engineer):
    evaluation = make_evaluation_with_responses((f"Bad {XSS}", "Model Fine"), n=2)
    judge_everything(evaluation, f"Bad {XSS}")
    EvalResponse.objects.filter(contestant__name="Model Fine").update(text=f"answer {XSS}")
    JudgeGrade.objects.update(reason=f"reason {XSS}")
    item = evaluation.benchmark.items.order_by("position").first()
    c = client_for(engineer)
    for page in (
        url("item-detail", evaluation.pk, item.pk),
        url("leaderboard", evaluation.pk),
        url("evaluation-detail", evaluation.pk),
        MODELS,
    ):
        body = c.get(page).content.decode()
        assert XSS not in body, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, page
    body = c.get(url("item-detail", evaluation.pk, item.pk)).content.decode()
    assert f"answer {html.escape(XSS, quote=False)}" in body.replace("&#x27;", "'")
    # The factory's own markup in a response is text too.
    assert "&lt;b&gt;softly&lt;/b&gt;" in body


# --- Creating -------------------------------------------------------------------------------


def checkpoint_of_a_done_run(user):
    snap = DatasetSnapshot.objects.create(
        name="sft-set",
        version=1,
        kind="sft",
        status=SnapshotStatus.READY,
        row_count=5,
        train_count=5,
        content_hash="ab" * 32,
    )
    run = TrainingRun.objects.create(
        name="tiny sft",
        kind="sft",
        snapshot=snap,
        status=RunStatus.DONE,
        created_by=user,
        base_model="/models/tiny",
        hyperparameters=run_defaults("sft"),
    )
    return RunCheckpoint.objects.create(run=run, step=10, path="/runs/1/final", final=True)


def test_a_model_from_an_endpoint_or_a_checkpoint(client_for, engineer):
    endpoint = make_endpoint("remote")
    ckpt = checkpoint_of_a_done_run(engineer)
    c = client_for(engineer)
    form = c.get(NEW_MODEL).content.decode()
    assert "tiny sft" in form and "remote" in form
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        assert f'name="{name}"' in form
    response = c.post(
        NEW_MODEL,
        {
            "name": "Remote 0.7",
            "source": "endpoint",
            "endpoint": endpoint.pk,
            "checkpoint": ckpt.pk,  # ignored: the source is the endpoint
            "temperature": "0.7",
            "top_p": "0.9",
            "max_tokens": "256",
            "seed": "3",
        },
    )
    assert response.status_code == 302 and response["Location"] == MODELS
    made = Contestant.objects.get(name="Remote 0.7")
    assert made.kind == ContestantKind.ENDPOINT and made.endpoint == endpoint
    assert made.decoding == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 256, "seed": 3}
    assert made.created_by == engineer
    response = c.post(
        NEW_MODEL, {"name": "Tiny final", "source": "checkpoint", "checkpoint": ckpt.pk}
    )
    assert response.status_code == 302
    tiny = Contestant.objects.get(name="Tiny final")
    assert tiny.kind == ContestantKind.CHECKPOINT and tiny.checkpoint == ckpt
    assert tiny.run == ckpt.run and tiny.decoding == {}


def test_an_invalid_model_shows_field_errors_and_creates_nothing(client_for, engineer):
    endpoint = make_endpoint("remote")
    make_contestant("Taken")
    c = client_for(engineer)
    cases = [
        ({"name": "", "source": "endpoint", "endpoint": endpoint.pk}, "name"),
        ({"name": "x", "source": "endpoint"}, "endpoint"),
        ({"name": "x", "source": "checkpoint"}, "checkpoint"),
        (
            {"name": "x", "source": "endpoint", "endpoint": endpoint.pk, "temperature": "-1"},
            "temperature",
        ),
        ({"name": "x", "source": "endpoint", "endpoint": endpoint.pk, "top_p": "1.5"}, "top_p"),
        (
            {"name": "x", "source": "endpoint", "endpoint": endpoint.pk, "max_tokens": "0"},
            "max_tokens",
        ),
        ({"name": "x", "source": "endpoint", "endpoint": endpoint.pk, "seed": "abc"}, "seed"),
        ({"name": "Taken", "source": "endpoint", "endpoint": endpoint.pk}, "name"),
    ]
    for data, field in cases:
        response = c.post(NEW_MODEL, data)
        body = response.content.decode()
        assert response.status_code == 400, data
        assert body.count(f'id="id_{field}_error"') == 1, (
            data,
            field,
        )  # one element, its error list
    assert list(Contestant.objects.values_list("name", flat=True)) == ["Taken"]


def test_a_new_evaluation(client_for, engineer):
    frozen = make_benchmark(5, name="frozen-bench")
    draft = make_benchmark(3, name="draft-bench", frozen=False)
    a, b = make_contestant("Model A"), make_contestant("Model B")
    judge = make_endpoint("judge")
    c = client_for(engineer)
    form = c.get(NEW).content.decode()
    assert "frozen-bench" in form and "draft-bench" not in form
    assert 'type="checkbox" name="contestants"' in form
    response = c.post(
        NEW,
        {
            "name": "A vs B",
            "benchmark": frozen.pk,
            "contestants": [a.pk, b.pk],
            "judge": judge.pk,
            "grade": "on",
            "pairwise": "on",
            "budget_usd": "2.5",
        },
    )
    evaluation = Evaluation.objects.get(name="A vs B")
    assert response.status_code == 302
    assert response["Location"] == url("evaluation-detail", evaluation.pk)
    assert set(evaluation.contestants.all()) == {a, b}
    assert evaluation.judge == judge and evaluation.budget_usd == Decimal("2.5")
    assert evaluation.grade and evaluation.pairwise and not evaluation.arena_open
    assert GenerationJob.objects.filter(evaluation=evaluation).count() == 2
    assert evaluation.created_by == engineer
    detail = c.get(response["Location"]).content.decode()
    assert 'id="job-' in detail and 'hx-trigger="every 2s"' in detail
    assert 'id="judge-pending"' in detail
    assert draft.evaluations.count() == 0


def test_an_invalid_evaluation_shows_field_errors_and_creates_nothing(client_for, engineer):
    frozen = make_benchmark(5, name="frozen-bench")
    draft = make_benchmark(3, name="draft-bench", frozen=False)
    a = make_contestant("Model A")
    c = client_for(engineer)
    cases = [
        ({"name": "", "benchmark": frozen.pk, "contestants": [a.pk]}, "name"),
        ({"name": "x", "benchmark": draft.pk, "contestants": [a.pk]}, "benchmark"),
        ({"name": "x", "benchmark": frozen.pk}, "contestants"),
        # Pairwise judging needs two models: the service says so on the field.
        (
            {"name": "x", "benchmark": frozen.pk, "contestants": [a.pk], "pairwise": "on"},
            "contestants",
        ),
        (
            {"name": "x", "benchmark": frozen.pk, "contestants": [a.pk], "budget_usd": "-1"},
            "budget_usd",
        ),
    ]
    for data, field in cases:
        response = c.post(NEW, data)
        assert response.status_code == 400, data
        assert f'id="id_{field}_error"' in response.content.decode(), (data, field)
    assert not Evaluation.objects.exists() and not Job.objects.exists()


# --- Progress, cancel and resume ------------------------------------------------------------


def running_evaluation(user, names=("Model A", "Model B")):
    evaluation = make_evaluation_with_responses(
        names, n=3, status=EvaluationStatus.GENERATING, user=user
    )
    for i, contestant in enumerate(evaluation.contestants.order_by("name")):
        job = Job.objects.create(
            kind="eval.generate",
            name=f"Answer with {contestant.name}",
            total=3,
            done=3 if i else 1,
            status=JobStatus.DONE if i else JobStatus.RUNNING,
            spent_usd=Decimal("0.0125"),
        )
        GenerationJob.objects.create(evaluation=evaluation, contestant=contestant, job=job)
    return evaluation


def test_the_progress_fragment_polls_while_running(client_for, engineer):
    evaluation = running_evaluation(engineer)
    c = client_for(engineer)
    body = c.get(url("evaluation-progress", evaluation.pk)).content.decode()
    assert body.lstrip().startswith('<section class="card run-live" id="evaluation-live"')
    assert 'hx-trigger="every 2s"' in body
    assert "<html" not in body
    assert "4 of 6 steps done (67%)" in body
    assert "spent $0.0250" in body
    assert 'id="evaluation-failed"' not in body
    Job.objects.filter(status=JobStatus.RUNNING).update(done=1, failed=1)  # over: 5 of 6
    body = c.get(url("evaluation-progress", evaluation.pk)).content.decode()
    assert "4 of 6 steps done (83%)" in body  # the failed unit is over, not done
    assert re.search(r'id="evaluation-failed">\s*1 failed\s*<', body)
    assert "Answers of Model A" in body and "Answers of Model B" in body
    assert 'id="cancel-evaluation"' in body and 'id="resume-evaluation"' not in body
    Evaluation.objects.filter(pk=evaluation.pk).update(status=EvaluationStatus.DONE)
    body = c.get(url("evaluation-progress", evaluation.pk)).content.decode()
    assert "hx-trigger" not in body and 'id="cancel-evaluation"' not in body


def test_cancel_and_resume(client_for, engineer):
    evaluation = running_evaluation(engineer)
    c = client_for(engineer)
    response = c.post(url("evaluation-cancel", evaluation.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="evaluation-notice"' in body and "hx-trigger" not in body
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert not Job.objects.filter(status=JobStatus.RUNNING).exists()
    response = c.post(url("evaluation-cancel", evaluation.pk))
    assert response.status_code == 302  # nothing to cancel: said on the page
    failed = running_evaluation(engineer, ("Model C", "Model D"))
    Evaluation.objects.filter(pk=failed.pk).update(status=EvaluationStatus.FAILED, error="boom")
    Job.objects.filter(status=JobStatus.RUNNING).update(status=JobStatus.FAILED)
    body = c.get(url("evaluation-detail", failed.pk)).content.decode()
    assert 'id="resume-evaluation"' in body and "boom" in body
    response = c.post(url("evaluation-resume", failed.pk))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == EvaluationStatus.GENERATING


def test_a_checkpoint_trained_on_the_benchmark_is_flagged(client_for, engineer, author, admin_user):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=6)  # "Write scene {k} on a river …"
    evaluation = make_evaluation_with_responses(("Model Clean", "Model Tainted"), n=3)
    item = evaluation.benchmark.items.order_by("position").first()
    BenchmarkItem.objects.filter(pk=item.pk).update(
        instruction="Write scene 3 on a river at night."
    )
    ckpt = checkpoint_of_a_done_run(engineer)
    TrainingRun.objects.filter(pk=ckpt.run_id).update(snapshot=snapshot)
    Contestant.objects.filter(name="Model Tainted").update(
        kind=ContestantKind.CHECKPOINT, run=ckpt.run, checkpoint=ckpt
    )
    c = client_for(engineer)
    body = c.get(url("evaluation-detail", evaluation.pk)).content.decode()
    tainted = Contestant.objects.get(name="Model Tainted")
    warning = re.search(rf'id="contamination-{tainted.pk}".*?</div>', body, re.S)
    assert warning, "no contamination warning"
    assert "Model Tainted" in warning[0] and snapshot.label in html.unescape(warning[0])
    assert body.count('class="card eval-warning contamination-warning"') == 1
    # A clean snapshot: no warning.
    BenchmarkItem.objects.filter(pk=item.pk).update(instruction="Compose a sonnet about frost.")
    ContaminationReport.objects.all().delete()
    body = c.get(url("evaluation-detail", evaluation.pk)).content.decode()
    assert "contamination-warning" not in body
