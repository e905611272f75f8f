"""Django admin for evaluation: every changelist and change page loads for an Admin; a draft
benchmark's name and instructions are edited through the benchmark services while a frozen
benchmark is read-only (its instructions included); freeze and new-version actions; deletes
through the services, with a message when refused (a benchmark or model in use); evaluation
cancel and resume actions; no page shows an endpoint's API key; user text is escaped."""

from __future__ import annotations

import pytest

from training.models import (
    ArenaAssignment,
    Benchmark,
    BenchmarkItem,
    BenchmarkStatus,
    ContaminationReport,
    Contestant,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
)

from ..factories import sft_snapshot
from .eval_factories import make_benchmark, make_endpoint, make_evaluation_with_responses

SECRET = "sk-admin-page-secret-42"
ADMIN = "/admin/training"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def data(engineer, admin_user):
    """One evaluation with a judge's grade and comparison, a human comparison, an open
    assignment and a contamination report."""
    evaluation = make_evaluation_with_responses(("Model Alpha", "Model Beta"), n=2, user=engineer)
    judge = make_endpoint("judge-ep")
    judge.set_api_key(SECRET)
    judge.save()
    for contestant in evaluation.contestants.all():
        contestant.endpoint.set_api_key(SECRET)
        contestant.endpoint.save()
    Evaluation.objects.filter(pk=evaluation.pk).update(judge=judge)
    item = evaluation.benchmark.items.first()
    ra, rb = EvalResponse.objects.filter(item=item).order_by("contestant_id")
    JudgeGrade.objects.create(
        response=ra,
        judge=judge,
        prompt_version="v1",
        reason="<script>alert(1)</script> vivid",
        style=8,
        relevance=8,
        creativity=7,
        overall=8,
    )
    JudgeComparison.objects.create(
        item=item,
        response_a=ra,
        response_b=rb,
        judge=judge,
        prompt_version="v1",
        first={"verdict": "A"},
        second={"verdict": "B"},
        outcome="a",
        criteria={"style": "a"},
    )
    HumanComparison.objects.create(
        evaluation=evaluation,
        evaluator=admin_user,
        item=item,
        response_a=ra,
        response_b=rb,
        a_on_left=True,
        criteria={"style": "a", "creativity": "tie", "relevance": "a", "fluency": "b"},
        outcome="a",
        seconds=9,
    )
    second = evaluation.benchmark.items.exclude(pk=item.pk).first()
    sa, sb = EvalResponse.objects.filter(item=second).order_by("contestant_id")
    ArenaAssignment.objects.create(
        evaluation=evaluation, evaluator=admin_user, response_a=sa, response_b=sb, a_on_left=False
    )
    snapshot = sft_snapshot(engineer, n=2)
    ContaminationReport.objects.create(
        benchmark=evaluation.benchmark,
        snapshot=snapshot,
        threshold=0.7,
        matches=[
            {"instruction": "q001", "kind": "exact", "containment": 1.0, "prompt": "<b>x</b>"}
        ],
        exact=1,
        instructions=1,
    )
    return evaluation


def test_every_page_loads(data, admin_user, client_for):
    c = client_for(admin_user)
    objects = {
        "benchmark": data.benchmark,
        "benchmarkitem": data.benchmark.items.first(),
        "contestant": data.contestants.first(),
        "evaluation": data,
        "evalresponse": EvalResponse.objects.first(),
        "judgegrade": JudgeGrade.objects.get(),
        "judgecomparison": JudgeComparison.objects.get(),
        "humancomparison": HumanComparison.objects.get(),
        "arenaassignment": ArenaAssignment.objects.get(),
        "contaminationreport": ContaminationReport.objects.get(),
    }
    for name, obj in objects.items():
        page = c.get(f"{ADMIN}/{name}/")
        assert page.status_code == 200, name
        detail = c.get(f"{ADMIN}/{name}/{obj.pk}/change/")
        assert detail.status_code == 200, name
        for response in (page, detail):
            html = response.content.decode()
            assert SECRET not in html, name
            assert "<script>alert(1)</script>" not in html, name
            assert "api_key" not in html, name
    # Records have no add pages.
    for name in ("benchmark", "contestant", "evaluation", "evalresponse", "judgegrade"):
        assert c.get(f"{ADMIN}/{name}/add/").status_code == 403, name
    html = c.get(f"{ADMIN}/judgegrade/{JudgeGrade.objects.get().pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; vivid" in html
    html = c.get(f"{ADMIN}/evaluation/{data.pk}/change/").content.decode()
    assert "Model Alpha" in html and "eval.generate" not in html  # no jobs: made directly
    html = c.get(f"{ADMIN}/evalresponse/?q=answers+q001").content.decode()
    assert "2 responses" in html or "2 results" in html
    html = c.get(
        f"{ADMIN}/evalresponse/?contestant__id__exact={data.contestants.first().pk}"
    ).content.decode()
    assert "2 responses" in html or "2 results" in html
    html = c.get(f"{ADMIN}/benchmarkitem/?q=7th+lantern").content.decode()
    assert "0 benchmark instructions" in html or "0 results" in html
    html = c.get(f"{ADMIN}/benchmarkitem/?q=2th+lantern").content.decode()
    assert "q002" in html
    html = c.get(f"{ADMIN}/contaminationreport/{ContaminationReport.objects.get().pk}/change/")
    assert "&lt;b&gt;x&lt;/b&gt;" in html.content.decode()


def test_evaluation_jobs_shown(engineer, admin_user, client_for):
    from training.evaluation import services

    bench = make_benchmark(3, name="jobs-bench", user=engineer)
    evaluation = make_evaluation_with_responses(("Gen A", "Gen B"), n=3, user=engineer)
    made = services.evaluation_create(
        name="with jobs",
        benchmark=bench,
        contestants=list(evaluation.contestants.all()),
        created_by=engineer,
    )
    html = client_for(admin_user).get(f"{ADMIN}/evaluation/{made.pk}/change/").content.decode()
    assert html.count("eval.generate") == 2 and "0/3" in html
    assert "Gen A" in html and "Gen B" in html


def test_frozen_benchmark_is_read_only(data, admin_user, client_for):
    c = client_for(admin_user)
    frozen = data.benchmark
    url = f"{ADMIN}/benchmark/{frozen.pk}/change/"
    html = c.get(url).content.decode()
    assert 'name="items-0-instruction"' not in html and 'name="name"' not in html
    assert frozen.items.first().instruction in html  # shown, not editable
    r = c.post(
        url,
        {
            "name": "renamed",
            "items-TOTAL_FORMS": "0",
            "items-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 403
    item = frozen.items.first()
    item_html = c.get(f"{ADMIN}/benchmarkitem/{item.pk}/change/").content.decode()
    assert 'name="instruction"' not in item_html
    r = c.post(f"{ADMIN}/benchmarkitem/{item.pk}/change/", {"instruction": "changed"})
    assert r.status_code == 403
    frozen.refresh_from_db()
    item.refresh_from_db()
    assert frozen.name == "writebench" and item.instruction != "changed"


def _inline_post(bench, **extra) -> dict:
    items = list(bench.items.order_by("position"))
    post = {
        "name": bench.name,
        "description": bench.description,
        "items-TOTAL_FORMS": str(len(items)),
        "items-INITIAL_FORMS": str(len(items)),
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for i, item in enumerate(items):
        post.update(
            {
                f"items-{i}-id": str(item.pk),
                f"items-{i}-benchmark": str(bench.pk),
                f"items-{i}-key": item.key,
                f"items-{i}-instruction": item.instruction,
                f"items-{i}-language": item.language,
                f"items-{i}-domain": str(item.domain_id or ""),
                f"items-{i}-task": str(item.task_id or ""),
                f"items-{i}-reference": item.reference,
                f"items-{i}-metadata": "{}",
            }
        )
    post.update(extra)
    return post


def test_draft_benchmark_edited_through_the_services(engineer, admin_user, client_for):
    bench = make_benchmark(2, name="drafty", frozen=False, user=engineer)
    c = client_for(admin_user)
    url = f"{ADMIN}/benchmark/{bench.pk}/change/"
    html = c.get(url).content.decode()
    assert 'name="items-0-instruction"' in html and 'name="name"' in html
    post = _inline_post(
        bench,
        **{
            "name": "renamed-draft",
            "items-0-instruction": "Write about the first lantern, again.",
            "items-TOTAL_FORMS": "3",
            "items-2-key": "added",
            "items-2-instruction": "A new instruction from the admin.",
            "items-2-language": "zh",
            "items-2-metadata": "{}",
            "items-1-DELETE": "on",
        },
    )
    r = c.post(url, post)
    assert r.status_code == 302, r.content.decode()[:3000]
    bench.refresh_from_db()
    assert bench.name == "renamed-draft"
    items = list(bench.items.order_by("position"))
    assert [i.key for i in items] == ["q001", "added"]
    assert items[0].instruction == "Write about the first lantern, again."
    assert items[1].language == "zh" and items[1].position > items[0].position

    # A name the service refuses: a message, nothing changed.
    make_benchmark(1, name="taken", frozen=False)
    r = c.post(url, _inline_post(bench, name="taken"), follow=True)
    assert any("taken" in m or "exists" in m for m in messages_of(r)), messages_of(r)
    bench.refresh_from_db()
    assert bench.name == "renamed-draft"


def test_freeze_and_new_version_actions(engineer, admin_user, client_for):
    bench = make_benchmark(2, name="to-freeze", frozen=False, user=engineer)
    empty = make_benchmark(0, name="empty", frozen=False, user=engineer)
    c = client_for(admin_user)
    r = c.post(
        f"{ADMIN}/benchmark/",
        {"action": "freeze_selected", "_selected_action": [bench.pk, empty.pk]},
        follow=True,
    )
    assert r.status_code == 200
    bench.refresh_from_db()
    empty.refresh_from_db()
    assert bench.status == BenchmarkStatus.FROZEN and len(bench.content_hash) == 64
    assert bench.frozen_by == admin_user
    assert empty.status == BenchmarkStatus.DRAFT
    shown = messages_of(r)
    assert any("1 benchmark frozen" in m for m in shown), shown
    assert any(m.startswith("empty v1:") for m in shown), shown

    r = c.post(
        f"{ADMIN}/benchmark/",
        {"action": "new_version_selected", "_selected_action": [bench.pk]},
        follow=True,
    )
    copy = Benchmark.objects.get(name="to-freeze", version=2)
    assert copy.status == BenchmarkStatus.DRAFT and copy.parent == bench
    assert copy.items.count() == 2
    assert any("1 new draft version made" in m for m in messages_of(r))


def test_delete_refusals(data, engineer, admin_user, client_for):
    c = client_for(admin_user)
    used = data.benchmark
    confirm = c.get(f"{ADMIN}/benchmark/{used.pk}/delete/")
    assert confirm.status_code == 200
    assert "Benchmark instructions: 2" in confirm.content.decode()
    for name, obj in (("contestant", data.contestants.first()), ("evaluation", data)):
        assert c.get(f"{ADMIN}/{name}/{obj.pk}/delete/").status_code == 200, name
    # The delete page of a benchmark an evaluation uses: refused, with a message.
    r = c.post(f"{ADMIN}/benchmark/{used.pk}/delete/", {"post": "yes"}, follow=True)
    assert r.status_code == 200
    assert Benchmark.objects.filter(pk=used.pk).exists()
    assert any("cannot be deleted" in m for m in messages_of(r)), messages_of(r)
    assert r.redirect_chain[-1][0].endswith(f"/benchmark/{used.pk}/change/")

    # The action: the unused one goes, the used one stays with a message.
    unused = make_benchmark(1, name="unused", frozen=False)
    r = c.post(
        f"{ADMIN}/benchmark/",
        {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], "post": "yes"},
        follow=True,
    )
    shown = messages_of(r)
    assert not Benchmark.objects.filter(pk=unused.pk).exists()
    assert Benchmark.objects.filter(pk=used.pk).exists()
    assert any("1 benchmark deleted" in m for m in shown), shown
    assert any(m.startswith(f"{used}:") for m in shown), shown

    # A model in use.
    contestant = data.contestants.first()
    r = c.post(f"{ADMIN}/contestant/{contestant.pk}/delete/", {"post": "yes"}, follow=True)
    assert Contestant.objects.filter(pk=contestant.pk).exists()
    assert any("evaluation uses" in m for m in messages_of(r)), messages_of(r)

    # The evaluation goes (it is not running), then the benchmark and its models may.
    r = c.post(f"{ADMIN}/evaluation/{data.pk}/delete/", {"post": "yes"}, follow=True)
    assert not Evaluation.objects.filter(pk=data.pk).exists()
    r = c.post(f"{ADMIN}/contestant/{contestant.pk}/delete/", {"post": "yes"}, follow=True)
    assert not Contestant.objects.filter(pk=contestant.pk).exists()
    r = c.post(f"{ADMIN}/benchmark/{used.pk}/delete/", {"post": "yes"}, follow=True)
    assert not Benchmark.objects.filter(pk=used.pk).exists()
    assert not BenchmarkItem.objects.filter(benchmark_id=used.pk).exists()


def test_cancel_and_resume_actions(engineer, admin_user, client_for):
    from training.evaluation import services

    base = make_evaluation_with_responses(("Run A", "Run B"), n=2, user=engineer)
    evaluation = services.evaluation_create(
        name="to cancel",
        benchmark=base.benchmark,
        contestants=list(base.contestants.all()),
        created_by=engineer,
    )
    c = client_for(admin_user)
    r = c.post(
        f"{ADMIN}/evaluation/",
        {"action": "cancel_selected", "_selected_action": [evaluation.pk, base.pk]},
        follow=True,
    )
    evaluation.refresh_from_db()
    base.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert base.status == EvaluationStatus.DONE  # done: not cancelled
    assert any("1 evaluation cancelled" in m for m in messages_of(r)), messages_of(r)
    r = c.post(
        f"{ADMIN}/evaluation/",
        {"action": "resume_selected", "_selected_action": [evaluation.pk]},
        follow=True,
    )
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert any("0 evaluations resumed" in m for m in messages_of(r)), messages_of(r)


def test_non_admins_have_no_admin(data, engineer, client_for):
    c = client_for(engineer)
    r = c.get(f"{ADMIN}/benchmark/")
    assert r.status_code in (302, 403)
