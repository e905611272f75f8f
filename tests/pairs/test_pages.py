"""Corpus pages and API: who may see them, what they escape, and what the filters return."""

import hashlib
import json
import re
from itertools import count

import pytest
from django.urls import reverse

from pairs.models import (
    CorpusImport,
    CorpusText,
    ImportFormat,
    ImportIssue,
    ImportStatus,
    NearDuplicateCluster,
    Selection,
    SelectionItem,
    TextSpan,
    Verdict,
)
from principles.models import Domain, Subdomain

pytestmark = pytest.mark.django_db

XSS_TITLE = "<script>alert('title')</script>"
XSS_TEXT = 'Once <img src=x onerror="alert(1)"> upon a time.'
XSS_FIELD = "<img src=y onerror=alert(2)>"
XSS_EXCERPT = "<script>alert('excerpt')</script>"

_serial = count(1)


def make_import(user=None, **kwargs) -> CorpusImport:
    values = {
        "name": "sample",
        "format": ImportFormat.JSONL,
        "path": "/nonexistent/sample.jsonl",
        "original_name": "sample.jsonl",
        "created_by": user,
    }
    values.update(kwargs)
    return CorpusImport.objects.create(**values)


def make_text(corpus_import, text="A quiet evening by the river.", **kwargs) -> CorpusText:
    n = next(_serial)
    values = {
        "corpus_import": corpus_import,
        "source_file": "sample.jsonl",
        "source_line": n,
        "text": text,
        "language": "en",
        "length": len(text),
        "content_hash": hashlib.sha256(f"{n}:{text}".encode()).hexdigest(),
    }
    values.update(kwargs)
    return CorpusText.objects.create(**values)


@pytest.fixture
def corpus(engineer):
    """An import with issues, texts in two languages and domains, a cluster and a selection."""
    fiction = Domain.objects.get(slug="fiction")
    nonfiction = Domain.objects.get(slug="creative_nonfiction")
    imp = make_import(engineer, status=ImportStatus.DONE, rows_total=4, rows_read=4, imported=3)
    other = make_import(engineer, name="other")
    ImportIssue.objects.create(
        corpus_import=imp, file="sample.jsonl", line=7, reason="not JSON", excerpt=XSS_EXCERPT
    )
    a = make_text(
        imp,
        "The river ran dark under the bridge.",
        title="River night",
        domain=fiction,
        verdict=Verdict.KEEP,
        llm_score=8,
        signals={"votes": 12},
    )
    b = make_text(
        imp,
        "江水在桥下流过，夜色很深。",
        title="江夜",
        language="zh",
        domain=fiction,
        verdict=Verdict.DROP,
        llm_score=3,
        verdict_reasons=[{"filter": "too_short", "value": 13}],
    )
    c = make_text(
        imp,
        "On keeping a notebook.",
        title="Notebooks",
        domain=nonfiction,
        verdict=Verdict.KEEP,
        llm_score=6,
        is_active=False,
    )
    d = make_text(other, XSS_TEXT, title=XSS_TITLE, domain=fiction)
    cluster = NearDuplicateCluster.objects.create(keeper=a, size=2)
    CorpusText.objects.filter(pk__in=[a.pk, c.pk]).update(cluster=cluster)
    TextSpan.objects.create(text=a, ordinal=0, start=0, end=9)
    selection = Selection.objects.create(name="best", params={"top_n": 1}, size=1)
    SelectionItem.objects.create(selection=selection, text=c, rank=1, score=0.9)
    return {"import": imp, "other": other, "texts": (a, b, c, d), "selection": selection}


def page_urls(corpus):
    imp, text = corpus["import"], corpus["texts"][0]
    return [
        reverse("pairs:browser"),
        reverse("pairs:stats"),
        reverse("pairs:text-detail", args=[text.pk]),
        reverse("pairs:import-list"),
        reverse("pairs:import-create"),
        reverse("pairs:import-detail", args=[imp.pk]),
        reverse("pairs:import-progress", args=[imp.pk]),
    ]


def api_urls(corpus):
    imp, text, sel = corpus["import"], corpus["texts"][0], corpus["selection"]
    return [
        "/api/corpus/imports/",
        f"/api/corpus/imports/{imp.pk}/",
        f"/api/corpus/imports/{imp.pk}/issues/",
        "/api/corpus/texts/",
        f"/api/corpus/texts/{text.pk}/",
        "/api/corpus/selections/",
        f"/api/corpus/selections/{sel.pk}/",
    ]


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["engineer", "admin_user"])
def test_engineers_and_admins_see_every_page_and_endpoint(request, who, corpus, client_for):
    client = client_for(request.getfixturevalue(who))
    for url in page_urls(corpus) + api_urls(corpus):
        response = client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize("who", ["author", "reviewer", "norole"])
def test_other_roles_are_refused(request, who, corpus, client_for):
    client = client_for(request.getfixturevalue(who))
    imp = corpus["import"]
    for url in page_urls(corpus) + api_urls(corpus):
        assert client.get(url).status_code == 403, url
    posts = [
        reverse("pairs:import-create"),
        reverse("pairs:import-mapping", args=[imp.pk]),
        reverse("pairs:import-cancel", args=[imp.pk]),
        reverse("pairs:import-start", args=[imp.pk]),
        "/api/corpus/imports/",
        f"/api/corpus/imports/{imp.pk}/mapping/",
        f"/api/corpus/imports/{imp.pk}/start/",
        f"/api/corpus/imports/{imp.pk}/cancel/",
    ]
    for url in posts:
        assert client.post(url, {}).status_code == 403, url
    imp.refresh_from_db()
    assert imp.status == ImportStatus.DONE


def test_anonymous_users_go_to_the_login_page(client, corpus):
    for url in page_urls(corpus):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    for url in api_urls(corpus):
        assert client.get(url).status_code in (401, 403), url


def test_the_nav_links_the_corpus_for_engineers_only(client_for, engineer, author):
    assert 'href="/corpus/"' in client_for(engineer).get("/").content.decode()
    assert 'href="/corpus/"' not in client_for(author).get("/").content.decode()


# --- escaping -------------------------------------------------------------------------------


def _assert_escaped(html: str, *payloads: str):
    for payload in payloads:
        assert payload not in html
    assert "<script>alert" not in html
    assert "<img src=" not in html


def test_titles_texts_and_excerpts_come_back_escaped(client_for, engineer, corpus):
    client = client_for(engineer)
    evil = corpus["texts"][3]
    browser = client.get(reverse("pairs:browser")).content.decode()
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in browser
    _assert_escaped(browser, XSS_TITLE)
    detail = client.get(reverse("pairs:text-detail", args=[evil.pk])).content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail
    _assert_escaped(detail, XSS_TITLE, XSS_TEXT)
    report = client.get(reverse("pairs:import-detail", args=[corpus["import"].pk])).content
    _assert_escaped(report.decode(), XSS_EXCERPT)
    assert "&lt;script&gt;alert(&#x27;excerpt&#x27;)&lt;/script&gt;" in report.decode()


def test_preview_field_names_and_values_come_back_escaped(client_for, engineer, tmp_path):
    source = tmp_path / "evil.jsonl"
    rows = [{XSS_FIELD: XSS_TEXT, "title": XSS_TITLE} for _ in range(3)]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    imp = make_import(engineer, path=str(source), original_name=XSS_TITLE)
    html = client_for(engineer).get(reverse("pairs:import-mapping", args=[imp.pk])).content
    html = html.decode()
    assert "&lt;img src=y onerror=alert(2)&gt;" in html
    _assert_escaped(html, XSS_FIELD, XSS_TEXT, XSS_TITLE)


def test_api_returns_text_as_json_not_html(client_for, engineer, corpus):
    evil = corpus["texts"][3]
    data = client_for(engineer).get(f"/api/corpus/texts/{evil.pk}/").json()
    assert data["title"] == XSS_TITLE and data["text"] == XSS_TEXT


# --- filters and search ---------------------------------------------------------------------


def _titles(client, **params) -> set[str]:
    response = client.get("/api/corpus/texts/", params)
    assert response.status_code == 200
    return {row["title"] for row in response.json()["results"]}


def test_filters_and_search_return_the_right_texts(client_for, engineer, corpus):
    client = client_for(engineer)
    everything = {"River night", "江夜", "Notebooks", XSS_TITLE}
    assert _titles(client) == everything
    assert _titles(client, language="zh") == {"江夜"}
    assert _titles(client, domain="creative_nonfiction") == {"Notebooks"}
    assert _titles(client, verdict="keep") == {"River night", "Notebooks"}
    assert _titles(client, verdict="nonsense") == everything
    assert _titles(client, score_min=5) == {"River night", "Notebooks"}
    assert _titles(client, score_min=4, score_max=7) == {"Notebooks"}
    assert _titles(client, selection=corpus["selection"].pk) == {"Notebooks"}
    assert _titles(client, **{"import": corpus["other"].pk}) == {XSS_TITLE}
    assert _titles(client, active="1") == everything - {"Notebooks"}
    assert _titles(client, q="bridge") == {"River night"}  # in the text
    assert _titles(client, q="notebook") == {"Notebooks"}  # title, any case
    assert _titles(client, q="桥下") == {"江夜"}
    assert _titles(client, q="bridge", language="zh") == set()


def test_the_browser_page_applies_the_same_filters(client_for, engineer, corpus):
    client = client_for(engineer)
    html = client.get(reverse("pairs:browser"), {"q": "river", "active": "1"}).content.decode()
    assert "River night" in html and "Notebooks" not in html and "江夜" not in html
    partial = client.get(reverse("pairs:browser"), {"language": "zh"}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert "江夜" in body and "River night" not in body and "<html" not in body


def test_a_subdomain_filter(client_for, engineer, corpus):
    sub = Subdomain.objects.get(domain__slug="fiction", slug="novel")  # seeded by migration
    CorpusText.objects.filter(pk=corpus["texts"][0].pk).update(subdomain=sub)
    assert _titles(client_for(engineer), subdomain=sub.slug) == {"River night"}


# --- pages' content -------------------------------------------------------------------------


def test_text_page_shows_provenance_spans_reasons_and_cluster(client_for, engineer, corpus):
    a, b, c, _d = corpus["texts"]
    client = client_for(engineer)
    html = client.get(reverse("pairs:text-detail", args=[a.pk])).content.decode()
    assert a.content_hash in html and "sample.jsonl" in html
    assert "The river" in html  # span 0..9
    assert reverse("pairs:text-detail", args=[c.pk]) in html  # cluster member
    html = client.get(reverse("pairs:text-detail", args=[b.pk])).content.decode()
    assert "too_short" in html


def test_import_detail_shows_progress_counts_and_the_issue(client_for, engineer, corpus):
    imp = corpus["import"]
    html = client_for(engineer).get(reverse("pairs:import-detail", args=[imp.pk])).content
    html = html.decode()
    for element_id in (
        "import-progress",
        "import-status",
        "count-imported",
        "count-duplicates",
        "count-errors",
        "count-read",
    ):
        assert f'id="{element_id}"' in html
    assert "hx-trigger" not in html  # done: no polling
    assert "not JSON" in html
    CorpusImport.objects.filter(pk=imp.pk).update(status=ImportStatus.RUNNING)
    html = client_for(engineer).get(reverse("pairs:import-detail", args=[imp.pk])).content
    assert 'hx-trigger="every 1s"' in html.decode()


def test_stats_page_draws_accessible_svg(client_for, engineer, corpus):
    html = client_for(engineer).get(reverse("pairs:stats")).content.decode()
    # Histograms of active texts: only fiction has some (the nonfiction text is inactive).
    assert html.count("<svg") == 2
    assert "Length of the texts in Fiction" in html and "LLM scores of the texts in Fiction" in html
    assert "<title" in html and 'role="img"' in html
    assert "cdn" not in html.lower()


def test_api_retrieve_text_has_spans_and_selection_has_items(client_for, engineer, corpus):
    client = client_for(engineer)
    a = corpus["texts"][0]
    data = client.get(f"/api/corpus/texts/{a.pk}/").json()
    assert data["spans"] == [{"ordinal": 0, "start": 0, "end": 9, "content": "The river"}]
    sel = client.get(f"/api/corpus/selections/{corpus['selection'].pk}/").json()
    assert [item["title"] for item in sel["items"]] == ["Notebooks"]
    issues = client.get(f"/api/corpus/imports/{corpus['import'].pk}/issues/").json()
    assert [i["line"] for i in issues["results"]] == [7]


# --- upload and mapping ---------------------------------------------------------------------


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def _jsonl(tmp_path, rows, name="small.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_upload_then_mapping_errors_keep_the_choices(client_for, engineer, tmp_path, data_dir):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(engineer)
    rows = [{"body": f"Text {i}", "heading": f"T{i}", "votes": i} for i in range(3)]
    upload = SimpleUploadedFile("small.jsonl", _jsonl(tmp_path, rows).read_bytes())
    response = client.post(
        reverse("pairs:import-create"), {"file": upload, "format": "jsonl", "name": "small"}
    )
    imp = CorpusImport.objects.get(name="small")
    assert response.status_code == 302
    assert response["Location"] == reverse("pairs:import-mapping", args=[imp.pk])
    html = client.get(response["Location"]).content.decode()
    assert "heading" in html and "votes" in html and "Text 2" in html

    # No text field: refused, and the title choice, the signal and the default stay.
    url = reverse("pairs:import-mapping", args=[imp.pk])
    form = {"map_title": "heading", "signals": ["votes"], "default_licence": "CC0"}
    response = client.post(url, form)
    assert response.status_code == 400
    html = response.content.decode()
    assert '<option value="heading" selected>' in html
    assert re.search(r'<input type="checkbox" name="signals" value="votes"[^>]* checked', html)
    assert 'value="CC0"' in html
    imp.refresh_from_db()
    assert imp.status == ImportStatus.UPLOADED

    # With the text field it is configured and queued (the task runs after commit).
    response = client.post(url, {**form, "map_text": "body"})
    assert response.status_code == 302
    imp.refresh_from_db()
    assert imp.status == ImportStatus.QUEUED
    assert imp.mapping["text"] == "body" and imp.mapping["signals"] == ["votes"]
    assert imp.defaults == {"licence": "CC0"}

    # Cancelling a queued import stops it; resuming queues it again.
    client.post(reverse("pairs:import-cancel", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == ImportStatus.CANCELLED
    assert (
        'id="resume-import"'
        in client.get(reverse("pairs:import-detail", args=[imp.pk])).content.decode()
    )
    client.post(reverse("pairs:import-start", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == ImportStatus.QUEUED


def test_an_upload_over_the_limit_is_refused(client_for, engineer, settings, tmp_path, data_dir):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.WEAVER_CORPUS_UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("big.jsonl", b'{"text": "' + b"x" * 500 + b'"}\n')
    response = client_for(engineer).post(
        reverse("pairs:import-create"), {"file": upload, "format": "jsonl", "name": "big"}
    )
    assert response.status_code == 400
    assert "larger than the upload limit" in response.content.decode()
    assert not CorpusImport.objects.exists()


def test_the_api_uploads_maps_starts_and_cancels(client_for, engineer, tmp_path, data_dir):
    client = client_for(engineer)
    rows = [{"body": f"Text {i}", "votes": i} for i in range(3)]
    with open(_jsonl(tmp_path, rows), "rb") as fh:
        response = client.post(
            "/api/corpus/imports/", {"file": fh, "format": "jsonl", "name": "via api"}
        )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert response.json()["status"] == "uploaded"
    bad = client.post(
        f"/api/corpus/imports/{pk}/mapping/",
        {"mapping": {"text": "nope"}},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "text" in bad.json()
    ok = client.post(
        f"/api/corpus/imports/{pk}/mapping/",
        {"mapping": {"text": "body", "signals": ["votes"]}, "defaults": {"language": "en"}},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    assert client.post(f"/api/corpus/imports/{pk}/start/").json()["status"] == "queued"
    assert client.post(f"/api/corpus/imports/{pk}/cancel/").json()["status"] == "cancelled"


def test_admin_lists_and_shows_every_corpus_model(client_for, admin_user, corpus):
    client = client_for(admin_user)
    a = corpus["texts"][0]
    objects = {
        "corpusimport": corpus["import"].pk,
        "importissue": corpus["import"].issues.get().pk,
        "corpustext": a.pk,
        "textspan": a.spans.get().pk,
        "nearduplicatecluster": CorpusText.objects.get(pk=a.pk).cluster_id,
        "selection": corpus["selection"].pk,
    }
    for model, pk in objects.items():
        base = f"/admin/pairs/{model}/"
        assert client.get(base, {"q": "river"}).status_code == 200, base
        assert client.get(f"{base}{pk}/change/").status_code == 200, base
    html = client.get(f"/admin/pairs/corpustext/{a.pk}/change/").content.decode()
    assert 'name="is_active"' in html and 'name="text"' not in html


def test_histograms_escape_their_titles_and_count_every_value():
    from pairs.charts import bins_for, histogram_svg

    svg = histogram_svg([1, 2, 2, 5], title=XSS_TITLE, bins=5, low=1, high=6, chart_id="t")
    assert XSS_TITLE not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 5 and "<title>2: 2</title>" in svg
    assert sum(b.count for b in bins_for(list(range(1000)), bins=7)) == 1000
    assert "<rect" not in histogram_svg([], title="empty")
