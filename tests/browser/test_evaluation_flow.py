"""An engineer evaluates two models in Chromium, end to end: writes a benchmark in the editor
(one instruction by hand, more from a JSONL file; a bad file lists each problem with its line
and field and imports nothing), freezes it, adds two models from two LLM endpoints of the test
LLM server with their decoding parameters, and starts an evaluation judged by a third endpoint.
A real Celery worker answers and judges while the evaluation page follows its progress without
a reload; the leaderboard then ranks the judge's favourite first (ratings, chart and score
table), and an instruction's page shows both responses side by side with the judge's grades."""

import json

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory
from training.evaluation.services import evaluation_jobs
from training.models import (
    Benchmark,
    BenchmarkStatus,
    Contestant,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    JudgeComparison,
    JudgeGrade,
)

from ..fakes.llm_server import FakeLLMServer, Reply
from ..training.test_eval_services import GOOD_MARK, answer, make_endpoint

pytestmark = [pytest.mark.browser, pytest.mark.worker]

WORKER_TIMEOUT_MS = 120_000
FAVOURITE = "Vivid writer"  # writes through the "writer-good" endpoint: the judge prefers it
PLAIN = "Plain writer"  # sorts before the favourite by name and by id

HAND_ITEM = {
    "key": "fic-1",
    "instruction": "Write a short story about a lantern left burning on a pier.",
    "domain": "fiction",
    "task": "content_writing",
}
IMPORTED = [
    {
        "id": "fic-2",
        "instruction": "Write a fable about a crow who counts the stars.",
        "language": "en",
        "domain": "fiction",
        "task": "content_writing",
    },
    {
        "id": "mkt-1",
        "instruction": "Write a product description for a paper lantern.",
        "language": "en",
        "domain": "marketing",
        "task": "content_writing",
        "metadata": {"source": "workshop"},
    },
    {
        "id": "fic-3",
        "instruction": "写一首关于灯笼的短诗。",
        "language": "zh",
        "domain": "fiction",
        "task": "content_writing",
    },
]
N_ITEMS = 1 + len(IMPORTED)


# The judge's Chinese prompts mark the texts so; the scripted judge reads the English markers.
ZH_MARKERS = {
    "[回答开始]": "[The Start of the Response]",
    "[回答结束]": "[The End of the Response]",
    "[回答 A 开始]": "[The Start of Response A]",
    "[回答 A 结束]": "[The End of Response A]",
    "[回答 B 开始]": "[The Start of Response B]",
    "[回答 B 结束]": "[The End of Response B]",
}


def bilingual_answer(body: dict) -> Reply:
    """The scripted writers and judge of the evaluation tests, the judge reading Chinese
    prompts too (it prefers the answers holding GOOD_MARK in both languages)."""
    if body["model"] == "judge":
        messages = []
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, str):
                for zh, en in ZH_MARKERS.items():
                    content = content.replace(zh, en)
            messages.append({**m, "content": content})
        body = {**body, "messages": messages}
    return answer(body)


def jsonl(rows) -> bytes:
    lines = (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows)
    return "".join(line + "\n" for line in lines).encode()


@pytest.fixture
def llm_server(reference_data):
    with FakeLLMServer(default=bilingual_answer) as server:
        yield server


def test_engineer_builds_a_benchmark_and_evaluates_two_models(
    page, login, llm_server, celery_worker_process
):
    engineer = UserFactory(username="erin", roles=["Engineer"])
    # The LLM endpoints are set up by an admin elsewhere; here they point at the test server.
    plain_endpoint = make_endpoint("writer-plain", llm_server)
    good_endpoint = make_endpoint("writer-good", llm_server)
    judge = make_endpoint("judge", llm_server, max_concurrency=8)
    login(engineer)

    # --- 1. The benchmark editor ---------------------------------------------------------------
    page.goto("/evaluation/benchmarks/new/")
    page.fill("#id_name", "lantern-bench")
    page.fill("#id_description", "Short pieces about lanterns.")
    page.click("#create-benchmark")
    page.wait_for_url("**/evaluation/benchmarks/*/")
    benchmark = Benchmark.objects.get(name="lantern-bench")
    assert page.url.endswith(f"/evaluation/benchmarks/{benchmark.pk}/")
    expect(page.locator("#benchmark-status")).to_have_text("Draft")
    expect(page.locator("#benchmark-version")).to_have_text("v1")
    expect(page.locator("#no-items")).to_be_visible()

    # One instruction with the item form.
    page.fill("#id_key", HAND_ITEM["key"])
    page.fill("#id_instruction", HAND_ITEM["instruction"])
    page.select_option("#id_language", "en")
    page.select_option("#id_domain", HAND_ITEM["domain"])
    page.select_option("#id_task", HAND_ITEM["task"])
    page.click("#add-item-submit")
    expect(page.locator(".messages")).to_contain_text("fic-1")
    expect(page.locator("#benchmark-items")).to_have_text("1")
    row = page.locator("#items .bench-item").filter(has_text="fic-1")
    expect(row.locator(".item-domain")).to_have_text("fiction")
    expect(row.locator(".item-instruction")).to_contain_text(HAND_ITEM["instruction"])

    # More from a JSONL file, added after it.
    page.set_input_files(
        "#id_file",
        {"name": "lanterns.jsonl", "mimeType": "application/x-ndjson", "buffer": jsonl(IMPORTED)},
    )
    page.click("#import-submit")
    expect(page.locator(".messages")).to_contain_text(f"{len(IMPORTED)} instructions imported")
    expect(page.locator("#benchmark-items")).to_have_text(str(N_ITEMS))
    expect(page.locator("#items .item-key")).to_have_text(
        [HAND_ITEM["key"]] + [r["id"] for r in IMPORTED]
    )
    expect(page.locator("#benchmark-languages")).to_contain_text("en 3")
    expect(page.locator("#benchmark-languages")).to_contain_text("zh 1")

    # A bad file: every problem listed with its file, line and field; nothing imported.
    bad = [
        {"id": "ok-1", "instruction": "Write about a lamp.", "language": "en"},
        {"id": "bad-2", "instruction": "Écrivez un poème.", "language": "fr"},
        {"id": "bad-3", "prompt": "A misspelt field.", "language": "en"},
    ]
    page.set_input_files(
        "#id_file",
        {"name": "broken.jsonl", "mimeType": "application/x-ndjson", "buffer": jsonl(bad)},
    )
    page.click("#import-submit")
    problems = page.locator("#import-problems")
    expect(problems).to_be_visible()
    expect(page.locator("#import-form div.errors[role=alert]")).to_contain_text(
        "Nothing was imported"
    )
    language = problems.locator("tr.problem").filter(
        has=page.locator(".problem-field", has_text="language")
    )
    expect(language.locator(".problem-file")).to_have_text("broken.jsonl")
    expect(language.locator(".problem-line")).to_have_text("2")
    expect(language.locator(".problem-field")).to_have_text("language")
    expect(language.locator(".problem-message")).to_contain_text("zh, en")
    unknown = problems.locator("tr.problem").filter(
        has=page.locator(".problem-field", has_text="prompt")
    )
    expect(unknown.locator(".problem-line")).to_have_text("3")
    expect(unknown.locator(".problem-message")).to_contain_text("unknown field")
    missing = problems.locator("tr.problem").filter(
        has=page.locator(".problem-field", has_text="instruction")
    )
    expect(missing.locator(".problem-line")).to_have_text("3")
    expect(problems.locator("tr.problem .problem-line", has_text="1")).to_have_count(0)
    expect(page.locator("#benchmark-items")).to_have_text(str(N_ITEMS))
    expect(page.locator("#items .item-key", has_text="ok-1")).to_have_count(0)
    assert benchmark.items.count() == N_ITEMS

    # Freeze: read only, with its content hash.
    page.click("#freeze")
    page.wait_for_url(f"**/evaluation/benchmarks/{benchmark.pk}/")
    benchmark.refresh_from_db()
    assert benchmark.status == BenchmarkStatus.FROZEN
    assert len(benchmark.content_hash) == 64
    expect(page.locator(".messages")).to_contain_text("frozen")
    expect(page.locator("#benchmark-status")).to_have_text("Frozen")
    expect(page.locator("#benchmark-hash")).to_have_text(benchmark.content_hash)
    expect(page.locator("#benchmark-frozen")).to_contain_text(engineer.username)
    expect(page.locator("#read-only")).to_be_visible()
    for gone in ("#freeze", "#item-form", "#import-form", ".item-edit"):
        expect(page.locator(gone)).to_have_count(0)

    # --- 2. Two models from two endpoints --------------------------------------------------------
    for name, endpoint, decoding in (
        (PLAIN, plain_endpoint, {"temperature": "0.2", "max_tokens": "128"}),
        (
            FAVOURITE,
            good_endpoint,
            {"temperature": "0.8", "top_p": "0.95", "max_tokens": "200", "seed": "7"},
        ),
    ):
        page.goto("/evaluation/models/new/")
        page.fill("#id_name", name)
        page.check("input[name=source][value=endpoint]")
        page.select_option("#id_endpoint", str(endpoint.pk))
        for field, value in decoding.items():
            page.fill(f"#id_{field}", value)
        page.click("#create-contestant")
        page.wait_for_url("**/evaluation/models/")
        expect(page.locator(".messages")).to_contain_text(name)
    plain = Contestant.objects.get(name=PLAIN)
    good = Contestant.objects.get(name=FAVOURITE)
    assert plain.endpoint_id == plain_endpoint.pk and good.endpoint_id == good_endpoint.pk
    assert plain.decoding == {"temperature": 0.2, "max_tokens": 128}
    assert good.decoding == {"temperature": 0.8, "top_p": 0.95, "max_tokens": 200, "seed": 7}
    expect(page.locator(f"#contestant-{good.pk} .contestant-decoding")).to_contain_text("seed=7")
    expect(page.locator(f"#contestant-{plain.pk} .contestant-decoding")).to_contain_text(
        "temperature=0.2"
    )

    # --- 3. A new evaluation, run by a real worker -----------------------------------------------
    page.goto("/evaluation/new/")
    page.fill("#id_name", "lanterns, judged")
    page.select_option("#id_benchmark", str(benchmark.pk))
    page.check(f"input[name=contestants][value='{plain.pk}']")
    page.check(f"input[name=contestants][value='{good.pk}']")
    page.select_option("#id_judge", str(judge.pk))
    expect(page.locator("#id_grade")).to_be_checked()
    expect(page.locator("#id_pairwise")).to_be_checked()
    page.click("#create-evaluation")
    page.wait_for_url("**/evaluation/*/")
    evaluation = Evaluation.objects.get(name="lanterns, judged")
    assert page.url.endswith(f"/evaluation/{evaluation.pk}/")
    assert evaluation.judge_id == judge.pk and evaluation.benchmark_id == benchmark.pk
    expect(page.locator(".messages")).to_contain_text("started")
    status = page.locator("#evaluation-status")
    expect(status).to_have_text("Generating")
    expect(page.locator("#evaluation-jobs tr.eval-job-generate")).to_have_count(2)
    expect(page.locator("#judge-pending")).to_be_visible()
    expect(page.locator(f"#model-{good.pk}")).to_contain_text("top_p=0.95")
    page.evaluate("window.__stayed = true")

    worker = celery_worker_process(queues="default,llm,gpu", name="eval")  # the page saw it wait
    try:
        expect(status).to_have_text("Done", timeout=WORKER_TIMEOUT_MS)
    except AssertionError:
        evaluation.refresh_from_db()
        log = worker.log_path.read_text()[-4000:]
        raise AssertionError(
            f"evaluation {evaluation.status}: {evaluation.error}\nworker log:\n{log}"
        ) from None
    assert page.evaluate("window.__stayed === true")  # the same page, not a reload
    expect(page.locator("#evaluation-progress-text")).to_contain_text("(100%)")
    expect(page.locator("#evaluation-jobs tr.eval-job")).to_have_count(3)
    expect(page.locator("#evaluation-jobs tr.eval-job-judge")).to_contain_text("judge")
    expect(page.locator("#judge-pending")).to_have_count(0)
    expect(page.locator("#cancel-evaluation")).to_have_count(0)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.DONE
    jobs = evaluation_jobs(evaluation=evaluation)
    assert [(j.kind, j.done, j.failed) for j in jobs] == [
        ("eval.generate", N_ITEMS, 0),
        ("eval.generate", N_ITEMS, 0),
        ("eval.judge", 2 * N_ITEMS + N_ITEMS, 0),
    ]
    # The Chinese instruction was judged with the Chinese prompts.
    judged_zh = [
        r
        for r in llm_server.chat_requests
        if r.model == "judge" and "[回答开始]" in str(r.messages)
    ]
    assert len(judged_zh) == 2  # one grade per model
    assert EvalResponse.objects.filter(item__benchmark=benchmark).count() == 2 * N_ITEMS
    assert JudgeGrade.objects.filter(response__item__benchmark=benchmark).count() == 2 * N_ITEMS
    assert JudgeComparison.objects.filter(item__benchmark=benchmark).count() == N_ITEMS

    # --- 4. The leaderboard ----------------------------------------------------------------------
    page.click("#leaderboard-link")
    page.wait_for_url(f"**/evaluation/{evaluation.pk}/leaderboard/")
    expect(page.locator("#source-judge")).to_have_attribute("aria-current", "page")
    ratings = page.locator("#ratings-overall tr.rating-row")
    expect(ratings).to_have_count(2)
    expect(ratings.first).to_have_attribute("data-model", FAVOURITE)
    expect(ratings.first.locator(".rank")).to_have_text("1")
    expect(ratings.first.locator(".rating-model")).to_have_text(FAVOURITE)
    expect(ratings.nth(1)).to_have_attribute("data-model", PLAIN)
    bt = [int(ratings.nth(i).locator(".rating-bt").inner_text()) for i in (0, 1)]
    assert bt[0] > bt[1]
    chart = page.locator("#chart-overall svg.interval-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("g.chart-model")).to_have_count(2)
    expect(chart.locator("circle.bt.dot")).to_have_count(2)
    expect(page.locator("#group-overall")).to_contain_text(f"{N_ITEMS} comparisons")
    scores = page.locator("#scores-overall tr.score-row")
    expect(scores).to_have_count(2)
    expect(scores.first).to_have_attribute("data-model", FAVOURITE)
    expect(scores.nth(1)).to_have_attribute("data-model", PLAIN)
    overall = [float(scores.nth(i).locator(".score-overall").inner_text()) for i in (0, 1)]
    assert overall[0] > overall[1]

    # --- 5. One instruction, side by side --------------------------------------------------------
    page.get_by_role("link", name="Responses side by side").click()
    page.wait_for_url(f"**/evaluation/{evaluation.pk}/items/")
    expect(page.locator("#items tr.item")).to_have_count(N_ITEMS)
    page.locator("#items .item-link", has_text=HAND_ITEM["key"]).click()
    item = benchmark.items.get(key=HAND_ITEM["key"])
    page.wait_for_url(f"**/evaluation/{evaluation.pk}/items/{item.pk}/")
    expect(page.locator("#instruction-text")).to_have_text(HAND_ITEM["instruction"])
    columns = page.locator("#responses .response-column")
    expect(columns).to_have_count(2)
    vivid = page.locator(f"#response-{good.pk}")
    flat = page.locator(f"#response-{plain.pk}")
    expect(vivid.locator("h2")).to_have_text(FAVOURITE)
    expect(flat.locator("h2")).to_have_text(PLAIN)
    expect(vivid.locator(".response-text")).to_contain_text(GOOD_MARK)
    expect(vivid.locator(".response-text")).to_contain_text(HAND_ITEM["instruction"])
    expect(flat.locator(".response-text")).to_contain_text("There was a lantern.")
    expect(flat.locator(".response-text")).not_to_contain_text(GOOD_MARK)
    expect(vivid.locator(".response-meta")).to_contain_text("writer-good")
    expect(vivid.locator(".response-meta")).to_contain_text("seed=7")
    expect(vivid.locator(".grade .grade-overall")).to_have_text("9")
    expect(vivid.locator(".grade .grade-style")).to_have_text("9")
    expect(flat.locator(".grade .grade-overall")).to_have_text("4")
    expect(vivid.locator(".grade-reason")).to_have_text("Graded on the imagery.")
    judged = page.locator("#judge-comparisons tr.comparison")
    expect(judged).to_have_count(1)
    expect(judged.locator(".comparison-outcome")).to_have_text(f"{FAVOURITE} better")
    expect(judged.locator("td.winner")).to_have_text(FAVOURITE)
