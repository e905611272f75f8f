"""Evaluation API: benchmarks (create, edit drafts, items, import with every problem named by
file, line and field, freeze, new version, export, contamination, admin-only delete),
models under evaluation (no API key in any response), evaluations (create, jobs, cancel,
resume, delete, scores, leaderboards, responses, comparisons) and the blind arena (no model
name in any response, no pair compared twice). Who may use what: Engineers and Admins
everything but the arena; Evaluators the arena only; Authors and Reviewers nothing here.

Nothing is generated or judged: evaluations are made by the service (``on_commit`` never
fires under the ``db`` fixture, so nothing is queued) or written directly with their
responses, grades and comparisons."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from training.models import (
    ArenaAssignment,
    Benchmark,
    BenchmarkItem,
    Contestant,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
)
from weaver_site.models import Job

from ..factories import UserFactory, sft_snapshot
from .eval_factories import (
    make_benchmark,
    make_contestant,
    make_endpoint,
    make_evaluation_with_responses,
)

NAMES = ("Model Alpha", "Model Beta")
SECRET = "sk-live-verysecret-0123456789"


def api_for(user=None):
    c = APIClient()
    if user is not None:
        c.force_authenticate(user)
    return c


@pytest.fixture
def evaluator(db):
    return UserFactory(username="eve", roles=["Evaluator"])


@pytest.fixture
def evaluator2(db):
    return UserFactory(username="evan", roles=["Evaluator"])


def jsonl(*rows) -> io.BytesIO:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    f = io.BytesIO(("\n".join(lines) + "\n").encode())
    f.name = "bench.jsonl"
    return f


def draft(engineer, name="draft-bench", n=0) -> Benchmark:
    bench = make_benchmark(n, name=name, frozen=False, user=engineer)
    return bench


def judged_evaluation(engineer) -> Evaluation:
    """Two models on a 6-instruction benchmark, graded and compared by a judge that prefers
    Model Alpha everywhere."""
    evaluation = make_evaluation_with_responses(NAMES, n=6, user=engineer)
    judge = make_endpoint("judge-ep")
    Evaluation.objects.filter(pk=evaluation.pk).update(judge=judge, grade=True, pairwise=True)
    evaluation.refresh_from_db()
    alpha, beta = (Contestant.objects.get(name=n) for n in NAMES)
    for response in EvalResponse.objects.filter(contestant__in=[alpha, beta]):
        good = response.contestant_id == alpha.pk
        JudgeGrade.objects.create(
            response=response,
            judge=judge,
            prompt_version="v1",
            reason="Vivid." if good else "Flat.",
            style=8 if good else 4,
            relevance=9 if good else 5,
            creativity=7 if good else 3,
            overall=8 if good else 4,
        )
    a_id, b_id = sorted([alpha.pk, beta.pk])
    for item in evaluation.benchmark.items.all():
        ra = EvalResponse.objects.get(item=item, contestant_id=a_id)
        rb = EvalResponse.objects.get(item=item, contestant_id=b_id)
        winner = "a" if a_id == alpha.pk else "b"
        JudgeComparison.objects.create(
            item=item,
            response_a=ra,
            response_b=rb,
            judge=judge,
            prompt_version="v1",
            outcome=winner,
            criteria={c: winner for c in ("creativity", "style", "relevance", "fluency")},
        )
    return evaluation


# --- Who may use what -----------------------------------------------------------------------


def test_roles(engineer, admin_user, author, reviewer, evaluator):
    evaluation = make_evaluation_with_responses(NAMES, n=2, user=engineer)
    bench = evaluation.benchmark
    item = bench.items.first()
    contestant = evaluation.contestants.first()
    studio_urls = [
        "/api/benchmarks/",
        f"/api/benchmarks/{bench.pk}/",
        f"/api/benchmarks/{bench.pk}/items/",
        f"/api/benchmarks/{bench.pk}/export/",
        f"/api/benchmark-items/{item.pk}/",
        "/api/contestants/",
        f"/api/contestants/{contestant.pk}/",
        "/api/evaluations/",
        f"/api/evaluations/{evaluation.pk}/",
        f"/api/evaluations/{evaluation.pk}/scores/",
        f"/api/evaluations/{evaluation.pk}/leaderboard/",
        f"/api/evaluations/{evaluation.pk}/responses/",
        f"/api/evaluations/{evaluation.pk}/comparisons/",
    ]
    for user in (evaluator, author, reviewer, None):
        c = api_for(user)
        for url in studio_urls:
            code = c.get(url).status_code
            assert code in ((401, 403) if user is None else (403,)), (user, url, code)
        for url in ("/api/benchmarks/", "/api/contestants/", "/api/evaluations/"):
            assert c.post(url, {"name": "x"}, format="json").status_code in (401, 403)
        assert c.post(f"/api/benchmarks/{bench.pk}/freeze/").status_code in (401, 403)
        assert c.post(f"/api/evaluations/{evaluation.pk}/cancel/").status_code in (401, 403)
        assert c.delete(f"/api/benchmarks/{bench.pk}/").status_code in (401, 403)
    # The arena: Evaluators and Admins only.
    for user in (engineer, author, reviewer, None):
        c = api_for(user)
        assert c.get("/api/arena/").status_code in (401, 403), user
        assert c.post(f"/api/arena/{evaluation.pk}/next/").status_code in (401, 403), user
        assert c.post("/api/arena/submit/", {}, format="json").status_code in (401, 403), user
    assert api_for(evaluator).get("/api/arena/").status_code == 200
    assert api_for(admin_user).get("/api/arena/").status_code == 200
    for user in (engineer, admin_user):
        c = api_for(user)
        for url in studio_urls:
            assert c.get(url).status_code == 200, (user, url)
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.DONE
    assert Benchmark.objects.filter(pk=bench.pk).exists()


def test_token_auth(engineer, evaluator):
    from rest_framework.authtoken.models import Token

    make_benchmark(1, name="by-token")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    assert [b["name"] for b in c.get("/api/benchmarks/").json()["results"]] == ["by-token"]
    c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=evaluator).key}")
    assert c.get("/api/benchmarks/").status_code == 403
    assert c.get("/api/arena/").status_code == 200


# --- Benchmarks -----------------------------------------------------------------------------


def test_benchmark_create_list_retrieve_update(engineer):
    c = api_for(engineer)
    r = c.post("/api/benchmarks/", {"name": "stories", "description": "Short fiction."})
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["name"], body["version"], body["status"], body["item_count"]) == (
        "stories",
        1,
        "draft",
        0,
    )
    assert body["description"] == "Short fiction." and body["created_by"] == "ed"
    assert body["content_hash"] == "" and body["frozen_at"] is None
    assert body["by_language"] == {} and body["by_domain"] == {}
    pk = body["id"]

    # Bad input names the field.
    r = c.post("/api/benchmarks/", {"name": "stories"})
    assert r.status_code == 400 and "name" in r.json()
    r = c.post("/api/benchmarks/", {"description": "no name"})
    assert r.status_code == 400 and "name" in r.json()

    frozen = make_benchmark(6, name="writebench", user=engineer)
    detail = c.get(f"/api/benchmarks/{frozen.pk}/").json()
    assert detail["status"] == "frozen" and len(detail["content_hash"]) == 64
    assert detail["frozen_at"] and detail["item_count"] == 6
    assert detail["by_language"] == {"en": 6}
    assert detail["by_domain"] == {
        "creative_nonfiction": 2,
        "fiction": 2,
        "marketing": 1,
        "technical_writing": 1,
    }
    assert sum(detail["by_task"].values()) == 6

    # List and filters.
    names = lambda q: [b["name"] for b in c.get(f"/api/benchmarks/?{q}").json()["results"]]  # noqa: E731
    assert sorted(names("")) == ["stories", "writebench"]
    assert names("status=frozen") == ["writebench"]
    assert names("status=draft") == ["stories"]
    assert names("name=stories") == ["stories"]
    assert names("name=nothing") == []
    assert "by_language" not in c.get("/api/benchmarks/").json()["results"][0]

    # A draft is renamed and described; a frozen one keeps its name.
    r = c.patch(f"/api/benchmarks/{pk}/", {"name": "tales", "description": "New."}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["name"], r.json()["description"]) == ("tales", "New.")
    r = c.patch(f"/api/benchmarks/{frozen.pk}/", {"name": "renamed"}, format="json")
    assert r.status_code == 400 and "name" in r.json()
    assert Benchmark.objects.get(pk=frozen.pk).name == "writebench"
    assert c.put(f"/api/benchmarks/{pk}/", {"name": "x"}, format="json").status_code == 405
    assert c.get("/api/benchmarks/999999/").status_code == 404


def test_benchmark_items(engineer):
    bench = draft(engineer)
    c = api_for(engineer)
    url = f"/api/benchmarks/{bench.pk}/items/"
    item = {
        "key": "f-001",
        "instruction": "Write a ghost story set in a lighthouse.",
        "language": "en",
        "domain": "fiction",
        "metadata": {"source": "team"},
    }
    r = c.post(url, item, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["key"], body["language"], body["domain"], body["task"]) == (
        "f-001",
        "en",
        "fiction",
        None,
    )
    assert body["metadata"] == {"source": "team"} and body["benchmark"] == bench.pk
    r = c.post(
        url, {**item, "key": "f-002", "language": "zh", "instruction": "写一首诗。"}, format="json"
    )
    assert r.status_code == 201

    # Bad payloads: each problem named by its field; nothing added.
    r = c.post(url, {"key": "x", "language": "fr"}, format="json")
    assert r.status_code == 400
    assert {"instruction", "language"} <= set(r.json())
    r = c.post(url, {**item, "key": "f-003", "domain": "no-such-domain"}, format="json")
    assert r.status_code == 400 and "domain" in r.json()
    r = c.post(url, item, format="json")  # the key is taken
    assert r.status_code == 400 and "key" in r.json()
    assert bench.items.count() == 2

    listed = c.get(url).json()
    assert listed["count"] == 2 and [i["key"] for i in listed["results"]] == ["f-001", "f-002"]
    assert len(c.get(url + "?page_size=1").json()["results"]) == 1

    first = bench.items.get(key="f-001")
    r = c.patch(
        f"/api/benchmark-items/{first.pk}/",
        {"instruction": "Write a ghost story.", "task": ""},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["instruction"] == "Write a ghost story." and r.json()["domain"] == "fiction"
    r = c.patch(f"/api/benchmark-items/{first.pk}/", {"language": "xx"}, format="json")
    assert r.status_code == 400 and "language" in r.json()
    assert c.get(f"/api/benchmark-items/{first.pk}/").json()["key"] == "f-001"
    assert c.delete(f"/api/benchmark-items/{first.pk}/").status_code == 204
    assert list(bench.items.values_list("key", flat=True)) == ["f-002"]

    # A frozen benchmark's items cannot change.
    frozen = make_benchmark(2, name="fixed", user=engineer)
    fixed = frozen.items.first()
    r = c.post(f"/api/benchmarks/{frozen.pk}/items/", {**item, "key": "new"}, format="json")
    assert r.status_code == 400
    r = c.patch(f"/api/benchmark-items/{fixed.pk}/", {"instruction": "Changed."}, format="json")
    assert r.status_code == 400
    assert c.delete(f"/api/benchmark-items/{fixed.pk}/").status_code == 400
    fixed.refresh_from_db()
    assert fixed.instruction != "Changed." and frozen.items.count() == 2


def test_benchmark_import(engineer):
    bench = draft(engineer)
    c = api_for(engineer)
    url = f"/api/benchmarks/{bench.pk}/import/"
    good = jsonl(
        {"id": "a1", "instruction": "Write a poem about rain.", "language": "en"},
        {
            "id": "a2",
            "instruction": "写一篇关于秋天的散文。",
            "language": "zh",
            "domain": "fiction",
        },
    )
    r = c.post(url, {"file": good}, format="multipart")
    assert r.status_code == 200, r.content
    assert r.json()["imported"] == 2 and r.json()["benchmark"]["item_count"] == 2
    assert r.json()["benchmark"]["by_language"] == {"en": 1, "zh": 1}

    # A bad file: every problem with file, line and field; nothing imported.
    bad = jsonl(
        {"id": "b1", "instruction": "Fine.", "language": "en"},
        {"id": "b2", "language": "en"},
        "{not json",
        {"id": "b4", "instruction": "Bad language.", "language": "fr", "colour": "red"},
    )
    r = c.post(url, {"file": bad}, format="multipart")
    assert r.status_code == 400, r.content
    body = r.json()
    where = {(p["file"], p["line"], p["field"]) for p in body["problems"]}
    assert ("bench.jsonl", 2, "instruction") in where
    assert any(line == 3 for _f, line, _field in where)
    assert ("bench.jsonl", 4, "language") in where and ("bench.jsonl", 4, "colour") in where
    assert any("line 2" in m and "instruction" in m for m in body["file"])
    assert bench.items.count() == 2  # all or nothing

    # An id already in the draft; then the same file with replace.
    again = jsonl({"id": "a1", "instruction": "Again.", "language": "en"})
    r = c.post(url, {"file": again}, format="multipart")
    assert r.status_code == 400 and r.json()["problems"][0]["field"] == "id"
    again.seek(0)
    r = c.post(url, {"file": again, "replace": "true"}, format="multipart")
    assert r.status_code == 200 and r.json()["imported"] == 1
    assert list(bench.items.values_list("instruction", flat=True)) == ["Again."]

    r = c.post(url, {}, format="multipart")
    assert r.status_code == 400 and "file" in r.json()
    frozen = make_benchmark(2, name="fixed", user=engineer)
    r = c.post(
        f"/api/benchmarks/{frozen.pk}/import/",
        {"file": jsonl({"id": "z", "instruction": "New.", "language": "en"})},
        format="multipart",
    )
    assert r.status_code == 400 and frozen.items.count() == 2


def test_freeze_new_version_and_export(engineer):
    c = api_for(engineer)
    empty = draft(engineer, name="empty")
    assert c.post(f"/api/benchmarks/{empty.pk}/freeze/").status_code == 400
    bench = draft(engineer, name="tales", n=3)
    r = c.post(f"/api/benchmarks/{bench.pk}/freeze/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "frozen" and len(body["content_hash"]) == 64
    assert body["frozen_by"] == "ed" and body["frozen_at"]
    assert c.post(f"/api/benchmarks/{bench.pk}/freeze/").status_code == 400  # frozen already

    r = c.post(f"/api/benchmarks/{bench.pk}/new-version/")
    assert r.status_code == 201, r.content
    copy = r.json()
    assert (copy["name"], copy["version"], copy["status"], copy["parent"]) == (
        "tales",
        2,
        "draft",
        bench.pk,
    )
    assert copy["item_count"] == 3 and copy["content_hash"] == ""

    r = c.get(f"/api/benchmarks/{bench.pk}/export/")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="tales-v1.jsonl"' in r["Content-Disposition"]
    lines = b"".join(r.streaming_content).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == ["q001", "q002", "q003"]
    assert rows[0]["instruction"] == bench.items.get(key="q001").instruction

    # What is exported imports again.
    target = draft(engineer, name="copy")
    f = io.BytesIO("\n".join(lines).encode())
    f.name = "tales-v1.jsonl"
    r = c.post(f"/api/benchmarks/{target.pk}/import/", {"file": f}, format="multipart")
    assert r.status_code == 200 and r.json()["imported"] == 3


def test_contamination(engineer):
    snapshot = sft_snapshot(engineer, n=4)
    c = api_for(engineer)
    bench = draft(engineer, name="clean-or-not")
    for key, text in (
        ("copied", "Write line 2 about the sea."),
        ("fresh", "Describe a market at dawn in a mountain town, in the present tense."),
    ):
        r = c.post(
            f"/api/benchmarks/{bench.pk}/items/",
            {"key": key, "instruction": text, "language": "en"},
            format="json",
        )
        assert r.status_code == 201
    assert c.post(f"/api/benchmarks/{bench.pk}/freeze/").status_code == 200
    r = c.get(f"/api/benchmarks/{bench.pk}/contamination/?snapshot={snapshot.pk}")
    assert r.status_code == 200, r.content
    report = r.json()
    assert report["snapshot"] == snapshot.pk and report["benchmark"] == bench.pk
    assert report["exact"] >= 1 and report["instructions"] == 1
    assert {m["instruction"] for m in report["matches"]} == {"copied"}
    assert report["id"] is not None
    again = c.get(f"/api/benchmarks/{bench.pk}/contamination/?snapshot={snapshot.pk}").json()
    assert again["id"] == report["id"]  # computed once

    r = c.get(f"/api/benchmarks/{bench.pk}/contamination/")
    assert r.status_code == 400 and "snapshot" in r.json()
    r = c.get(f"/api/benchmarks/{bench.pk}/contamination/?snapshot=999999")
    assert r.status_code == 400 and "snapshot" in r.json()


def test_benchmark_delete(engineer, admin_user):
    evaluation = make_evaluation_with_responses(NAMES, n=2, user=engineer)
    unused = draft(engineer, name="unused", n=1)
    assert api_for(engineer).delete(f"/api/benchmarks/{unused.pk}/").status_code == 403
    c = api_for(admin_user)
    r = c.delete(f"/api/benchmarks/{evaluation.benchmark_id}/")
    assert r.status_code == 400, r.content
    assert Benchmark.objects.filter(pk=evaluation.benchmark_id).exists()
    assert c.delete(f"/api/benchmarks/{unused.pk}/").status_code == 204
    assert not Benchmark.objects.filter(pk=unused.pk).exists()
    assert not BenchmarkItem.objects.filter(benchmark_id=unused.pk).exists()


# --- Contestants ----------------------------------------------------------------------------


def test_contestants(engineer, admin_user, monkeypatch):
    monkeypatch.setenv("H5_TEST_KEY", SECRET)
    endpoint = make_endpoint("remote-writer", api_key_env="H5_TEST_KEY")
    stored = make_endpoint("stored-key")
    stored.set_api_key(SECRET)
    stored.save()
    c = api_for(engineer)
    r = c.post(
        "/api/contestants/",
        {
            "name": "Remote writer",
            "endpoint": endpoint.pk,
            "decoding": {"temperature": 0.7, "max_tokens": 256},
            "system_prompt": "You are a novelist.",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["kind"], body["endpoint"], body["endpoint_name"]) == (
        "endpoint",
        endpoint.pk,
        "remote-writer",
    )
    assert body["decoding"] == {"temperature": 0.7, "max_tokens": 256}
    assert body["checkpoint"] is None and body["created_by"] == "ed"
    r2 = c.post("/api/contestants/", {"name": "Stored", "endpoint": stored.pk}, format="json")
    assert r2.status_code == 201
    for raw in (
        r.content,
        r2.content,
        c.get("/api/contestants/").content,
        c.get(f"/api/contestants/{body['id']}/").content,
    ):
        text = raw.decode()
        assert SECRET not in text and "H5_TEST_KEY" not in text
        assert "api_key" not in text and stored.api_key_encrypted not in text

    # Bad input, by field.
    r = c.post("/api/contestants/", {"name": "Nothing"}, format="json")
    assert r.status_code == 400 and "endpoint" in r.json()
    r = c.post(
        "/api/contestants/",
        {"name": "Remote writer", "endpoint": endpoint.pk, "decoding": {"temperature": -1}},
        format="json",
    )
    assert r.status_code == 400 and {"name", "decoding.temperature"} <= set(r.json())
    r = c.post("/api/contestants/", {"name": "Ghost", "endpoint": 999999}, format="json")
    assert r.status_code == 400 and "endpoint" in r.json()
    assert Contestant.objects.count() == 2

    # Deleting: admins only, refused while an evaluation uses the model.
    evaluation = make_evaluation_with_responses(NAMES, n=2, user=engineer)
    used = evaluation.contestants.first()
    assert c.delete(f"/api/contestants/{body['id']}/").status_code == 403
    a = api_for(admin_user)
    assert a.delete(f"/api/contestants/{used.pk}/").status_code == 400
    assert Contestant.objects.filter(pk=used.pk).exists()
    assert a.delete(f"/api/contestants/{body['id']}/").status_code == 204
    assert not Contestant.objects.filter(pk=body["id"]).exists()


# --- Evaluations ----------------------------------------------------------------------------


def test_evaluation_create_jobs_cancel_resume_delete(engineer, admin_user):
    bench = make_benchmark(4, name="wb", user=engineer)
    alpha, beta = make_contestant("Alpha"), make_contestant("Beta")
    judge = make_endpoint("judge")
    c = api_for(engineer)
    payload = {
        "name": "alpha vs beta",
        "benchmark": bench.pk,
        "contestants": [alpha.pk, beta.pk],
        "judge": judge.pk,
        "budget_usd": "2.50",
    }
    r = c.post("/api/evaluations/", payload, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "generating" and body["benchmark"] == bench.pk
    assert body["benchmark_label"] == "wb v1"
    assert [m["name"] for m in body["contestants"]] == ["Alpha", "Beta"]
    assert (body["judge"], body["judge_name"]) == (judge.pk, "judge")
    assert body["grade"] and body["pairwise"] and body["arena_open"]
    assert Decimal(body["budget_usd"]) == Decimal("2.5")
    jobs = body["jobs"]
    assert [j["contestant"] for j in jobs] == ["Alpha", "Beta"]
    for j in jobs:
        assert j["kind"] == "eval.generate" and j["status"] == "queued"
        assert (j["total"], j["done"], j["failed"]) == (4, 0, 0)
        assert Decimal(j["spent_usd"]) == 0 and Decimal(j["budget_usd"]) == Decimal("2.5")
    pk = body["id"]

    # Bad input, by field; nothing made.
    unfrozen = draft(engineer, name="drafty", n=2)
    for change, field in (
        ({"benchmark": unfrozen.pk}, "benchmark"),
        ({"contestants": []}, "contestants"),
        ({"contestants": [999999]}, "contestants"),
        ({"contestants": [alpha.pk]}, "contestants"),  # pairwise needs two
        ({"name": ""}, "name"),
        ({"budget_usd": "-1"}, "budget_usd"),
    ):
        r = c.post("/api/evaluations/", {**payload, **change}, format="json")
        assert r.status_code == 400, change
        assert field in r.json(), (change, r.json())
    assert Evaluation.objects.count() == 1 and Job.objects.count() == 2

    listed = c.get("/api/evaluations/").json()
    assert listed["count"] == 1 and "jobs" not in listed["results"][0]
    assert c.get("/api/evaluations/?status=done").json()["count"] == 0
    assert c.get(f"/api/evaluations/?benchmark={bench.pk}").json()["count"] == 1

    # Cancel, then neither cancel nor resume again.
    r = c.post(f"/api/evaluations/{pk}/cancel/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    assert {j["status"] for j in r.json()["jobs"]} == {"cancelled"}
    assert c.post(f"/api/evaluations/{pk}/cancel/").status_code == 409
    assert c.post(f"/api/evaluations/{pk}/resume/").status_code == 409

    # A failed one resumes.
    failed = make_evaluation_with_responses(("F1", "F2"), n=2, status=EvaluationStatus.FAILED)
    r = c.post(f"/api/evaluations/{failed.pk}/resume/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] != "failed"
    done = make_evaluation_with_responses(("D1", "D2"), n=2)
    assert c.post(f"/api/evaluations/{done.pk}/resume/").status_code == 409

    assert c.delete(f"/api/evaluations/{pk}/").status_code == 403
    assert api_for(admin_user).delete(f"/api/evaluations/{pk}/").status_code == 204
    assert not Evaluation.objects.filter(pk=pk).exists()
    assert c.get(f"/api/evaluations/{pk}/").status_code == 404


def test_scores_leaderboard_and_comparisons(engineer):
    evaluation = judged_evaluation(engineer)
    c = api_for(engineer)
    base = f"/api/evaluations/{evaluation.pk}"

    scores = c.get(f"{base}/scores/")
    assert scores.status_code == 200, scores.content
    table = scores.json()
    assert [row["contestant"] for row in table["rows"]] == ["Model Alpha", "Model Beta"]
    top = table["rows"][0]
    assert (top["n"], top["overall"], top["style"]) == (6, 8.0, 8.0)
    assert table["rows"][1]["overall"] == 4.0
    assert set(table["by_domain"]) >= {"fiction", "marketing"}

    r = c.get(f"{base}/leaderboard/?source=judge&rounds=50&seed=3")
    assert r.status_code == 200, r.content
    groups = r.json()
    assert groups[0]["group"] == "" and groups[0]["comparisons"] == 6
    rows = groups[0]["rows"]
    assert [row["model"] for row in rows] == ["Model Alpha", "Model Beta"]
    assert rows[0]["wins"] == 6 and rows[1]["losses"] == 6
    for row in rows:
        assert row["elo_low"] <= row["elo"] <= row["elo_high"]
        assert row["bt_low"] <= row["bt_high"]
    assert {g["group"] for g in groups[1:]} == {
        "fiction",
        "creative_nonfiction",
        "marketing",
        "technical_writing",
    }
    assert c.get(f"{base}/leaderboard/?source=judge&rounds=50&seed=3").json() == groups
    human = c.get(f"{base}/leaderboard/?source=human&criterion=style").json()
    assert all(not g["rows"] for g in human) or human == []
    for query, field in (
        ("source=crowd", "source"),
        ("criterion=humour", "criterion"),
        ("rounds=0", "rounds"),
        ("rounds=many", "rounds"),
        ("seed=-1", "seed"),
    ):
        r = c.get(f"{base}/leaderboard/?{query}")
        assert r.status_code == 400 and field in r.json(), query

    comps = c.get(f"{base}/comparisons/?source=judge")
    assert comps.status_code == 200
    rows = comps.json()
    assert len(rows) == 6
    for row in rows:
        assert {row["a"], row["b"]} == set(NAMES)
        winner = row["a"] if row["outcome"] == "a" else row["b"]
        assert winner == "Model Alpha"
    assert c.get(f"{base}/comparisons/?source=human").json() == []
    assert c.get(f"{base}/comparisons/?source=x").status_code == 400


def test_responses(engineer):
    evaluation = judged_evaluation(engineer)
    c = api_for(engineer)
    item = evaluation.benchmark.items.get(key="q002")
    r = c.get(f"/api/evaluations/{evaluation.pk}/responses/?item={item.pk}")
    assert r.status_code == 200, r.content
    page = r.json()
    assert page["count"] == 2
    rows = page["results"]
    assert [row["contestant_name"] for row in rows] == list(NAMES)
    assert {row["item_key"] for row in rows} == {"q002"}
    alpha = rows[0]
    assert alpha["text"].startswith("Model Alpha answers q002")
    assert alpha["decoding"] == {"temperature": 0.7, "max_tokens": 512}
    assert alpha["grade"]["overall"] == 8 and alpha["grade"]["reason"] == "Vivid."
    assert rows[1]["grade"]["overall"] == 4
    everything = c.get(f"/api/evaluations/{evaluation.pk}/responses/?page_size=5").json()
    assert everything["count"] == 12 and len(everything["results"]) == 5
    assert c.get(f"/api/evaluations/{evaluation.pk}/responses/?item=x").status_code == 400
    # Another evaluation's responses are not this one's.
    other = make_evaluation_with_responses(("Gamma", "Delta"), n=2)
    page = c.get(f"/api/evaluations/{other.pk}/responses/").json()
    assert page["count"] == 4 and {r["contestant_name"] for r in page["results"]} == {
        "Gamma",
        "Delta",
    }
    assert all(r["grade"] is None for r in page["results"])  # no judge


# --- Arena ----------------------------------------------------------------------------------


def _blind_words(evaluation) -> list[str]:
    words = []
    for contestant in evaluation.contestants.select_related("endpoint"):
        words += [contestant.name, contestant.endpoint.name, contestant.endpoint.model]
    return words


def assert_blind(raw: bytes, evaluation) -> None:
    text = raw.decode()
    for word in _blind_words(evaluation):
        assert word.lower() not in text.lower(), word
    assert "contestant" not in text and "response_a" not in text and "model" not in text


def test_arena_flow(evaluator, evaluator2):
    evaluation = make_evaluation_with_responses(NAMES, n=3)
    closed = make_evaluation_with_responses(("Closed One", "Closed Two"), n=2)
    Evaluation.objects.filter(pk=closed.pk).update(arena_open=False)
    c = api_for(evaluator)

    listed = c.get("/api/arena/")
    assert listed.status_code == 200
    rows = listed.json()
    assert [row["id"] for row in rows] == [evaluation.pk]
    assert (rows[0]["done"], rows[0]["total"]) == (0, 3)
    assert rows[0]["benchmark"] == str(evaluation.benchmark)
    assert_blind(listed.content, evaluation)  # its name names the models: not shown

    seen_pairs = set()
    tokens = []
    for i in range(3):
        r = c.post(f"/api/arena/{evaluation.pk}/next/")
        assert r.status_code == 200, r.content
        assert_blind(r.content, evaluation)
        body = r.json()
        assert set(body) == {"token", "instruction", "language", "left", "right", "done", "total"}
        assert (body["done"], body["total"]) == (i, 3)
        assert "lantern" in body["instruction"] and "answers" in body["left"] + body["right"]
        # Asking again before answering gives the same pair.
        assert c.post(f"/api/arena/{evaluation.pk}/next/").json()["token"] == body["token"]
        assignment = ArenaAssignment.objects.get(token=body["token"])
        pair = (assignment.response_a_id, assignment.response_b_id)
        assert pair not in seen_pairs
        seen_pairs.add(pair)
        answer = {
            "token": body["token"],
            "creativity": "left",
            "style": "left",
            "relevance": "tie",
            "fluency": "right",
            "seconds": 12,
        }
        r = c.post("/api/arena/submit/", answer, format="json")
        assert r.status_code == 201, r.content
        assert r.json() == {"evaluation": evaluation.pk, "done": i + 1, "total": 3}
        assert_blind(r.content, evaluation)
        tokens.append(answer)
        # The same answer again compares nothing twice.
        again = c.post("/api/arena/submit/", answer, format="json")
        assert again.status_code == 400 and "token" in again.json()
        assert HumanComparison.objects.filter(evaluator=evaluator).count() == i + 1

    assert c.post(f"/api/arena/{evaluation.pk}/next/").status_code == 204
    comparisons = HumanComparison.objects.filter(evaluator=evaluator)
    assert {(h.response_a_id, h.response_b_id) for h in comparisons} == seen_pairs
    first = comparisons.order_by("created_at", "pk").first()
    # "left" on creativity is recorded in the a/b order of the pair.
    assert first.criteria["creativity"] == ("a" if first.a_on_left else "b")
    assert first.criteria["relevance"] == "tie" and first.seconds == 12
    assert c.get("/api/arena/").json()[0]["done"] == 3

    # Another evaluator starts afresh and cannot answer someone else's pair.
    other = api_for(evaluator2)
    body = other.post(f"/api/arena/{evaluation.pk}/next/").json()
    answer = {**tokens[0], "token": body["token"]}
    assert c.post("/api/arena/submit/", answer, format="json").status_code == 403
    assert other.post("/api/arena/submit/", answer, format="json").status_code == 201

    # A closed evaluation, an unknown one.
    assert c.post(f"/api/arena/{closed.pk}/next/").status_code == 404
    assert c.post("/api/arena/999999/next/").status_code == 404


def test_arena_bad_answers(evaluator):
    evaluation = make_evaluation_with_responses(NAMES, n=2)
    c = api_for(evaluator)
    token = c.post(f"/api/arena/{evaluation.pk}/next/").json()["token"]
    full = {"token": token, "creativity": "left", "style": "right", "relevance": "tie"}
    r = c.post("/api/arena/submit/", {**full, "fluency": "better"}, format="json")
    assert r.status_code == 400 and set(r.json()) == {"fluency"}
    r = c.post("/api/arena/submit/", full, format="json")
    assert r.status_code == 400 and "fluency" in r.json()
    r = c.post("/api/arena/submit/", {**full, "fluency": "tie", "token": "nope"}, format="json")
    assert r.status_code == 400 and "token" in r.json()
    r = c.post(
        "/api/arena/submit/",
        {**full, "fluency": "tie", "token": "00000000-0000-4000-8000-000000000000"},
        format="json",
    )
    assert r.status_code == 400 and "token" in r.json()
    r = c.post("/api/arena/submit/", {**full, "fluency": "tie", "seconds": -3}, format="json")
    assert r.status_code == 400 and "seconds" in r.json()
    assert not HumanComparison.objects.exists()
    assert ArenaAssignment.objects.filter(token=token).exists()


def test_schema_documents_the_evaluation_endpoints(engineer):
    response = api_for(engineer).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/benchmarks/",
        "/api/benchmarks/{id}/",
        "/api/benchmarks/{id}/items/",
        "/api/benchmarks/{id}/import/",
        "/api/benchmarks/{id}/freeze/",
        "/api/benchmarks/{id}/new-version/",
        "/api/benchmarks/{id}/export/",
        "/api/benchmarks/{id}/contamination/",
        "/api/benchmark-items/{id}/",
        "/api/contestants/",
        "/api/evaluations/",
        "/api/evaluations/{id}/leaderboard/",
        "/api/evaluations/{id}/scores/",
        "/api/evaluations/{id}/responses/",
        "/api/evaluations/{id}/comparisons/",
        "/api/arena/",
        "/api/arena/{id}/next/",
        "/api/arena/submit/",
    ):
        assert path in paths, path
    components = response.json()["components"]["schemas"]
    assert not {"api_key", "api_key_env", "api_key_encrypted"} & set(
        components["Contestant"]["properties"]
    )
    assert set(components["ArenaPair"]["properties"]) == {
        "token",
        "instruction",
        "language",
        "left",
        "right",
        "done",
        "total",
    }
