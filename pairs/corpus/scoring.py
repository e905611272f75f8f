"""LLM quality scoring of corpus texts through the gateway.

Each text gets a 1-5 score with a short reason, asked reason first, in the text's language. The
prompt version, the endpoint and the score are stored on the text; the call (tokens, cost, raw
answer of a failure) is in the gateway's ledger. Scoring jobs run on the ``llm`` queue with
progress, cost and a budget; a job run again skips texts already scored with the same prompt
version and endpoint, and answers already paid for come from the gateway's cache.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from weaver_site.llm.gateway import LLMRequest, batch
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job, JobStatus

from ..models import CorpusText
from ..selectors import candidate_texts

KIND = "corpus.score"
PROMPT_VERSION = "quality-v1"
MAX_TEXT_CHARS = 6000  # longer texts are scored on their opening, and the prompt says so
CHUNK = 500

SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["reason", "score"],
}

PROMPTS = {
    "en": {
        "system": (
            "You are a senior editor at a literary publisher. You judge whether a piece of "
            "writing is good enough to teach a writing model by example."
        ),
        "user": (
            "Rate the writing below from 1 to 5.\n"
            "5: excellent, publishable professional writing; 4: good, with minor flaws; "
            "3: competent but unremarkable; 2: weak (clumsy, repetitive or unclear); "
            "1: not usable (broken, boilerplate, spam or not prose).\n"
            "Judge the language, clarity, structure and vividness, not the topic.{cut}\n"
            "First give a short reason (one to three sentences), then the score. Answer with "
            'JSON only: {{"reason": "...", "score": <1-5>}}\n\n'
            "Title: {title}\n\n<<<\n{text}\n>>>"
        ),
        "cut": " Only the opening of a longer text is shown.",
    },
    "zh": {
        "system": (
            "你是一家文学出版社的资深编辑，负责判断一段文字是否足够优秀，"
            "可以作为范文来训练写作模型。"
        ),
        "user": (
            "请为下面的文字打分（1 到 5 分）。\n"
            "5 分：出色，达到专业出版水准；4 分：良好，有小瑕疵；3 分：通顺但平淡；"
            "2 分：较差（生硬、重复或不清楚）；1 分：不可用（残缺、模板化文字、广告或不是正文）。\n"
            "请评价语言、清晰度、结构和表现力，而不是题材。{cut}\n"
            "先用一到三句话说明理由，再给出分数。只用 JSON 回答："
            '{{"reason": "...", "score": <1-5>}}\n\n'
            "标题：{title}\n\n<<<\n{text}\n>>>"
        ),
        "cut": "较长的文字只展示开头部分。",
    },
}


def scoring_messages(text: CorpusText) -> list[dict]:
    """The chat messages that score one text, in its language (English for anything else)."""
    prompt = PROMPTS.get(text.language, PROMPTS["en"])
    body = text.text
    cut = ""
    if len(body) > MAX_TEXT_CHARS:
        body, cut = body[:MAX_TEXT_CHARS], prompt["cut"]
    return [
        {"role": "system", "content": prompt["system"]},
        {
            "role": "user",
            "content": prompt["user"].format(title=text.title or "-", text=body, cut=cut),
        },
    ]


def _targets(job: Job) -> QuerySet[CorpusText]:
    """The texts a scoring job still has to score."""
    p = job.params
    qs = candidate_texts(
        language=p.get("language", ""),
        domain=p.get("domain", ""),
        subdomain=p.get("subdomain", ""),
        import_id=p.get("import_id"),
        text_ids=p.get("text_ids"),
    )
    done = Q(llm_prompt_version=PROMPT_VERSION, llm_endpoint_id=p["endpoint_id"])
    return qs.exclude(done & Q(llm_score__isnull=False)).order_by("pk")


def corpus_scoring_create(
    *,
    endpoint: Endpoint,
    created_by=None,
    budget_usd: Decimal | None = None,
    language: str = "",
    domain: str = "",
    subdomain: str = "",
    import_id: int | None = None,
    text_ids: list[int] | None = None,
    params: dict | None = None,
) -> Job:
    """A scoring job over the active, not filtered-out texts that match; queued on commit."""
    from .scoring_tasks import run_scoring

    job_params = {
        "endpoint_id": endpoint.pk,
        "prompt_version": PROMPT_VERSION,
        "language": language,
        "domain": domain,
        "subdomain": subdomain,
        "import_id": import_id,
        "text_ids": text_ids or [],
        "params": params or {"temperature": 0, "max_tokens": 300},
    }
    with transaction.atomic():
        job = Job.objects.create(
            kind=KIND,
            name=f"Score with {endpoint.name}",
            created_by=created_by,
            budget_usd=budget_usd,
            params=job_params,
        )
        job.total = _targets(job).count()
        job.save(update_fields=["total"])
        transaction.on_commit(lambda: run_scoring.delay(job.pk))
    return job


def corpus_scoring_run(*, job: Job) -> None:
    """Score the job's remaining texts, CHUNK at a time, storing each score as it arrives."""
    if job.status in (JobStatus.CANCELLED, JobStatus.DONE, JobStatus.STOPPED_BUDGET):
        return
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    endpoint = Endpoint.objects.get(pk=job.params["endpoint_id"])
    params = job.params.get("params") or {}
    failed_ids: set[int] = set()
    while True:
        job.refresh_from_db(fields=["status"])
        if job.status != JobStatus.RUNNING:
            return  # cancelled, or stopped by budget
        texts = list(_targets(job).exclude(pk__in=failed_ids)[:CHUNK])
        if not texts:
            break
        by_id = {t.pk: t for t in texts}
        requests = [
            LLMRequest(messages=scoring_messages(t), params=params, schema=SCHEMA, key=t.pk)
            for t in texts
        ]
        scored, failed = [], 0
        for result in batch(endpoint, requests, job=job):
            text = by_id[result.request.key]
            if result.ok:
                text.llm_score = int(result.data["score"])
                text.llm_reason = str(result.data["reason"])[:4000]
                text.llm_prompt_version = PROMPT_VERSION
                text.llm_endpoint = endpoint
                scored.append(text)
            elif result.status != "budget":
                failed += 1
                failed_ids.add(text.pk)
        CorpusText.objects.bulk_update(
            scored, ["llm_score", "llm_reason", "llm_prompt_version", "llm_endpoint"]
        )
        Job.objects.filter(pk=job.pk).update(
            done=F("done") + len(scored), failed=F("failed") + failed
        )
        if len(scored) + failed < len(texts):  # some were refused by the budget
            return
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.DONE, finished_at=timezone.now()
    )
