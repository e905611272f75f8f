"""Evaluation services against the test LLM server, jobs run in this process: checks with the
field at fault, generation and judging end to end with caching across evaluations, the
evaluation's steps (judge job once, done, failed, resumed, cancelled, deleted), and a judge
answer that cannot be used counted as failed with nothing half-written."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from training.evaluation import kinds
from training.evaluation.generation import generation_run
from training.evaluation.judge_prompts import PROMPT_VERSION
from training.evaluation.judging import judge_run
from training.evaluation.services import (
    contestant_create,
    contestant_delete,
    evaluation_advance,
    evaluation_cancel,
    evaluation_create,
    evaluation_delete,
    evaluation_jobs,
    evaluation_resume,
)
from training.models import (
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    GenerationJob,
    JudgeComparison,
    JudgeGrade,
    RunCheckpoint,
    RunKind,
    RunStatus,
    TrainingRun,
)
from weaver_site.llm.models import Backend, CallStatus, Endpoint, LLMCall
from weaver_site.models import Job, JobStatus

from ..fakes.llm_server import FakeLLMServer, Reply
from .eval_factories import make_benchmark

GOOD_MARK = "VIVID"  # the good writer's answers hold it; the judge prefers them
BROKEN = "BROKEN"  # an answer holding it makes the judge answer prose (not JSON)

_BLOCKS = {
    "response": (r"\[The Start of the Response\]", r"\[The End of the Response\]"),
    "a": (r"\[The Start of Response A\]", r"\[The End of Response A\]"),
    "b": (r"\[The Start of Response B\]", r"\[The End of Response B\]"),
}


def _block(prompt: str, name: str) -> str | None:
    start, end = _BLOCKS[name]
    match = re.search(start + r"\n(.*?)\n" + end, prompt, re.S)
    return match.group(1) if match else None


def _instruction(body: dict) -> str:
    return body["messages"][-1]["content"]


def writer_answer(body: dict) -> Reply:
    """A writer: ``*-good`` models answer vividly, the others plainly; an instruction about the
    3rd lantern gets an answer holding BROKEN from a model whose name says ``broken``."""
    model, instruction = body["model"], _instruction(body)
    if "broken" in model and "3th lantern" in instruction:
        return Reply(f"{BROKEN} text for: {instruction}")
    if model.endswith("good"):
        return Reply(f"The lantern burned {GOOD_MARK} as a comet over the river: {instruction}")
    return Reply(f"There was a lantern. {instruction}")


def judge_answer(body: dict) -> Reply:
    """A judge that grades answers holding GOOD_MARK 9, others 4, and prefers them pairwise
    (whichever of A and B holds it, so both orders agree). An answer holding BROKEN in the
    graded block or in block A gets prose instead of JSON."""
    # The first user message: a repair request after prose gets prose again.
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    graded = _block(prompt, "response")
    if graded is not None:
        if BROKEN in graded:
            return Reply("I cannot grade this one, sorry.")
        score = 9 if GOOD_MARK in graded else 4
        return Reply.json(
            {
                "reason": "Graded on the imagery.",
                "style": score,
                "relevance": score,
                "creativity": score,
                "overall": score,
            }
        )
    a, b = _block(prompt, "a") or "", _block(prompt, "b") or ""
    if BROKEN in a:
        return Reply("Response A is unreadable; no JSON from me.")
    winner = "tie"
    if GOOD_MARK in a and GOOD_MARK not in b:
        winner = "A"
    elif GOOD_MARK in b and GOOD_MARK not in a:
        winner = "B"
    verdicts = {c: winner for c in ("creativity", "style", "relevance", "fluency")}
    return Reply.json({"reason": "Compared the imagery.", "winner": winner, **verdicts})


def answer(body: dict) -> Reply:
    """The test server: the model named ``judge`` judges; every other model writes."""
    if body["model"] == "judge":
        return judge_answer(body)
    return writer_answer(body)


def writer_requests(server, model: str) -> int:
    return sum(1 for r in server.chat_requests if r.model == model)


def make_endpoint(name: str, server, model: str | None = None, **fields) -> Endpoint:
    values = {
        "base_url": server.url,
        "model": model or name,
        "max_concurrency": 4,
        "timeout_seconds": 10,
        "max_attempts": 2,
    }
    values.update(fields)
    return Endpoint.objects.create(name=name, **values)


def make_checkpoint(folder: str, *, final: bool = True, step: int = 4) -> RunCheckpoint:
    """A finished run (its snapshot made directly) with one checkpoint in ``folder``."""
    from pairs.models import DatasetSnapshot

    snapshot = DatasetSnapshot.objects.create(
        name=f"snap-{folder}", version=1, kind="sft", status="ready"
    )
    run = TrainingRun.objects.create(
        name="tiny run", kind=RunKind.SFT, snapshot=snapshot, status=RunStatus.DONE, gpus=0
    )
    return RunCheckpoint.objects.create(run=run, step=step, path=str(folder), final=final)


def run_jobs(evaluation: Evaluation) -> Evaluation:
    """Run the evaluation's queued jobs in this process, as a worker would, until none is
    left; returns the evaluation reloaded."""
    for _ in range(4):
        queued = [j for j in evaluation_jobs(evaluation=evaluation) if j.status == "queued"]
        if not queued:
            break
        for job in queued:
            runner = judge_run if job.kind == kinds.JUDGE else generation_run
            runner(job=job, worker="inline")
            evaluation_advance(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    return evaluation


@pytest.fixture
def server():
    with FakeLLMServer(default=answer) as s:
        yield s


@pytest.fixture
def endpoints(reference_data, server):
    return {
        "good": make_endpoint("writer-good", server),
        "plain": make_endpoint("writer-plain", server),
        "judge": make_endpoint("judge", server),
    }


def two_contestants(endpoints):
    good = contestant_create(
        name="Good", endpoint=endpoints["good"], decoding={"temperature": 0.7, "max_tokens": 64}
    )
    plain = contestant_create(
        name="Plain",
        endpoint=endpoints["plain"],
        decoding={"temperature": 0, "top_p": 1, "max_tokens": 64, "seed": 3},
        system_prompt="You write plainly.",
    )
    return good, plain


# --- Checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decoding", "field"),
    [
        ({"temperature": -0.1}, "decoding.temperature"),
        ({"temperature": "hot"}, "decoding.temperature"),
        ({"temperature": True}, "decoding.temperature"),
        ({"top_p": 0}, "decoding.top_p"),
        ({"top_p": 1.5}, "decoding.top_p"),
        ({"max_tokens": 0}, "decoding.max_tokens"),
        ({"max_tokens": 2.5}, "decoding.max_tokens"),
        ({"seed": "x"}, "decoding.seed"),
        ({"frequency_penalty": 1}, "decoding.frequency_penalty"),
    ],
)
def test_bad_decoding_parameters_are_refused_naming_the_parameter(db, decoding, field):
    endpoint = Endpoint.objects.create(name="w", model="w")
    with pytest.raises(ValidationError) as exc:
        contestant_create(name="M", endpoint=endpoint, decoding=decoding)
    assert set(exc.value.message_dict) == {field}
    assert not Contestant.objects.exists()


def test_a_contestant_needs_a_name_and_exactly_one_model(db):
    endpoint = Endpoint.objects.create(name="w", model="w")
    made = contestant_create(
        name=" M ", endpoint=endpoint, decoding={"temperature": 1, "top_p": 0.9, "seed": 0}
    )
    assert made.name == "M" and made.kind == ContestantKind.ENDPOINT
    assert made.decoding == {"temperature": 1, "top_p": 0.9, "seed": 0}
    with pytest.raises(ValidationError) as exc:
        contestant_create(name="M", endpoint=endpoint)
    assert set(exc.value.message_dict) == {"name"}
    with pytest.raises(ValidationError) as exc:
        contestant_create(name="", decoding={"top_p": 2})
    assert set(exc.value.message_dict) == {"name", "endpoint", "decoding.top_p"}
    Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    endpoint.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        contestant_create(name="N", endpoint=endpoint)
    assert set(exc.value.message_dict) == {"endpoint"}


def test_a_checkpoint_gets_an_endpoint_of_its_own(db, tmp_path):
    checkpoint = make_checkpoint(tmp_path / "final")
    first = contestant_create(name="Tiny", checkpoint=checkpoint, decoding={"max_tokens": 8})
    endpoint = first.endpoint
    assert first.kind == ContestantKind.CHECKPOINT and first.run_id == checkpoint.run_id
    assert first.checkpoint_id == checkpoint.pk
    assert endpoint.backend == Backend.TRANSFORMERS and endpoint.model == checkpoint.path
    assert endpoint.name == f"ckpt-run{checkpoint.run_id}-final"
    assert endpoint.max_concurrency == 8 and endpoint.timeout_seconds >= 600
    # Another contestant of the same checkpoint (other decoding) shares the endpoint.
    second = contestant_create(name="Tiny hot", checkpoint=checkpoint, decoding={"temperature": 1})
    assert second.endpoint_id == endpoint.pk
    step = make_checkpoint(tmp_path / "step", final=False, step=2)
    assert contestant_create(name="Tiny 2", checkpoint=step).endpoint.name == (
        f"ckpt-run{step.run_id}-step-2"
    )
    with pytest.raises(ValidationError) as exc:
        contestant_create(name="Both", checkpoint=checkpoint, endpoint=endpoint)
    assert set(exc.value.message_dict) == {"endpoint"}
    # Deleting: the endpoint goes with the last contestant that uses it.
    contestant_delete(contestant=second)
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()
    contestant_delete(contestant=first)
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_evaluation_create_refuses_bad_input_naming_the_field(endpoints):
    good, plain = two_contestants(endpoints)
    frozen = make_benchmark(4)
    draft = make_benchmark(4, frozen=False)

    def refused(**kwargs) -> set[str]:
        values = {
            "name": "eval",
            "benchmark": frozen,
            "contestants": [good, plain],
            "judge": endpoints["judge"],
        }
        values.update(kwargs)
        with pytest.raises(ValidationError) as exc:
            evaluation_create(**values)
        return set(exc.value.message_dict)

    assert refused(benchmark=draft) == {"benchmark"}
    assert refused(contestants=[]) == {"contestants"}
    assert refused(contestants=[good, good]) == {"contestants"}
    assert refused(contestants=[good]) == {"contestants"}  # pairwise needs two
    assert refused(name="  ", budget_usd=Decimal("-1")) == {"name", "budget_usd"}
    Endpoint.objects.filter(pk=endpoints["judge"].pk).update(is_active=False)
    endpoints["judge"].refresh_from_db()
    assert refused() == {"judge"}
    assert not Evaluation.objects.exists() and not Job.objects.exists()
    # One model without pairwise judging is fine.
    alone = evaluation_create(name="alone", benchmark=frozen, contestants=[good], pairwise=False)
    assert alone.status == EvaluationStatus.GENERATING


def test_one_generation_job_per_contestant_of_the_right_kind(endpoints, tmp_path):
    good, _plain = two_contestants(endpoints)
    tiny = contestant_create(name="Tiny", checkpoint=make_checkpoint(tmp_path / "m"))
    bench = make_benchmark(5)
    evaluation = evaluation_create(
        name="e",
        benchmark=bench,
        contestants=[tiny, good],
        judge=endpoints["judge"],
        budget_usd=Decimal("2.5"),
    )
    jobs = evaluation_jobs(evaluation=evaluation)
    assert [j.kind for j in jobs] == [kinds.GENERATE, kinds.GENERATE_LOCAL]  # Good, Tiny
    for job, contestant in zip(jobs, (good, tiny), strict=True):
        assert job.params == {"evaluation_id": evaluation.pk, "contestant_id": contestant.pk}
        assert job.total == 5 and job.budget_usd == Decimal("2.5")
        assert job.status == JobStatus.QUEUED
    assert GenerationJob.objects.filter(evaluation=evaluation).count() == 2
    assert set(evaluation.contestants.all()) == {good, tiny}


# --- End to end, in this process -----------------------------------------------------------


def test_generation_then_judging_with_caching_across_evaluations(endpoints, server):
    good, plain = two_contestants(endpoints)
    bench = make_benchmark(6)
    evaluation = evaluation_create(
        name="first", benchmark=bench, contestants=[good, plain], judge=endpoints["judge"]
    )
    for job in evaluation_jobs(evaluation=evaluation):
        generation_run(job=job, worker="inline")
    # Generation done (the advance has not run yet): exactly one judge job, however often
    # the advance runs.
    evaluation_advance(evaluation_id=evaluation.pk)
    evaluation_advance(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.JUDGING and evaluation.judge_job_id
    assert Job.objects.filter(kind=kinds.JUDGE).count() == 1
    judge_job = evaluation.judge_job
    assert judge_job.total == 2 * 6 + 6  # a grade per response, a comparison per pair
    assert judge_job.params["evaluation_id"] == evaluation.pk
    # Responses: with the decoding parameters, the model served, the request's hash.
    responses = EvalResponse.objects.filter(item__benchmark=bench)
    assert responses.count() == 12
    plain_answer = responses.filter(contestant=plain).first()
    assert plain_answer.decoding == {"temperature": 0, "top_p": 1, "max_tokens": 64, "seed": 3}
    assert plain_answer.model_name == "writer-plain" and len(plain_answer.request_hash) == 64
    assert plain_answer.output_tokens > 0 and plain_answer.job_id is not None
    assert GOOD_MARK in responses.filter(contestant=good).first().text
    sent = [r for r in server.chat_requests if r.model == "writer-plain"][0]
    assert sent.messages[0] == {"role": "system", "content": "You write plainly."}
    assert sent.json["seed"] == 3 and sent.json["top_p"] == 1 and sent.json["max_tokens"] == 64

    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.DONE and evaluation.finished_at
    judge_job.refresh_from_db()
    assert judge_job.status == JobStatus.DONE and judge_job.done == 18 and judge_job.failed == 0
    grades = JudgeGrade.objects.filter(response__contestant=good)
    assert grades.count() == 6 and {g.overall for g in grades} == {9}
    assert {g.overall for g in JudgeGrade.objects.filter(response__contestant=plain)} == {4}
    assert {g.prompt_version for g in JudgeGrade.objects.all()} == {PROMPT_VERSION}
    comparisons = JudgeComparison.objects.all()
    assert comparisons.count() == 6
    for c in comparisons:
        # A is the lower contestant id (Good was made first); both orders are kept.
        assert c.response_a.contestant_id == good.pk and c.response_b.contestant_id == plain.pk
        assert c.first["winner"] == "A" and c.second["winner"] == "B"
        assert c.outcome == "a" and set(c.criteria.values()) == {"a"}
    # Both orders were asked: 12 judge requests for 6 pairs, 12 for the grades.
    assert writer_requests(server, "judge") == 24

    # A second evaluation of the same models on the same benchmark asks nothing again.
    before = len(server.chat_requests)
    again = evaluation_create(
        name="second", benchmark=bench, contestants=[plain, good], judge=endpoints["judge"]
    )
    run_jobs(again)
    assert again.status == EvaluationStatus.DONE
    assert len(server.chat_requests) == before
    for job in evaluation_jobs(evaluation=again):
        assert job.status == JobStatus.DONE and job.done == job.total and job.calls == 0
    assert EvalResponse.objects.count() == 12 and JudgeComparison.objects.count() == 6


def test_without_a_judge_the_evaluation_is_done_after_generation(endpoints):
    good, plain = two_contestants(endpoints)
    evaluation = evaluation_create(
        name="humans only", benchmark=make_benchmark(3), contestants=[good, plain]
    )
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.DONE and evaluation.judge_job is None
    assert EvalResponse.objects.count() == 6 and not JudgeGrade.objects.exists()


def test_a_judge_answer_that_does_not_parse_fails_its_unit_and_writes_nothing(endpoints, server):
    broken = contestant_create(
        name="Broken", endpoint=make_endpoint("writer-broken", server), decoding={}
    )
    good = contestant_create(name="Good", endpoint=endpoints["good"])
    bench = make_benchmark(4)
    evaluation = run_jobs(
        evaluation_create(
            name="e", benchmark=bench, contestants=[broken, good], judge=endpoints["judge"]
        )
    )
    assert evaluation.status == EvaluationStatus.DONE
    job = evaluation.judge_job
    # The broken answer (item q003): its grade fails; the pair on q003 fails in one order only
    # (the judge balks when the broken answer is shown as A), and is not half-written.
    assert job.total == 8 + 4 and job.done == 10 and job.failed == 2
    broken_response = EvalResponse.objects.get(contestant=broken, item__key="q003")
    assert BROKEN in broken_response.text
    assert not JudgeGrade.objects.filter(response=broken_response).exists()
    assert JudgeGrade.objects.count() == 7
    assert not JudgeComparison.objects.filter(item__key="q003").exists()
    assert JudgeComparison.objects.count() == 3
    invalid = LLMCall.objects.filter(job=job, status=CallStatus.INVALID)
    assert invalid.count() == 2  # after a repair attempt each
    assert {c.raw_text for c in invalid} == {
        "I cannot grade this one, sorry.",
        "Response A is unreadable; no JSON from me.",
    }
    assert all("not valid JSON" in c.error for c in invalid)


# --- Failure, resume, cancel, delete -------------------------------------------------------


def test_a_failed_job_fails_the_evaluation_and_resume_finishes_it(endpoints):
    good, plain = two_contestants(endpoints)
    evaluation = evaluation_create(
        name="e", benchmark=make_benchmark(3), contestants=[good, plain], judge=endpoints["judge"]
    )
    Endpoint.objects.filter(pk=endpoints["plain"].pk).update(is_active=False)
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.FAILED
    assert "not active" in evaluation.error
    failed = Job.objects.get(params__contestant_id=plain.pk)
    assert failed.status == JobStatus.FAILED
    assert evaluation.judge_job is None
    # Fixed, resumed: the failed job runs again and the evaluation goes on to the end.
    Endpoint.objects.filter(pk=endpoints["plain"].pk).update(is_active=True)
    assert evaluation_resume(evaluation=evaluation)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.GENERATING and evaluation.error == ""
    assert Job.objects.get(pk=failed.pk).status == JobStatus.QUEUED
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.DONE
    assert JudgeComparison.objects.count() == 3
    assert not evaluation_resume(evaluation=evaluation)  # nothing left to resume


def test_a_budget_stop_fails_the_evaluation_until_resumed(endpoints):
    for endpoint in endpoints.values():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            input_price_per_million=Decimal("1"), output_price_per_million=Decimal("1")
        )
    good, plain = two_contestants(endpoints)
    evaluation = evaluation_create(
        name="e",
        benchmark=make_benchmark(3),
        contestants=[good, plain],
        judge=endpoints["judge"],
        budget_usd=Decimal("0"),
    )
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.FAILED and "budget" in evaluation.error
    assert {j.status for j in evaluation_jobs(evaluation=evaluation)} == {JobStatus.STOPPED_BUDGET}
    assert not EvalResponse.objects.exists()
    # More money, resumed: done.
    Evaluation.objects.filter(pk=evaluation.pk).update(budget_usd=Decimal("10"))
    Job.objects.all().update(budget_usd=Decimal("10"))
    assert evaluation_resume(evaluation=evaluation)
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.DONE
    assert EvalResponse.objects.count() == 6 and JudgeGrade.objects.count() == 6


def test_cancel_stops_every_job_and_delete_keeps_the_responses(endpoints, server):
    good, plain = two_contestants(endpoints)
    bench = make_benchmark(3)
    evaluation = evaluation_create(
        name="e", benchmark=bench, contestants=[good, plain], judge=endpoints["judge"]
    )
    with pytest.raises(ValidationError) as exc:
        evaluation_delete(evaluation=evaluation)  # still queued
    assert set(exc.value.message_dict) == {"evaluation"}
    first = evaluation_jobs(evaluation=evaluation)[0]
    generation_run(job=first, worker="inline")
    evaluation_advance(evaluation_id=evaluation.pk)
    assert evaluation_cancel(evaluation=evaluation)
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert not evaluation_cancel(evaluation=evaluation)
    statuses = [j.status for j in evaluation_jobs(evaluation=evaluation)]
    assert statuses == [JobStatus.DONE, JobStatus.CANCELLED]
    sent = len(server.chat_requests)
    run_jobs(evaluation)  # a cancelled job's task does nothing, nor does the advance
    evaluation_advance(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED and evaluation.judge_job is None
    assert len(server.chat_requests) == sent
    assert not evaluation_resume(evaluation=evaluation)
    # A model in use cannot be deleted; the evaluation can, and the answers stay for later.
    with pytest.raises(ValidationError):
        contestant_delete(contestant=good)
    job_ids = [j.pk for j in evaluation_jobs(evaluation=evaluation)]
    evaluation_delete(evaluation=evaluation)
    assert not Evaluation.objects.exists() and not Job.objects.filter(pk__in=job_ids).exists()
    assert EvalResponse.objects.filter(contestant=good).count() == 3
    contestant_delete(contestant=plain)
    assert not Contestant.objects.filter(pk=plain.pk).exists()


def test_concurrent_advances_make_one_judge_job(endpoints):
    good, plain = two_contestants(endpoints)
    evaluation = evaluation_create(
        name="e", benchmark=make_benchmark(2), contestants=[good, plain], judge=endpoints["judge"]
    )
    for job in evaluation_jobs(evaluation=evaluation):
        generation_run(job=job, worker="inline")
    barrier = threading.Barrier(4)
    errors = []

    def advance():
        try:
            barrier.wait()
            evaluation_advance(evaluation_id=evaluation.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=advance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.JUDGING
    assert Job.objects.filter(kind=kinds.JUDGE).count() == 1
    assert evaluation.judge_job.total == 2 * 2 + 2


def test_a_failed_judge_job_is_resumed_into_judging(endpoints):
    good, plain = two_contestants(endpoints)
    evaluation = evaluation_create(
        name="e", benchmark=make_benchmark(2), contestants=[good, plain], judge=endpoints["judge"]
    )
    Endpoint.objects.filter(pk=endpoints["judge"].pk).update(is_active=False)
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.FAILED and evaluation.finished_at
    assert evaluation.judge_job.status == JobStatus.FAILED
    assert "judge is not active" in evaluation.error
    Endpoint.objects.filter(pk=endpoints["judge"].pk).update(is_active=True)
    assert evaluation_resume(evaluation=evaluation)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.JUDGING and evaluation.finished_at is None
    run_jobs(evaluation)
    assert evaluation.status == EvaluationStatus.DONE
    assert JudgeGrade.objects.count() == 4 and JudgeComparison.objects.count() == 2
