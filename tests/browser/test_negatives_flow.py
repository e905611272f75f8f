"""An engineer makes constitutional negatives in the browser (a real Celery worker, the test
LLM server), watches the job finish, and opens a pair whose diff marks exactly the changed
words."""

from decimal import Decimal

from playwright.sync_api import expect

from pairs.models import PairStatus, PreferencePair, PreferenceStatus
from weaver_site.llm.models import Endpoint

from ..factories import make_approved, make_instruction_pair
from ..fakes.llm_server import FakeLLMServer
from ..pairs.test_negatives import negator


def test_engineer_makes_negatives_and_reads_the_diff(
    page, login, author, admin_user, engineer, celery_worker_process
):
    principle = make_approved(author, admin_user, task=None, title="Show, don't tell")
    for i in range(3):
        make_instruction_pair(
            instruction=f"Write scene {i} on a river at night.",
            response=f"Response number {i}: the river ran slow under the moon.",
            status=PairStatus.KEPT,
            curation_score=5,
            domain_id=principle.domain_id,
        )
    with FakeLLMServer(default=lambda body: negator(body, latency=0.05)) as server:
        endpoint = Endpoint.objects.create(
            name="negator",
            base_url=server.url,
            model="negator-model",
            max_concurrency=4,
            input_price_per_million=Decimal("1"),
            output_price_per_million=Decimal("2"),
        )
        celery_worker_process(queues="llm")
        login(engineer)
        page.goto("/pairs/preferences/")
        page.click("#new-negatives")
        page.select_option("#id_endpoint", str(endpoint.pk))
        expect(page.locator("#id_kept_only")).to_be_checked()
        page.get_by_role("button", name="Make negatives").click()
        expect(page.locator("#job-state")).to_have_text("Done", timeout=90_000)
        expect(page.locator("#job-percent")).to_have_text("100%")
        page.reload()
        expect(page.locator("#job-metrics")).to_contain_text("3 pairs, 0 flagged")
        assert len(server.chat_requests) == 6  # step 1 and step 2 per positive

    assert PreferencePair.objects.filter(status=PreferenceStatus.GENERATED).count() == 3
    page.click("#job-pairs")
    page.locator("a.preference-link").first.click()
    diff = page.locator("#diff #pair-diff")
    expect(diff.locator("del")).to_have_count(1)
    expect(diff.locator("ins")).to_have_count(1)
    expect(diff.locator("del")).to_have_text("slow")
    expect(diff.locator("ins")).to_have_text("quick")
    expect(page.locator("#principle")).to_contain_text("Show, don't tell")
    expect(page.locator("#selection-reason")).to_contain_text("Best explained by P1.")
    expect(page.locator("#metrics")).to_contain_text("0.0833")
