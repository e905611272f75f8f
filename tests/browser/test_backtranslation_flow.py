"""An author writes a Chinese few-shot case for fiction x outlining; an engineer backtranslates
a selection with a real Celery worker and the test LLM server, watches the job reach 100%, and
opens a pair beside its source span."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from pairs.models import InstructionPair, PairStatus, Selection
from principles.models import FewShotCase, Subdomain
from weaver_site.llm.models import Endpoint

from ..factories import make_texts_with_spans
from ..fakes.llm_server import FakeLLMServer
from ..pairs.test_backtranslation import writer

CASE_INSTRUCTION = "请为一篇写江南水乡夜色的小说章节列一个大纲，突出船夫的孤独。"


def test_author_case_then_engineer_backtranslates_and_reads_a_pair(
    page, login, author, engineer, celery_worker_process
):
    novel = Subdomain.objects.get(domain__slug="fiction", slug="novel")
    make_texts_with_spans(
        4, spans_per_text=2, language="zh", subdomain="novel", selection="水乡选集"
    )

    # The author writes the case in the browser.
    login(author)
    page.goto("/principles/fewshot/")
    page.click("#new-fewshot")
    page.select_option("#id_subdomain", str(novel.pk))
    page.select_option("#id_task", "outlining")
    page.select_option("#id_language", "zh")
    page.fill("#id_source_span", "夜里，河面上只剩一条船，船夫点起一盏灯。")
    page.fill("#id_instruction", CASE_INSTRUCTION)
    page.fill("#id_output", "一、夜色中的河\n二、船夫与灯\n三、天亮前的归途")
    page.fill("#id_rationale", "片段写一个人、一条船、一夜，大纲按时间推进。")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#fewshot-instruction")).to_contain_text(CASE_INSTRUCTION)
    case = FewShotCase.objects.get()
    assert (case.subdomain, case.task.slug, case.language) == (novel, "outlining", "zh")

    with FakeLLMServer(default=lambda body: writer(body, latency=0.05)) as server:
        endpoint = Endpoint.objects.create(
            name="writer",
            base_url=server.url,
            model="fake-model",
            max_concurrency=4,
            input_price_per_million=Decimal("1"),
            output_price_per_million=Decimal("2"),
        )
        celery_worker_process(queues="llm")
        login(engineer)
        selection = Selection.objects.get(name="水乡选集")
        page.goto(f"/corpus/selections/{selection.pk}/")
        page.click("#backtranslate-selection")
        expect(page.locator("#id_selection")).to_have_value(str(selection.pk))
        page.check("input[name=tasks][value=outlining]")
        page.check("input[name=tasks][value=content_writing]")
        page.select_option("#id_endpoint", str(endpoint.pk))
        page.get_by_role("button", name="Start backtranslation").click()

        # The job page follows the job live until it is done.
        expect(page.locator("#job-progress")).to_be_attached()
        expect(page.locator("#job-state")).to_have_text("Done", timeout=90_000)
        expect(page.locator("#job-percent")).to_have_text("100%")
        assert InstructionPair.objects.filter(status=PairStatus.GENERATED).count() == 4 * 2 * 2
        prompts = ["\n".join(m["content"] for m in r.messages) for r in server.chat_requests]
        # The case reached the 8 outlining prompts (4 texts x 2 spans), not the others.
        assert len(prompts) == 16 and sum(CASE_INSTRUCTION in p for p in prompts) == 8

    # The engineer opens a pair beside its source.
    page.click("#job-pairs")
    page.locator("a.pair-link").first.click()
    expect(page.locator("#pair")).to_be_visible()
    pair = InstructionPair.objects.get(pk=int(re.search(r"/pairs/(\d+)/", page.url)[1]))
    expect(page.locator("#pair")).to_contain_text(pair.instruction)
    expect(page.locator("#source mark#source-span")).to_have_text(pair.span.content)
    expect(page.locator("#source")).to_contain_text(pair.source_text.text.split("\n\n")[1])
