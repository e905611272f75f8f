"""Acceptance: the tiny model from the training tests is evaluated end to end on the CPU. A
training run's checkpoint (the tiny random Llama's folder) answers a benchmark through the
local ``transformers`` backend in a real Celery worker (``gpu`` queue), beside a gateway
endpoint of the test LLM server; the test server's judge grades and compares both."""

from __future__ import annotations

import pytest

from training.evaluation import kinds
from training.evaluation.services import contestant_create, evaluation_create, evaluation_jobs
from training.models import EvalResponse, JudgeComparison, JudgeGrade
from weaver_site.llm.models import Backend
from weaver_site.models import JobStatus

from ..fakes.llm_server import FakeLLMServer
from .eval_factories import make_benchmark
from .test_eval_services import answer, make_checkpoint, make_endpoint, writer_requests
from .test_eval_worker import wait_done

pytestmark = [pytest.mark.worker, pytest.mark.training]


def test_the_tiny_model_is_evaluated_end_to_end_on_the_cpu(celery_worker_process, tiny_model):
    with FakeLLMServer(default=answer) as server:
        checkpoint = make_checkpoint(tiny_model)
        tiny = contestant_create(
            name="Tiny checkpoint",
            checkpoint=checkpoint,
            decoding={"temperature": 0, "max_tokens": 8},
            system_prompt="You are a helpful assistant.",
        )
        assert tiny.endpoint.backend == Backend.TRANSFORMERS
        good = contestant_create(
            name="Good writer", endpoint=make_endpoint("writer-good", server), decoding={}
        )
        judge = make_endpoint("judge", server)
        bench = make_benchmark(4)
        worker = celery_worker_process(queues="default,llm,gpu", name="eval-local")
        evaluation = evaluation_create(
            name="tiny vs good", benchmark=bench, contestants=[tiny, good], judge=judge
        )
        wait_done(evaluation, worker, timeout=240)

        jobs = evaluation_jobs(evaluation=evaluation)
        assert [(j.kind, j.status, j.done, j.failed) for j in jobs] == [
            (kinds.GENERATE, JobStatus.DONE, 4, 0),
            (kinds.GENERATE_LOCAL, JobStatus.DONE, 4, 0),
            (kinds.JUDGE, JobStatus.DONE, 4 * 2 + 4, 0),
        ]
        answers = EvalResponse.objects.filter(contestant=tiny, item__benchmark=bench)
        assert answers.count() == 4
        for response in answers:
            assert response.model_name == str(tiny_model)
            assert response.decoding == {"temperature": 0, "max_tokens": 8}
            assert 1 <= response.output_tokens <= 8 and len(response.request_hash) == 64
            assert response.job_id == jobs[1].pk
        assert any(r.text.strip() for r in answers)  # a random model still says something
        # Only the endpoint model and the judge went to the test server.
        assert writer_requests(server, str(tiny_model)) == 0
        assert writer_requests(server, "writer-good") == 4
        grades = JudgeGrade.objects.filter(response__item__benchmark=bench)
        assert grades.count() == 8 and grades.filter(response__contestant=tiny).count() == 4
        # The vivid endpoint model beats the tiny random one on every instruction.
        comparisons = JudgeComparison.objects.filter(item__benchmark=bench)
        assert comparisons.count() == 4 and set(comparisons.values_list("outcome", flat=True)) == {
            "b"
        }
