"""Instruction pair pages and API: the browser's filters, a pair beside its source span, manual
marks, who may see them, what they escape, and what a page costs in queries."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pairs import services
from pairs.models import InstructionPair, PairImport, PairMark, PairOrigin, PairStatus, TextSpan
from principles.models import FewShotCase, FewShotCaseVersion, Subdomain, Task
from tests.factories import make_instruction_pair, make_texts_with_spans
from weaver_site.models import Job

pytestmark = pytest.mark.django_db

BROWSER = "/pairs/"
API = "/api/instruction-pairs/"
XSS_INSTRUCTION = "<script>alert('instruction')</script>"
XSS_RESPONSE = '<img src=x onerror="alert(2)">'
XSS_SOURCE = "<script>alert('source')</script>"


def detail_url(pair, query=""):
    url = reverse("instructions:detail", args=[pair.pk])
    return f"{url}?{query}" if query else url


def mark_url(pair):
    return reverse("instructions:mark", args=[pair.pk])


def listed_ids(content: str) -> list[int]:
    """Ids of the pairs the results table links to, in order."""
    return [int(n) for n in re.findall(r'class="pair-link" href="/pairs/(\d+)/', content.decode())]


@pytest.fixture
def spans():
    """Three English texts (fiction / short story) with three spans each, and two Chinese texts
    (creative non-fiction / essay) with one span each."""
    en = make_texts_with_spans(3, spans_per_text=3, name="en")
    zh = make_texts_with_spans(
        2, language="zh", domain="creative_nonfiction", subdomain="essay", name="zh"
    )
    return {
        "en": [s for t in en for s in t.spans.order_by("ordinal")],
        "zh": [s for t in zh for s in t.spans.order_by("ordinal")],
    }


@pytest.fixture
def pairs(spans):
    en, zh = spans["en"], spans["zh"]
    return {
        "writing": make_instruction_pair(
            span=en[0],
            instruction="Write about the ferryman and his oar.",
            curation_score=5,
            status=PairStatus.KEPT,
        ),
        "outline": make_instruction_pair(
            span=en[1],
            task="outlining",
            instruction="Outline a night crossing.",
            curation_score=2,
        ),
        "failed": make_instruction_pair(
            span=en[2],
            status=PairStatus.FAILED,
            instruction="",
            error="The answer was not JSON.",
            raw_text="not json at all",
        ),
        "zh": make_instruction_pair(
            span=zh[0], instruction="写一段河上夜景。", curation_score=4, mark=PairMark.GOOD
        ),
        "dropped": make_instruction_pair(
            span=en[3],
            instruction="Describe the moon over water.",
            status=PairStatus.DROPPED,
            curation_score=1,
            mark=PairMark.BAD,
        ),
    }


# --- the browser -----------------------------------------------------------------------------


def test_browser_lists_all_but_failed_pairs_by_default(client_for, reviewer, pairs):
    response = client_for(reviewer).get(BROWSER)
    assert response.status_code == 200
    ids = listed_ids(response.content)
    assert pairs["failed"].pk not in ids
    expected = sorted((p.pk for k, p in pairs.items() if k != "failed"), reverse=True)
    assert ids == expected
    assert b'id="filters"' in response.content


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"task": "outlining"}, ["outline"]),
        ({"task": "content_writing"}, ["writing", "zh", "dropped"]),
        ({"language": "zh"}, ["zh"]),
        ({"domain": "creative_nonfiction"}, ["zh"]),
        ({"subdomain": "short_story"}, ["writing", "outline", "dropped"]),
        ({"status": "failed"}, ["failed"]),
        ({"status": "kept"}, ["writing"]),
        ({"status": "all"}, ["writing", "outline", "failed", "zh", "dropped"]),
        ({"min_score": "4"}, ["writing", "zh"]),
        ({"max_score": "2"}, ["outline", "dropped"]),
        ({"min_score": "2", "max_score": "4"}, ["outline", "zh"]),
        ({"q": "FERRYMAN AND HIS"}, ["writing"]),  # instruction, any case
        ({"q": "Paragraph 1 of text 0"}, ["outline"]),  # response
        ({"mark": "good"}, ["zh"]),
        ({"mark": "bad"}, ["dropped"]),
        ({"mark": "none"}, ["writing", "outline"]),
        ({"origin": "import"}, []),
        ({"status": "nonsense", "task": "outlining"}, ["outline"]),
    ],
)
def test_browser_filters(client_for, engineer, pairs, params, expected):
    response = client_for(engineer).get(BROWSER, params)
    assert response.status_code == 200
    assert sorted(listed_ids(response.content)) == sorted(pairs[k].pk for k in expected)


def test_browser_htmx_answers_only_the_results(client_for, reviewer, pairs):
    response = client_for(reviewer).get(BROWSER, {"task": "outlining"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content and b'id="filters"' not in response.content
    assert listed_ids(response.content) == [pairs["outline"].pk]


def test_browser_filters_by_job(client_for, engineer, pairs):
    job = Job.objects.create(kind="backtranslation", name="night run")
    InstructionPair.objects.filter(pk=pairs["outline"].pk).update(job=job)
    response = client_for(engineer).get(BROWSER, {"job": job.pk})
    assert listed_ids(response.content) == [pairs["outline"].pk]


def test_result_links_keep_the_filters(client_for, reviewer, pairs):
    content = client_for(reviewer).get(BROWSER, {"task": "outlining", "page": "1"}).content
    assert f'href="/pairs/{pairs["outline"].pk}/?task=outlining"'.encode() in content


def test_pagination_keeps_filters(client_for, reviewer):
    texts = make_texts_with_spans(56, name="many")
    made = [make_instruction_pair(span=t.spans.get(), task="outlining") for t in texts[:55]]
    make_instruction_pair(span=texts[55].spans.get())  # another task: filtered out
    c = client_for(reviewer)
    first = c.get(BROWSER, {"task": "outlining"}).content.decode()
    assert "55 pairs" in first
    assert len(listed_ids(first.encode())) == 50
    assert 'href="?task=outlining&amp;page=2"' in first
    second = c.get(BROWSER, {"task": "outlining", "page": "2"}).content
    assert sorted(listed_ids(second)) == sorted(p.pk for p in made[:5])


def test_browser_query_count_does_not_grow_with_rows(client_for, engineer):
    texts = make_texts_with_spans(40, name="q")
    c = client_for(engineer)
    for t in texts[:3]:
        make_instruction_pair(span=t.spans.get(), curation_score=3, mark=PairMark.GOOD)
    c.get(BROWSER)  # warm up the session and caches
    with CaptureQueriesContext(connection) as few:
        assert len(listed_ids(c.get(BROWSER).content)) == 3
    for t in texts[3:]:
        make_instruction_pair(span=t.spans.get(), task="polishing", context="Some text.")
    with CaptureQueriesContext(connection) as many:
        assert len(listed_ids(c.get(BROWSER).content)) == 40
    assert len(many) == len(few)


# --- a pair's page ---------------------------------------------------------------------------


def test_detail_shows_the_pair_beside_its_source_span(client_for, engineer, pairs, spans):
    pair = pairs["outline"]  # the second span of a three-span text
    pair.reasoning = "The span is a scene; an outline fits."
    pair.curation_reason = "Clear and relevant."
    pair.curation_details = {"instruction_clarity": 5, "overall_quality": 4}
    pair.save()
    response = client_for(engineer).get(detail_url(pair))
    assert response.status_code == 200
    page = response.content.decode()
    pair_section = page[page.index('<section id="pair"') : page.index('<section id="source"')]
    source_section = page[page.index('<section id="source"') :]
    assert "Outline a night crossing." in pair_section
    assert "The span is a scene; an outline fits." in pair_section
    assert "Clear and relevant." in pair_section and "instruction_clarity" in pair_section
    assert 'id="curation-score">2<' in pair_section
    span = spans["en"][1]
    marked = re.search(r'<mark id="source-span">(.*?)</mark>', source_section, re.S)
    assert marked is not None
    assert (
        marked.group(1)
        == span.content
        == "Paragraph 1 of text 0. "
        + ("The river ran slow under the moon, and the ferryman leaned on his oar.")
    )
    before = source_section[: marked.start()]
    after = source_section[marked.end() :]
    assert "Paragraph 0 of text 0." in before and "Paragraph 2 of text 0." in after
    assert f'href="{reverse("pairs:text-detail", args=[span.text_id])}"' in source_section
    assert "en 0" in source_section  # the source text's title


def test_detail_source_link_only_for_those_who_may_open_it(client_for, reviewer, engineer, pairs):
    pair = pairs["writing"]
    link = f'href="{reverse("pairs:text-detail", args=[pair.source_text_id])}"'
    assert link not in client_for(reviewer).get(detail_url(pair)).content.decode()
    assert link in client_for(engineer).get(detail_url(pair)).content.decode()


def test_detail_of_a_failed_pair_shows_error_and_raw_answer(client_for, engineer, pairs):
    page = client_for(engineer).get(detail_url(pairs["failed"])).content.decode()
    assert 'id="pair-error">The answer was not JSON.<' in page
    assert 'id="pair-raw">not json at all<' in page
    assert (
        "pair-error" not in client_for(engineer).get(detail_url(pairs["writing"])).content.decode()
    )


def test_detail_shows_provenance(client_for, engineer, admin_user, pairs):
    job = Job.objects.create(kind="backtranslation", name="night run")
    case = FewShotCase.objects.create(
        subdomain=Subdomain.objects.get(slug="short_story"),
        task=Task.objects.get(slug="content_writing"),
        language="en",
        owner=admin_user,
    )
    version = FewShotCaseVersion.objects.create(
        case=case,
        number=1,
        author=admin_user,
        source_span="s",
        instruction="i",
        output="o",
        rationale="r",
    )
    pair = pairs["writing"]
    pair.job = job
    pair.fewshot_versions = [version.pk, 999999]
    pair.duplicate_of = pairs["zh"]
    pair.request_hash = "abc123"
    pair.sample_index = 2
    pair.save()
    page = client_for(engineer).get(detail_url(pair)).content.decode()
    assert f'href="{reverse("pairs:job", args=[job.pk])}"' in page
    assert f'href="{reverse("principles:fewshot-detail", args=[case.pk])}">#{version.pk}' in page
    assert "#999999" in page  # a version that is gone: no link
    assert f'href="{detail_url(pairs["zh"])}">#{pairs["zh"].pk}' in page
    assert "abc123" in page and "v1" in page
    assert (
        'href="/pairs/jobs/'
        not in client_for(engineer).get(detail_url(pairs["zh"])).content.decode()
    )


def test_imported_pair_detail(client_for, reviewer, engineer):
    pair_import = PairImport.objects.create(name="handmade set", original_name="set.jsonl")
    pair = make_instruction_pair(
        origin=PairOrigin.IMPORT,
        pair_import=pair_import,
        source_line=3,
        instruction="Polish this paragraph.",
        context="It were a dark night.",
        response="It was a dark night.",
    )
    response = client_for(reviewer).get(detail_url(pair))
    assert response.status_code == 200
    page = response.content.decode()
    source = page[page.index('<section id="source"') :]
    assert "Imported pair: no source span" in source
    assert f'href="{reverse("instructions:import-detail", args=[pair_import.pk])}"' in source
    assert "<mark" not in source
    assert 'id="pair-context" lang="en">It were a dark night.<' in page


def test_detail_escapes_pair_and_source_text(client_for, engineer):
    (text,) = make_texts_with_spans(1, spans_per_text=2, name="xss")
    text.text = f"{XSS_SOURCE} before.\n\nThe span {XSS_SOURCE} here.\n\nAfter {XSS_SOURCE}"
    text.save()
    start = text.text.index("The span")
    span = TextSpan.objects.get(text=text, ordinal=1)
    span.start, span.end = start, start + len(f"The span {XSS_SOURCE} here.")
    span.save()
    pair = make_instruction_pair(
        span=span, instruction=XSS_INSTRUCTION, response=XSS_RESPONSE, reasoning=XSS_INSTRUCTION
    )
    page = client_for(engineer).get(detail_url(pair)).content.decode()
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;instruction&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert (
        '<mark id="source-span">The span &lt;script&gt;alert(&#x27;source&#x27;)&lt;/script&gt;'
        " here.</mark>"
    ) in page
    assert page.count("&lt;script&gt;alert(&#x27;source&#x27;)") == 3
    listing = client_for(engineer).get(BROWSER).content.decode()
    assert "<script>alert(" not in listing and "<img src=x" not in listing
    assert "&lt;script&gt;alert(&#x27;instruction&#x27;)" in listing


def test_previous_and_next_follow_the_filters(client_for, reviewer, pairs):
    # Newest first: dropped, zh, failed, outline, writing; content writing: dropped, zh, writing.
    c = client_for(reviewer)
    page = c.get(detail_url(pairs["zh"], "task=content_writing")).content.decode()
    assert 'id="next-pair" rel="next" data-key="n"' in page
    assert f'href="{detail_url(pairs["writing"], "task=content_writing")}"' in page
    assert f'href="{detail_url(pairs["dropped"], "task=content_writing")}"' in page
    unfiltered = c.get(detail_url(pairs["zh"])).content.decode()
    # The failed pair is hidden by default, so "next" skips it.
    assert f'href="{detail_url(pairs["outline"])}">' in unfiltered
    assert f'href="{detail_url(pairs["failed"])}"' not in unfiltered
    last = c.get(detail_url(pairs["writing"])).content.decode()
    assert 'id="next-pair"' not in last and 'id="previous-pair"' in last


def test_pages_load_the_local_script(client_for, reviewer, pairs):
    for url in (BROWSER, detail_url(pairs["writing"])):
        page = client_for(reviewer).get(url).content.decode()
        assert "/static/pairs/instructions.js" in page
        assert "https://" not in page.split("<body", 1)[0]  # no CDN in the head


# --- marks -----------------------------------------------------------------------------------


def test_mark_with_a_plain_post_redirects_back(client_for, reviewer, pairs):
    pair = pairs["writing"]
    c = client_for(reviewer)
    response = c.post(mark_url(pair) + "?task=content_writing", {"mark": "good"})
    assert response.status_code == 302
    assert response["Location"] == detail_url(pair, "task=content_writing")
    pair.refresh_from_db()
    assert pair.mark == PairMark.GOOD and pair.marked_by == reviewer and pair.marked_at
    page = c.get(detail_url(pair)).content.decode()
    assert 'data-mark="good"' in page and "rita" in page


def test_mark_with_htmx_swaps_the_fragment(client_for, engineer, pairs):
    pair = pairs["writing"]
    c = client_for(engineer)
    response = c.post(mark_url(pair), {"mark": "bad"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="pair-mark"')
    assert "<html" not in fragment and 'data-mark="bad"' in fragment
    assert 'value="bad" data-key="b" aria-keyshortcuts="b" aria-pressed="true"' in fragment
    pair.refresh_from_db()
    assert pair.mark == PairMark.BAD and pair.marked_by == engineer

    response = c.post(mark_url(pair), {"mark": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-mark=""' in response.content.decode()
    pair.refresh_from_db()
    assert pair.mark == "" and pair.marked_by is None and pair.marked_at is None


def test_mark_refuses_an_unknown_value(client_for, admin_user, pairs):
    pair = pairs["writing"]
    c = client_for(admin_user)
    response = c.post(mark_url(pair), {"mark": "great"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert c.post(mark_url(pair), {"mark": "great"}).status_code == 302
    pair.refresh_from_db()
    assert pair.mark == ""


def test_mark_page_takes_only_post(client_for, reviewer, pairs):
    assert client_for(reviewer).get(mark_url(pairs["writing"])).status_code == 405


def test_mark_service_checks_value_and_role(reviewer, author, pairs):
    pair = pairs["writing"]
    with pytest.raises(ValidationError) as exc:
        services.instruction_pair_mark(pair=pair, user=reviewer, mark="excellent")
    assert "mark" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.instruction_pair_mark(pair=pair, user=author, mark="good")
    pair.refresh_from_db()
    assert pair.mark == ""
    services.instruction_pair_mark(pair=pair, user=reviewer, mark="good")
    pair.refresh_from_db()
    assert pair.mark == "good" and pair.marked_by == reviewer


# --- who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["author", "norole"])
def test_pages_and_api_refuse_other_roles(request, client_for, pairs, who):
    user = request.getfixturevalue(who)
    c = client_for(user)
    pair = pairs["writing"]
    assert c.get(BROWSER).status_code == 403
    assert c.get(detail_url(pair)).status_code == 403
    assert c.post(mark_url(pair), {"mark": "good"}).status_code == 403
    assert c.get(API).status_code == 403
    assert c.get(f"{API}{pair.pk}/").status_code == 403
    response = c.post(f"{API}{pair.pk}/mark/", {"mark": "good"}, content_type="application/json")
    assert response.status_code == 403
    pair.refresh_from_db()
    assert pair.mark == ""


def test_anonymous_goes_to_login(client, pairs):
    response = client.get(BROWSER)
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(API).status_code in (401, 403)


@pytest.mark.parametrize("who", ["engineer", "reviewer", "admin_user"])
def test_roles_that_may(request, client_for, pairs, who):
    c = client_for(request.getfixturevalue(who))
    assert c.get(BROWSER).status_code == 200
    assert c.get(detail_url(pairs["writing"])).status_code == 200
    assert c.get(API).status_code == 200


def test_unknown_pair_is_404(client_for, engineer):
    c = client_for(engineer)
    assert c.get("/pairs/999999/").status_code == 404
    assert c.post("/pairs/999999/mark/", {"mark": "good"}).status_code == 404
    assert c.get(f"{API}999999/").status_code == 404


# --- the API -----------------------------------------------------------------------------------


def api_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["dropped", "zh", "outline", "writing"]),
        ({"task": "outlining"}, ["outline"]),
        ({"language": "zh"}, ["zh"]),
        ({"status": "failed"}, ["failed"]),
        ({"status": "all"}, ["dropped", "zh", "failed", "outline", "writing"]),
        ({"min_score": 4}, ["zh", "writing"]),
        ({"max_score": 1}, ["dropped"]),
        ({"q": "crossing"}, ["outline"]),
        ({"mark": "none"}, ["outline", "writing"]),
        ({"domain": "fiction", "subdomain": "short_story"}, ["dropped", "outline", "writing"]),
    ],
)
def test_api_filters(client_for, engineer, pairs, params, expected):
    response = client_for(engineer).get(API, params)
    assert api_ids(response) == [pairs[k].pk for k in expected]


def test_api_fields(client_for, reviewer, pairs):
    c = client_for(reviewer)
    pair = pairs["failed"]
    row = next(r for r in c.get(API, {"status": "failed"}).json()["results"])
    assert row["id"] == pair.pk
    assert row["task"] == "content_writing" and row["domain"] == "fiction"
    assert row["subdomain"] == "short_story" and row["span"] == pair.span_id
    assert row["source_text"] == pair.source_text_id and row["job"] is None
    assert row["status"] == "failed" and row["mark"] == "" and row["curation_score"] is None
    detail = c.get(f"{API}{pair.pk}/").json()
    assert detail["error"] == "The answer was not JSON."
    assert detail["raw_text"] == "not json at all"
    assert detail["fewshot_versions"] == [] and detail["metadata"] == {}
    assert "reasoning" in detail and "curation_details" in detail


def test_api_list_query_count_does_not_grow(client_for, engineer):
    texts = make_texts_with_spans(12, name="api")
    c = client_for(engineer)
    for t in texts[:2]:
        make_instruction_pair(span=t.spans.get())
    c.get(API)
    with CaptureQueriesContext(connection) as few:
        assert len(api_ids(c.get(API))) == 2
    for t in texts[2:]:
        make_instruction_pair(span=t.spans.get())
    with CaptureQueriesContext(connection) as many:
        assert len(api_ids(c.get(API))) == 12
    assert len(many) == len(few)


def test_api_mark(client_for, reviewer, pairs):
    pair = pairs["writing"]
    c = client_for(reviewer)
    url = f"{API}{pair.pk}/mark/"
    response = c.post(url, {"mark": "good"}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["mark"] == "good" and response.json()["marked_by"] == "rita"
    pair.refresh_from_db()
    assert pair.mark == "good" and pair.marked_by == reviewer

    response = c.post(url, {"mark": "brilliant"}, content_type="application/json")
    assert response.status_code == 400
    assert "mark" in response.json()
    pair.refresh_from_db()
    assert pair.mark == "good"

    response = c.post(url, {"mark": ""}, content_type="application/json")
    assert response.status_code == 200 and response.json()["mark"] == ""
    assert c.post(url, {}, content_type="application/json").status_code == 400
    assert api_ids(c.get(API, {"mark": "good"})) == [pairs["zh"].pk]
