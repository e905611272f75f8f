"""Preference pair pages and API: the list's filters, a pair's diff, principle, metrics and
judge, statistics per principle, who may see them, what they escape, and what the list costs in
queries."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pairs import selectors
from pairs.models import JudgeVerdict, NegativeMode, PreferenceStatus
from principles import services as principle_services
from tests.factories import (
    make_approved,
    make_instruction_pair,
    make_preference_pair,
    make_texts_with_spans,
    principle_content,
)
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job

pytestmark = pytest.mark.django_db

LIST = "/pairs/preferences/"
STATS = "/pairs/preferences/principles/"
API = "/api/preference-pairs/"
API_STATS = "/api/preference-pairs/principle-stats/"
XSS_CHOSEN = "<script>alert('chosen')</script> The river ran slow."
XSS_REJECTED = "<script>alert('rejected')</script> The river ran very slow."
XSS_TITLE = "<script>alert('principle')</script>"
XSS_VIOLATING = "<img src=x onerror=\"alert('violating')\">"


def detail_url(pair):
    return reverse("preferences:detail", args=[pair.pk])


def listed_ids(content: bytes) -> list[int]:
    """Ids of the pairs the results table links to, in order."""
    return [
        int(n)
        for n in re.findall(
            r'class="preference-link" href="/pairs/preferences/(\d+)/', content.decode()
        )
    ]


def section(content: bytes, name: str) -> str:
    """The HTML of ``<section id="name">`` on a page."""
    match = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', content.decode(), re.S)
    assert match, f"no section {name}"
    return match.group(1)


@pytest.fixture
def positives():
    """Eight instruction pairs (content writing, fiction, English) made from spans."""
    texts = make_texts_with_spans(4, spans_per_text=2, name="pos")
    spans = [s for t in texts for s in t.spans.order_by("ordinal")]
    return [make_instruction_pair(span=s) for s in spans]


@pytest.fixture
def principles(author, admin_user):
    return {
        "a": make_approved(author, admin_user, task="content_writing", title="Keep the pace"),
        "b": make_approved(author, admin_user, task=None, title="Concrete detail"),
    }


@pytest.fixture
def pairs(positives, principles):
    va = principles["a"].approved_version
    vb = principles["b"].approved_version
    return {
        "plain": make_preference_pair(positive=positives[0], principle_version=va),
        "flagged": make_preference_pair(
            positive=positives[1],
            principle_version=va,
            flagged=True,
            flags=["char_similarity", "edit_ratio"],
            judge_verdict=JudgeVerdict.PASS,
            judge_breaks_principle=True,
            judge_otherwise_equal=True,
        ),
        "other": make_preference_pair(
            positive=positives[2],
            principle_version=vb,
            judge_verdict=JudgeVerdict.FAIL,
            judge_breaks_principle=False,
            judge_otherwise_equal=True,
            status=PreferenceStatus.ACCEPTED,
        ),
        "failed": make_preference_pair(
            positive=positives[3],
            principle_version=vb,
            status=PreferenceStatus.FAILED,
            rejected="",
            metrics={},
            error="The answer was not JSON.",
            raw_text="<b>not json</b> at all",
        ),
    }


# --- the list -----------------------------------------------------------------------------------


def test_list_hides_failed_pairs_by_default(client_for, engineer, pairs):
    response = client_for(engineer).get(LIST)
    assert response.status_code == 200
    ids = listed_ids(response.content)
    assert ids == sorted([pairs["plain"].pk, pairs["flagged"].pk, pairs["other"].pk], reverse=True)
    assert pairs["failed"].pk not in ids


def test_list_status_filters(client_for, engineer, pairs):
    c = client_for(engineer)
    assert listed_ids(c.get(LIST, {"status": "failed"}).content) == [pairs["failed"].pk]
    assert listed_ids(c.get(LIST, {"status": "accepted"}).content) == [pairs["other"].pk]
    assert len(listed_ids(c.get(LIST, {"status": "all"}).content)) == 4


def test_list_filters_by_principle_and_version(client_for, reviewer, pairs, principles):
    c = client_for(reviewer)
    ids = listed_ids(c.get(LIST, {"principle": principles["a"].pk}).content)
    assert sorted(ids) == sorted([pairs["plain"].pk, pairs["flagged"].pk])
    version_b = principles["b"].approved_version
    ids = listed_ids(c.get(LIST, {"principle_version": version_b.pk, "status": "all"}).content)
    assert sorted(ids) == sorted([pairs["other"].pk, pairs["failed"].pk])


def test_list_filters_flagged_and_judge(client_for, engineer, pairs):
    c = client_for(engineer)
    assert listed_ids(c.get(LIST, {"flagged": "yes"}).content) == [pairs["flagged"].pk]
    assert pairs["flagged"].pk not in listed_ids(c.get(LIST, {"flagged": "no"}).content)
    assert listed_ids(c.get(LIST, {"judge": "pass"}).content) == [pairs["flagged"].pk]
    assert listed_ids(c.get(LIST, {"judge": "fail"}).content) == [pairs["other"].pk]
    assert listed_ids(c.get(LIST, {"judge": "none"}).content) == [pairs["plain"].pk]


def test_list_filters_search_job_and_language(client_for, engineer, pairs):
    job = Job.objects.create(kind="negatives", name="night run")
    pairs["other"].job = job
    pairs["other"].rejected = "A heron waited by the ferry."
    pairs["other"].save()
    c = client_for(engineer)
    assert listed_ids(c.get(LIST, {"job": job.pk}).content) == [pairs["other"].pk]
    assert listed_ids(c.get(LIST, {"q": "heron"}).content) == [pairs["other"].pk]
    assert listed_ids(c.get(LIST, {"language": "zh"}).content) == []
    assert len(listed_ids(c.get(LIST, {"language": "en"}).content)) == 3


def test_list_shows_metrics_flags_and_judge(client_for, engineer, pairs):
    response = client_for(engineer).get(LIST, {"flagged": "yes"})
    html = response.content.decode()
    similarity = pairs["flagged"].metrics["char_similarity"]
    assert f"{similarity:.2f}" in html
    assert "char_similarity, edit_ratio" in html
    assert 'class="badge badge-judge-pass"' in html
    assert "Keep the pace" in html


def test_list_htmx_answers_the_results_only(client_for, engineer, pairs):
    response = client_for(engineer).get(LIST, {"flagged": "yes"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="filters"' not in html
    assert listed_ids(response.content) == [pairs["flagged"].pk]


def test_new_negatives_link_for_engineers_and_admins_only(
    client_for, engineer, reviewer, admin_user
):
    assert 'id="new-negatives"' in client_for(engineer).get(LIST).content.decode()
    assert 'id="new-negatives"' in client_for(admin_user).get(LIST).content.decode()
    assert 'id="new-negatives"' not in client_for(reviewer).get(LIST).content.decode()


def test_list_pages_by_fifty(client_for, engineer, principles, positives):
    version = principles["a"].approved_version
    for i in range(51):
        make_preference_pair(positive=positives[0], principle_version=version, sample_index=i)
    c = client_for(engineer)
    assert len(listed_ids(c.get(LIST).content)) == 50
    assert len(listed_ids(c.get(LIST, {"page": 2}).content)) == 1


def test_list_query_count_does_not_grow_with_rows(client_for, engineer, principles, positives):
    c = client_for(engineer)
    va = principles["a"].approved_version
    vb = principles["b"].approved_version
    endpoint = Endpoint.objects.create(name="gen", model="gen-model")
    job = Job.objects.create(kind="negatives")
    make_preference_pair(positive=positives[0], principle_version=va)
    c.get(LIST)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert c.get(LIST).status_code == 200
    for i in range(12):
        make_preference_pair(
            positive=positives[1 + i % 7],
            principle_version=vb if i % 2 else va,
            sample_index=i + 1,
            endpoint=endpoint,
            job=job,
            flagged=bool(i % 3),
            flags=["edit_ratio"] if i % 3 else [],
        )
    with CaptureQueriesContext(connection) as many:
        response = c.get(LIST)
    assert len(listed_ids(response.content)) == 13
    assert len(many.captured_queries) == len(few.captured_queries)


# --- a pair -------------------------------------------------------------------------------------


def test_detail_diff_marks_exactly_the_changed_word(client_for, reviewer, principles, positives):
    pair = make_preference_pair(
        positive=positives[0],
        principle_version=principles["a"].approved_version,
        chosen="The river ran slow.",
        rejected="The river ran very slow.",
    )
    response = client_for(reviewer).get(detail_url(pair))
    assert response.status_code == 200
    diff = section(response.content, "diff")
    marked = re.search(r'id="pair-diff"[^>]*>(.*?)</div>', diff, re.S).group(1)
    assert marked == 'The river ran <ins class="diff-ins">very </ins>slow.'
    assert "<del" not in marked
    # Chosen and rejected in full, side by side.
    assert re.search(r'id="pair-chosen"[^>]*>The river ran slow\.</div>', diff)
    assert re.search(r'id="pair-rejected"[^>]*>The river ran very slow\.</div>', diff)


def test_detail_diff_marks_a_replaced_word(client_for, engineer, principles, positives):
    pair = make_preference_pair(
        positive=positives[0],
        principle_version=principles["a"].approved_version,
        chosen="She pressed her face to the cold window.",
        rejected="She pressed her face to the warm window.",
    )
    diff = section(client_for(engineer).get(detail_url(pair)).content, "diff")
    marked = re.search(r'id="pair-diff"[^>]*>(.*?)</div>', diff, re.S).group(1)
    assert re.findall(r'<del class="diff-del">(.*?)</del>', marked) == ["cold"]
    assert re.findall(r'<ins class="diff-ins">(.*?)</ins>', marked) == ["warm"]


def test_detail_shows_principle_with_both_cases(client_for, engineer, pairs, principles):
    pair = pairs["plain"]
    version = principles["a"].approved_version
    pair.selection_reason = "The pace carries the scene."
    pair.rewrite_rationale = "Adding an intensifier tells instead of showing."
    pair.offered_versions = [version.pk, principles["b"].approved_version.pk]
    pair.save()
    html = section(client_for(engineer).get(detail_url(pair)).content, "principle")
    assert "Keep the pace" in html
    assert f'href="{reverse("principles:detail", args=[principles["a"].pk])}"' in html
    assert f"version {version.number}" in html
    content = principle_content()
    for key in (
        "description",
        "following_instruction",
        "following_text",
        "following_rationale",
        "violating_text",
        "violating_rationale",
    ):
        assert content[key].replace("'", "&#x27;") in html, key
    assert "The pace carries the scene." in html
    assert "Adding an intensifier tells instead of showing." in html
    offered = re.search(r'<ul id="offered-versions">(.*?)</ul>', html, re.S).group(1)
    assert "Keep the pace" in offered and "Concrete detail" in offered
    assert offered.count("chosen-version") == 1


def test_detail_metrics_section_marks_flagged_metrics(client_for, engineer, pairs):
    html = section(client_for(engineer).get(detail_url(pairs["flagged"])).content, "metrics")
    rows = dict(re.findall(r'<tr id="metric-(\w+)"(.*?)</tr>', html, re.S))
    assert set(rows) >= {
        "char_similarity",
        "edit_ratio",
        "sentences_changed",
        "length_ratio",
        "identical",
    }
    assert "Flagged" in rows["char_similarity"] and "Flagged" in rows["edit_ratio"]
    assert "Flagged" not in rows["length_ratio"]
    assert "Within thresholds" in rows["length_ratio"]
    assert str(pairs["flagged"].metrics["char_similarity"]) in rows["char_similarity"]


def test_detail_judge_section(client_for, engineer, pairs):
    c = client_for(engineer)
    pairs["other"].judge_reason = "The edit does not break the principle."
    pairs["other"].save()
    judged = section(c.get(detail_url(pairs["other"])).content, "judge")
    assert 'id="judge-verdict"' in judged and "Fail" in judged
    assert re.search(r'id="judge-breaks">no<', judged)
    assert re.search(r'id="judge-equal">yes<', judged)
    assert "The edit does not break the principle." in judged
    not_judged = section(c.get(detail_url(pairs["plain"])).content, "judge")
    assert "Not judged" in not_judged
    assert 'id="judge-verdict"' not in not_judged


def test_detail_escapes_llm_and_user_text(client_for, author, admin_user, engineer, positives):
    principle = make_approved(
        author,
        admin_user,
        task="content_writing",
        title=XSS_TITLE,
        violating_text=XSS_VIOLATING,
    )
    pair = make_preference_pair(
        positive=positives[0],
        principle_version=principle.approved_version,
        chosen=XSS_CHOSEN,
        rejected=XSS_REJECTED,
        selection_reason="<script>alert('reason')</script>",
        judge_verdict=JudgeVerdict.PASS,
        judge_reason="<script>alert('judge')</script>",
    )
    html = client_for(engineer).get(detail_url(pair)).content.decode()
    assert "<script>alert(" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;chosen&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;rejected&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;principle&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x" in html
    # The list too.
    listing = client_for(engineer).get(LIST).content.decode()
    assert "<script>alert(" not in listing
    assert "&lt;script&gt;alert(&#x27;principle&#x27;)&lt;/script&gt;" in listing


def test_failed_pair_shows_error_and_raw_answer(client_for, reviewer, pairs):
    response = client_for(reviewer).get(detail_url(pairs["failed"]))
    assert response.status_code == 200
    html = section(response.content, "failure")
    assert "The answer was not JSON." in html
    assert "&lt;b&gt;not json&lt;/b&gt; at all" in html
    ok = client_for(reviewer).get(detail_url(pairs["plain"])).content.decode()
    assert 'id="failure"' not in ok


def test_detail_provenance(client_for, engineer, reviewer, pairs):
    job = Job.objects.create(kind="negatives", name="night run")
    endpoint = Endpoint.objects.create(name="negator", model="negator-model")
    pair = pairs["plain"]
    pair.job = job
    pair.endpoint = endpoint
    pair.model = "negator-model"
    pair.params = {"temperature": 0.7}
    pair.request_hashes = {"select": "abc123", "rewrite": "def456"}
    pair.cost_usd = Decimal("0.001234")
    pair.save()
    html = section(client_for(engineer).get(detail_url(pair)).content, "provenance")
    assert f'href="{reverse("instructions:detail", args=[pair.positive_id])}"' in html
    text = pair.positive.source_text
    assert f'href="{reverse("pairs:text-detail", args=[text.pk])}"' in html
    assert f'href="{reverse("pairs:job", args=[job.pk])}"' in html
    assert "negator-model" in html and "negator" in html
    assert "temperature=0.7" in html
    assert "abc123" in html and "def456" in html
    assert "0.001234" in html
    assert "cdpo-v1" in html
    # Reviewers see the source text's title, without a link to the corpus.
    as_reviewer = section(client_for(reviewer).get(detail_url(pair)).content, "provenance")
    assert reverse("pairs:text-detail", args=[text.pk]) not in as_reviewer
    assert text.title in as_reviewer


def test_detail_unknown_pair_is_404(client_for, engineer):
    assert client_for(engineer).get("/pairs/preferences/999999/").status_code == 404


# --- statistics per principle -------------------------------------------------------------------


@pytest.fixture
def stats_set(author, admin_user, positives, principles):
    """Principle A: three pairs (similarity 0.9, 0.8, 0.5; judged pass, fail and not at all;
    one flagged) on two versions, and one failed pair. Principle B: one pair. One pair with no
    principle."""
    a, b = principles["a"], principles["b"]
    va1 = a.approved_version
    va2 = principle_services.principle_version_create(
        principle=a, author=author, content=principle_content(title="Keep the pace (v2)")
    )

    def metrics(similarity, edit_ratio):
        return {
            "char_similarity": similarity,
            "edit_ratio": edit_ratio,
            "sentences_changed": 1,
            "length_ratio": 1.0,
            "identical": False,
        }

    make_preference_pair(
        positive=positives[0],
        principle_version=va1,
        metrics=metrics(0.9, 0.1),
        judge_verdict=JudgeVerdict.PASS,
    )
    make_preference_pair(
        positive=positives[1],
        principle_version=va1,
        metrics=metrics(0.8, 0.2),
        judge_verdict=JudgeVerdict.FAIL,
        flagged=True,
        flags=["edit_ratio"],
    )
    make_preference_pair(
        positive=positives[2],
        principle_version=va2,
        metrics=metrics(0.5, 0.6),
        status=PreferenceStatus.ACCEPTED,
    )
    make_preference_pair(
        positive=positives[3],
        principle_version=va1,
        status=PreferenceStatus.FAILED,
        rejected="",
        metrics={},
    )
    make_preference_pair(
        positive=positives[4], principle_version=b.approved_version, metrics=metrics(1.0, 0.0)
    )
    make_preference_pair(
        positive=positives[5], principle_version=None, status=PreferenceStatus.FAILED, metrics={}
    )
    return {"a": a, "b": b, "va1": va1, "va2": va2}


def test_principle_stats_numbers(stats_set):
    rows = selectors.principle_preference_stats()
    assert [r["principle_id"] for r in rows] == [stats_set["a"].pk, stats_set["b"].pk]
    a = rows[0]
    assert a["title"] == "Keep the pace (v2)"
    assert a["total"] == 4
    assert a["per_status"]["generated"] == 2
    assert a["per_status"]["accepted"] == 1
    assert a["per_status"]["failed"] == 1
    assert [(v["number"], v["pairs"]) for v in a["versions"]] == [(2, 1), (1, 3)]
    assert a["flagged"] == 1
    assert a["flagged_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert (a["judge_pass"], a["judged"]) == (1, 2)
    assert a["judge_pass_rate"] == pytest.approx(0.5)
    sim = a["metrics"]["char_similarity"]
    assert sim["n"] == 3
    assert sim["mean"] == pytest.approx(0.7333, abs=1e-4)
    assert sim["median"] == pytest.approx(0.8)
    assert (sim["min"], sim["max"]) == (0.5, 0.9)
    assert sum(b["count"] for b in sim["bins"]) == 3
    counts = {round(b["low"], 1): b["count"] for b in sim["bins"]}
    assert (counts[0.5], counts[0.8], counts[0.9], counts[0.0]) == (1, 1, 1, 0)
    edit = a["metrics"]["edit_ratio"]
    assert edit["mean"] == pytest.approx(0.3, abs=1e-4)
    assert edit["median"] == pytest.approx(0.2)
    b = rows[1]
    assert b["total"] == 1
    assert b["judged"] == 0 and b["judge_pass_rate"] is None
    assert b["metrics"]["char_similarity"]["mean"] == pytest.approx(1.0)


def test_principle_stats_filters(stats_set, principles):
    job = Job.objects.create(kind="negatives")
    pair = principles["b"].approved_version.preference_pairs.get()
    pair.job = job
    pair.save()
    rows = selectors.principle_preference_stats(job=job.pk)
    assert [r["principle_id"] for r in rows] == [stats_set["b"].pk]
    assert selectors.principle_preference_stats(language="zh") == []
    assert len(selectors.principle_preference_stats(task="content_writing")) == 2
    assert selectors.principle_preference_stats(task="outlining") == []


def test_principle_stats_page(client_for, reviewer, stats_set):
    response = client_for(reviewer).get(STATS)
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<tr id="principle-row-{stats_set["a"].pk}">(.*?)</tr>', html, re.S).group(1)
    assert "Keep the pace (v2)" in row
    assert f'href="{reverse("principles:detail", args=[stats_set["a"].pk])}"' in row
    assert re.search(r'class="pass-rate">50%', row)
    assert re.search(r'class="flagged-share">1 <small class="muted">\(33%\)', row)
    assert re.search(r'class="pairs-total">4<', row)
    charts = re.search(
        rf'<section[^>]*id="principle-charts-{stats_set["a"].pk}"(.*?)</section>', html, re.S
    ).group(1)
    assert charts.count("<svg") == 2
    assert "mean 0.7333, median 0.8" in charts


def test_principle_stats_page_filters(client_for, engineer, stats_set):
    html = client_for(engineer).get(STATS, {"language": "zh"}).content.decode()
    assert "principle-row-" not in html
    assert "No preference pair yet." in html


# --- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["author", "norole"])
def test_pages_and_api_forbidden_without_role(request, client_for, who, pairs):
    user = request.getfixturevalue(who)
    c = client_for(user)
    # An author may open pairs of their own principles (see the test below); nora may not.
    urls = [LIST, STATS, API, API_STATS] + ([detail_url(pairs["plain"])] if who == "norole" else [])
    for url in urls:
        assert c.get(url).status_code == 403, url
    assert c.get(f"{API}{pairs['plain'].pk}/").status_code == 403


def test_anonymous_goes_to_login(client, pairs):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize("who", ["engineer", "reviewer", "admin_user"])
def test_pages_open_to_pair_roles(request, client_for, who, pairs):
    c = client_for(request.getfixturevalue(who))
    for url in (LIST, detail_url(pairs["plain"]), STATS, API, API_STATS):
        assert c.get(url).status_code == 200, url


# --- API ------------------------------------------------------------------------------------------


def test_api_list_with_filters(client_for, engineer, pairs, principles):
    c = client_for(engineer)
    body = c.get(API).json()
    ids = [row["id"] for row in body["results"]]
    assert sorted(ids) == sorted([pairs["plain"].pk, pairs["flagged"].pk, pairs["other"].pk])
    body = c.get(API, {"flagged": "yes"}).json()
    assert [row["id"] for row in body["results"]] == [pairs["flagged"].pk]
    body = c.get(API, {"principle": principles["b"].pk, "status": "all"}).json()
    assert sorted(row["id"] for row in body["results"]) == sorted(
        [pairs["other"].pk, pairs["failed"].pk]
    )
    body = c.get(API, {"judge": "none"}).json()
    assert [row["id"] for row in body["results"]] == [pairs["plain"].pk]


def test_api_detail_fields(client_for, reviewer, pairs, principles):
    endpoint = Endpoint.objects.create(name="negator", model="negator-model")
    job = Job.objects.create(kind="negatives")
    pair = pairs["flagged"]
    pair.endpoint = endpoint
    pair.job = job
    pair.save()
    body = client_for(reviewer).get(f"{API}{pair.pk}/").json()
    version = principles["a"].approved_version
    assert body["principle"] == principles["a"].pk
    assert body["principle_version"] == version.pk
    assert body["principle_version_title"] == "Keep the pace"
    assert body["positive"] == pair.positive_id
    assert body["job"] == job.pk
    assert body["endpoint"] == "negator"
    assert body["flags"] == ["char_similarity", "edit_ratio"]
    assert body["flagged"] is True
    assert body["judge_verdict"] == "pass"
    assert body["judge_breaks_principle"] is True
    assert body["metrics"]["char_similarity"] == pair.metrics["char_similarity"]
    assert body["mode"] == NegativeMode.EXPLAIN
    assert body["task"] == "content_writing"
    assert body["chosen"] == pair.chosen and body["rejected"] == pair.rejected


def test_api_detail_of_pair_without_principle(client_for, engineer, positives):
    pair = make_preference_pair(positive=positives[0], status=PreferenceStatus.FAILED)
    body = client_for(engineer).get(f"{API}{pair.pk}/").json()
    assert body["principle"] is None
    assert body["principle_version"] is None
    assert body["principle_version_title"] is None


def test_api_principle_stats(client_for, admin_user, stats_set):
    body = client_for(admin_user).get(API_STATS).json()
    assert [row["principle"] for row in body] == [stats_set["a"].pk, stats_set["b"].pk]
    a = body[0]
    assert a["total"] == 4
    assert a["judge_pass_rate"] == pytest.approx(0.5)
    assert a["metrics"]["char_similarity"]["mean"] == pytest.approx(0.7333, abs=1e-4)
    assert a["metrics"]["char_similarity"]["median"] == pytest.approx(0.8)
    assert "values" not in a
    assert [v["id"] for v in a["versions"]] == [stats_set["va2"].pk, stats_set["va1"].pk]
    body = client_for(admin_user).get(API_STATS, {"language": "zh"}).json()
    assert body == []


def test_api_is_read_only(client_for, admin_user, pairs):
    c = client_for(admin_user)
    assert c.post(API, {}, content_type="application/json").status_code == 405
    url = f"{API}{pairs['plain'].pk}/"
    assert c.delete(url).status_code == 405


def test_author_sees_pairs_of_own_principles_only(client_for, author, author2, pairs):
    """Review feedback links authors to the rejected pairs of their principles."""
    own = client_for(author).get(detail_url(pairs["plain"]))
    assert own.status_code == 200
    assert client_for(author2).get(detail_url(pairs["plain"])).status_code == 404
    assert client_for(author).get(reverse("preferences:list")).status_code == 403
