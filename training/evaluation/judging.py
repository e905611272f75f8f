"""The judge job of an evaluation: the model judge grades every response and compares every
pair of responses to each instruction, in both orders.

- Grading (``grade``): one request per response (:func:`judge_prompts.grade_messages`,
  ``GRADE_SCHEMA``) -> :class:`JudgeGrade`. A response graded before by this judge with this
  prompt version (in any evaluation) is not graded again.
- Pairwise (``pairwise``): for every pair of contestants on every instruction, two requests,
  the lower contestant id's response shown as A first, then the two swapped
  (:func:`judge_prompts.pairwise_messages`) -> one :class:`JudgeComparison` holding both
  answers, the outcome and the outcome per criterion, a disagreement between the two orders
  counting as a tie (:func:`judge_prompts.combine_pairwise_answers`).

Prompts are in the instruction's language, with its domain and task named in that language. An
answer that cannot be used counts as failed and writes nothing (a pair needs both orders); the
gateway keeps its raw text and the error on the call (:class:`LLMCall`).

The work is counted in units: one per response graded and one per pair compared; the cursor is
the benchmark item id.
"""

from __future__ import annotations

from itertools import combinations

from django.db.models import QuerySet

from weaver_site.jobs import Chunk, chunked_job_run
from weaver_site.llm.gateway import LLMRequest
from weaver_site.llm.models import CallStatus, Endpoint, LLMCall
from weaver_site.models import Job

from .judge_prompts import (
    DEFAULT_PARAMS,
    GRADE_SCHEMA,
    PAIRWISE_CRITERIA,
    PAIRWISE_SCHEMA,
    PROMPT_VERSION,
    JudgeAnswerError,
    combine_pairwise_answers,
    grade_messages,
    pairwise_messages,
    parse_grade,
    parse_pairwise_answer,
)
from .models import BenchmarkItem, EvalResponse, Evaluation, JudgeComparison, JudgeGrade

__all__ = ["CHUNK_ITEMS", "JudgeSource", "judge_run"]

CHUNK_ITEMS = 10
_UNUSABLE = "unusable"  # chunk.items key: units that cannot be asked (counted failed)


def _names(item: BenchmarkItem) -> tuple[str, str]:
    """The item's domain and task names in its language."""
    field = "name_zh" if item.language == "zh" else "name_en"
    domain = getattr(item.domain, field, "") if item.domain_id else ""
    task = getattr(item.task, field, "") if item.task_id else ""
    return domain, task


class JudgeSource:
    """Hands out the benchmark's instructions in order, with the grading and pairwise requests
    of the evaluation's responses to each."""

    def __init__(self, job: Job):
        self.evaluation = Evaluation.objects.select_related("judge").get(
            pk=job.params["evaluation_id"]
        )
        self.judge: Endpoint = self.evaluation.judge
        self.contestant_ids = list(self.evaluation.contestants.values_list("pk", flat=True))

    def scope(self) -> QuerySet[BenchmarkItem]:
        return (
            BenchmarkItem.objects.filter(benchmark_id=self.evaluation.benchmark_id)
            .select_related("domain", "task")
            .order_by("pk")
        )

    def chunk(self, job: Job, after: int) -> Chunk | None:
        items = list(self.scope().filter(pk__gt=after)[:CHUNK_ITEMS])
        if not items:
            return None
        responses = list(
            EvalResponse.objects.filter(item__in=items, contestant_id__in=self.contestant_ids)
            .order_by("item_id", "contestant_id")
            .only("pk", "item_id", "contestant_id", "text")
        )
        by_item: dict[int, list[EvalResponse]] = {}
        for response in responses:
            by_item.setdefault(response.item_id, []).append(response)
        ids = [r.pk for r in responses]
        graded = set(
            JudgeGrade.objects.filter(
                response_id__in=ids, judge=self.judge, prompt_version=PROMPT_VERSION
            ).values_list("response_id", flat=True)
        )
        compared = set(
            JudgeComparison.objects.filter(
                response_a_id__in=ids, judge=self.judge, prompt_version=PROMPT_VERSION
            ).values_list("response_a_id", "response_b_id")
        )
        chunk = Chunk(cursor=items[-1].pk, items={_UNUSABLE: 0})
        for item in items:
            answers = by_item.get(item.pk, [])
            domain, task = _names(item)
            if self.evaluation.grade:
                for response in answers:
                    if response.pk in graded:
                        chunk.already_done += 1
                        continue
                    try:
                        messages = grade_messages(
                            item.instruction,
                            response.text,
                            language=item.language,
                            domain=domain,
                            task=task,
                        )
                    except ValueError:
                        chunk.items[_UNUSABLE] += 1
                        continue
                    key = ("grade", response.pk)
                    chunk.items[key] = response
                    chunk.requests.append(
                        LLMRequest(
                            messages=messages, params=DEFAULT_PARAMS, schema=GRADE_SCHEMA, key=key
                        )
                    )
            if self.evaluation.pairwise:
                for a, b in combinations(answers, 2):  # ordered by contestant id: a is lower
                    if (a.pk, b.pk) in compared:
                        chunk.already_done += 1
                        continue
                    try:
                        shown = [
                            pairwise_messages(
                                item.instruction,
                                first.text,
                                second.text,
                                language=item.language,
                                domain=domain,
                                task=task,
                            )
                            for first, second in ((a, b), (b, a))
                        ]
                    except ValueError:
                        chunk.items[_UNUSABLE] += 1
                        continue
                    chunk.items[("pair", a.pk, b.pk)] = (item, a, b)
                    for order, messages in enumerate(shown):
                        chunk.requests.append(
                            LLMRequest(
                                messages=messages,
                                params=DEFAULT_PARAMS,
                                schema=PAIRWISE_SCHEMA,
                                key=("pair", a.pk, b.pk, order),
                            )
                        )
        return chunk

    @staticmethod
    def _unusable(result, exc: Exception) -> None:
        """Keep the raw answer and why it could not be used on the call's ledger row."""
        if result.call_id:
            LLMCall.objects.filter(pk=result.call_id).update(
                status=CallStatus.INVALID, error=f"answer {exc}"[:5000], raw_text=result.text
            )

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        grades: list[JudgeGrade] = []
        pairs: dict[tuple, dict[int, object]] = {}
        failed = 0
        for result in results:
            key = result.request.key
            if key[0] == "grade":
                if not result.ok:
                    failed += 1
                    continue
                try:
                    grade = parse_grade(result.data)
                except JudgeAnswerError as exc:
                    self._unusable(result, exc)
                    failed += 1
                    continue
                grades.append(
                    JudgeGrade(
                        response=chunk.items[key],
                        judge=self.judge,
                        prompt_version=PROMPT_VERSION,
                        reason=grade.reason,
                        style=grade.style,
                        relevance=grade.relevance,
                        creativity=grade.creativity,
                        overall=grade.overall,
                    )
                )
            else:
                pairs.setdefault(key[:3], {})[key[3]] = result
        comparisons: list[JudgeComparison] = []
        for key, answered in pairs.items():
            item, a, b = chunk.items[key]
            if len(answered) < 2:  # the budget cut the other order off: nothing half-written
                failed += 1
                continue
            parsed = []
            for order in (0, 1):
                result = answered[order]
                if not result.ok:
                    break
                try:
                    parsed.append(parse_pairwise_answer(result.data))
                except JudgeAnswerError as exc:
                    self._unusable(result, exc)
                    break
            if len(parsed) < 2:
                failed += 1
                continue
            combined = combine_pairwise_answers(parsed[0], parsed[1])
            comparisons.append(
                JudgeComparison(
                    item=item,
                    response_a=a,
                    response_b=b,
                    judge=self.judge,
                    prompt_version=PROMPT_VERSION,
                    first=answered[0].data,
                    second=answered[1].data,
                    outcome=combined["winner"],
                    criteria={c: combined[c] for c in PAIRWISE_CRITERIA},
                )
            )
        # Another evaluation judging the same responses may have stored them meanwhile.
        JudgeGrade.objects.bulk_create(grades, ignore_conflicts=True)
        JudgeComparison.objects.bulk_create(comparisons, ignore_conflicts=True)
        failed += chunk.items.get(_UNUSABLE, 0)
        return len(grades) + len(comparisons), failed


def judge_run(*, job: Job, worker: str) -> None:
    """Run a judge job (in a Celery task, or in-process in tests)."""
    source = JudgeSource(job)
    chunked_job_run(job=job, worker=worker, source=source, endpoint_for=lambda j: source.judge)
