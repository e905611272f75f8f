"""Acceptance: through a real Celery worker, two models (two endpoints of the test LLM server
with different scripted answers) answer a 20-instruction benchmark and are judged (graded, and
compared pairwise in both orders); the judge's favourite ranks first by its grades and by the
ratings of its comparisons. A second evaluation of the same models reuses their answers."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from statistics import mean

import pytest

from training.evaluation.ratings import Comparison, ratings_table
from training.evaluation.services import contestant_create, evaluation_create, evaluation_jobs
from training.models import (
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    JudgeComparison,
    JudgeGrade,
)
from weaver_site.models import JobStatus

from ..conftest import wait_for
from ..fakes.llm_server import FakeLLMServer
from .eval_factories import make_benchmark
from .test_eval_services import GOOD_MARK, answer, make_endpoint, writer_requests

pytestmark = pytest.mark.worker


def wait_done(evaluation: Evaluation, worker, timeout: float = 120) -> Evaluation:
    def finished():
        evaluation.refresh_from_db()
        return evaluation.status in (
            EvaluationStatus.DONE,
            EvaluationStatus.FAILED,
            EvaluationStatus.CANCELLED,
        )

    try:
        wait_for(finished, timeout=timeout, interval=0.3, message="the evaluation to finish")
    except AssertionError:
        raise AssertionError(
            f"evaluation is {evaluation.status}; jobs: "
            f"{[(j.kind, j.status, j.done, j.total) for j in evaluation_jobs(evaluation=evaluation)]}"
            f"\nworker log:\n{worker.log_path.read_text()[-4000:]}"
        ) from None
    assert evaluation.status == EvaluationStatus.DONE, (
        evaluation.error + "\n" + worker.log_path.read_text()[-4000:]
    )
    return evaluation


def judge_comparisons(evaluation: Evaluation) -> list[Comparison]:
    names = dict(evaluation.contestants.values_list("pk", "name"))
    return [
        Comparison(
            a=names[c.response_a.contestant_id],
            b=names[c.response_b.contestant_id],
            outcome=c.outcome,
        )
        for c in JudgeComparison.objects.filter(
            item__benchmark=evaluation.benchmark, judge=evaluation.judge
        ).select_related("response_a", "response_b")
    ]


def test_two_models_answer_a_20_instruction_benchmark_and_the_judges_favourite_ranks_first(
    celery_worker_process,
):
    with FakeLLMServer(default=answer) as server:
        good_endpoint = make_endpoint("writer-good", server)
        plain_endpoint = make_endpoint("writer-plain", server)
        judge = make_endpoint("judge", server, max_concurrency=8)
        # Plain is made first, so the favourite is response B of every comparison.
        plain = contestant_create(
            name="Plain writer", endpoint=plain_endpoint, decoding={"temperature": 0.2}
        )
        good = contestant_create(
            name="Good writer",
            endpoint=good_endpoint,
            decoding={"temperature": 0.8, "top_p": 0.95, "max_tokens": 200, "seed": 7},
        )
        bench = make_benchmark(20)
        worker = celery_worker_process(queues="default,llm,gpu", name="eval")
        evaluation = evaluation_create(
            name="writers", benchmark=bench, contestants=[good, plain], judge=judge
        )
        wait_done(evaluation, worker)

        jobs = evaluation_jobs(evaluation=evaluation)
        assert [j.status for j in jobs] == [JobStatus.DONE] * 3
        assert [(j.done, j.failed) for j in jobs] == [(20, 0), (20, 0), (60, 0)]
        responses = EvalResponse.objects.filter(item__benchmark=bench)
        assert responses.count() == 40
        for response in responses.filter(contestant=good):
            assert response.decoding == good.decoding and response.model_name == "writer-good"
            assert GOOD_MARK in response.text and response.job_id == jobs[0].pk
        for response in responses.filter(contestant=plain):
            assert response.decoding == {"temperature": 0.2} and "VIVID" not in response.text

        grades = JudgeGrade.objects.filter(response__item__benchmark=bench, judge=judge)
        assert grades.count() == 40
        overall = defaultdict(list)
        for grade in grades.select_related("response__contestant"):
            overall[grade.response.contestant.name].append(grade.overall)
        means = {name: mean(scores) for name, scores in overall.items()}
        assert (
            max(means, key=means.get) == "Good writer"
            and means["Good writer"] > means["Plain writer"]
        )

        comparisons = JudgeComparison.objects.filter(item__benchmark=bench)
        assert comparisons.count() == 20
        for c in comparisons.select_related("response_a", "response_b"):
            assert c.response_a.contestant_id == plain.pk  # the lower id is A
            assert c.outcome == "b"  # both orders agreed on the good model
            assert c.first["winner"] == "B" and c.second["winner"] == "A"
        table = ratings_table(judge_comparisons(evaluation), rounds=200, seed=0)
        assert table[0]["model"] == "Good writer" and table[0]["wins"] == 20
        assert table[0]["bt"] > table[1]["bt"] and table[0]["elo"] > table[1]["elo"]

        # The results pages' selectors (another helper's module) rank it first too.
        if importlib.util.find_spec("training.evaluation.selectors") is not None:
            from training.evaluation import selectors

            scores = selectors.evaluation_score_table(evaluation=evaluation)
            assert scores["rows"][0]["contestant_id"] == good.pk
            assert scores["rows"][0]["overall"] > scores["rows"][1]["overall"]
            board = selectors.evaluation_leaderboard(
                evaluation=evaluation, source="judge", rounds=100
            )
            assert board[0]["group"] == "" and board[0]["comparisons"] == 20
            assert board[0]["rows"][0]["model"] == "Good writer"

        # The same models on the same benchmark again: no writer is asked anything.
        asked = {m: writer_requests(server, m) for m in ("writer-good", "writer-plain", "judge")}
        assert asked == {"writer-good": 20, "writer-plain": 20, "judge": 40 + 2 * 20}
        again = evaluation_create(
            name="writers again", benchmark=bench, contestants=[plain, good], judge=judge
        )
        wait_done(again, worker)
        assert {
            m: writer_requests(server, m) for m in ("writer-good", "writer-plain", "judge")
        } == asked
        for job in evaluation_jobs(evaluation=again):
            assert job.status == JobStatus.DONE and job.done == job.total and job.calls == 0
        assert EvalResponse.objects.count() == 40 and JudgeComparison.objects.count() == 20
