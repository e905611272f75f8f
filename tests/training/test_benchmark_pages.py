"""Benchmark pages: who may use them (Engineers and Admins; Admin alone deletes), the list, a
new benchmark, the draft editor (add, edit and remove instructions, with htmx too; JSONL
import, all or nothing with every problem shown; freeze; new version; export), a frozen
version read only, and escaping of instruction text."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import UserFactory
from training.evaluation import benchmarks as svc
from training.models import Benchmark, BenchmarkItem, BenchmarkStatus

from .eval_factories import make_benchmark, make_evaluation_with_responses

pytestmark = pytest.mark.django_db

LIST = reverse("evaluation:benchmark-list")
NEW = reverse("evaluation:benchmark-new")
XSS = "<script>alert(1)</script>"
HX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"evaluation:benchmark-{name}", args=args)


def item_data(**overrides):
    data = {
        "key": "fic-9",
        "instruction": "Write a fable about a crow.",
        "language": "en",
        "domain": "fiction",
        "task": "content_writing",
        "reference": "",
        "metadata": '{"source": "page"}',
    }
    data.update(overrides)
    return data


def upload(rows, name="bench.jsonl"):
    text = "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    )
    return SimpleUploadedFile(name, text.encode(), "application/x-ndjson")


@pytest.fixture
def evaluator(db):
    return UserFactory(username="eve", roles=["Evaluator"])


@pytest.fixture
def draft(engineer):
    b = svc.benchmark_create(name="wb-draft", created_by=engineer)
    svc.benchmark_item_save(
        benchmark=b, key="a-1", instruction="Write about autumn.", language="en", domain="fiction"
    )
    return b


# --- Who may do what ------------------------------------------------------------------------


def test_only_engineers_and_admins_use_the_benchmark_pages(
    client, client_for, engineer, admin_user, author, reviewer, evaluator, draft
):
    item = draft.items.get()
    frozen = make_benchmark(2, name="frozen")
    pages = [
        LIST,
        NEW,
        url("detail", draft.pk),
        url("detail", frozen.pk),
        url("item-edit", draft.pk, item.pk),
        url("export", draft.pk),
        url("contamination", draft.pk),
    ]
    posts = [
        (NEW, {"name": "sneaky"}),
        (url("edit", draft.pk), {"name": "renamed"}),
        (url("item-new", draft.pk), item_data()),
        (url("item-edit", draft.pk, item.pk), item_data(key="a-1")),
        (url("item-delete", draft.pk, item.pk), {}),
        (url("import", draft.pk), {"file": upload([{"instruction": "W", "language": "en"}])}),
        (url("freeze", draft.pk), {}),
        (url("new-version", draft.pk), {}),
        (url("delete", draft.pk), {}),
    ]
    for user in (author, reviewer, evaluator):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 403, (user, page)
        for page, data in posts:
            assert c.post(page, data).status_code == 403, (user, page)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], page
    for page, data in posts:
        response = client.post(page, data)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], page
    draft.refresh_from_db()
    assert (draft.name, draft.status, draft.items.count()) == ("wb-draft", "draft", 1)
    assert Benchmark.objects.count() == 2
    for user in (engineer, admin_user):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 200, (user, page)
    c = client_for(engineer)
    for page in (url("detail", 999), url("export", 999), url("item-edit", draft.pk, 999)):
        assert c.get(page).status_code == 404, page
    other_item = frozen.items.first()
    assert c.get(url("item-edit", draft.pk, other_item.pk)).status_code == 404


def test_deleting_is_for_admins_only_and_refused_while_evaluated(
    client_for, engineer, admin_user, draft
):
    response = client_for(engineer).post(url("delete", draft.pk))
    assert response.status_code == 403
    assert (
        'id="delete-benchmark"'
        not in client_for(engineer).get(url("detail", draft.pk)).content.decode()
    )
    admin = client_for(admin_user)
    assert 'id="delete-benchmark"' in admin.get(url("detail", draft.pk)).content.decode()
    used = make_evaluation_with_responses(n=2).benchmark
    response = admin.post(url("delete", used.pk), follow=True)
    assert Benchmark.objects.filter(pk=used.pk).exists()
    assert "used by 1 evaluation" in response.content.decode()
    response = admin.post(url("delete", draft.pk))
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Benchmark.objects.filter(pk=draft.pk).exists()


# --- The list and a new benchmark -----------------------------------------------------------


def test_the_list_groups_versions_with_counts(client_for, engineer):
    v1 = make_benchmark(4, name="writebench")
    v2 = svc.benchmark_new_version(benchmark=v1)
    svc.benchmark_item_save(benchmark=v2, key="zh-1", instruction="写诗。", language="zh")
    body = client_for(engineer).get(LIST).content.decode()
    assert "2 versions" in body
    assert f'id="benchmark-{v1.pk}"' in body and f'id="benchmark-{v2.pk}"' in body
    assert body.index(f'id="benchmark-{v2.pk}"') < body.index(f'id="benchmark-{v1.pk}"')
    row = body[body.index(f'id="benchmark-{v2.pk}"') :]
    assert '<td class="num bench-items">5</td>' in row
    assert "zh 1 · en 4" in row
    assert "fiction 1" in row and "marketing 1" in row
    assert v1.content_hash[:12] in body


def test_a_new_benchmark_and_a_name_in_use(client_for, engineer):
    c = client_for(engineer)
    response = c.post(NEW, {"name": "Story bench", "description": "Fiction prompts"})
    b = Benchmark.objects.get(name="Story bench")
    assert response.status_code == 302 and response["Location"] == url("detail", b.pk)
    assert (b.version, b.status, b.created_by) == (1, BenchmarkStatus.DRAFT, engineer)
    response = c.post(NEW, {"name": "Story bench"})
    assert response.status_code == 400
    assert "exists already" in html.unescape(response.content.decode())
    response = c.post(NEW, {"name": ""})
    assert response.status_code == 400
    assert Benchmark.objects.count() == 1


# --- The draft editor -----------------------------------------------------------------------


def test_adding_an_instruction_and_the_errors(client_for, engineer, draft):
    c = client_for(engineer)
    response = c.post(url("item-new", draft.pk), item_data())
    item = draft.items.get(key="fic-9")
    assert response.status_code == 302 and response["Location"].endswith(f"#item-{item.pk}")
    assert (item.position, item.domain.slug, item.metadata) == (1, "fiction", {"source": "page"})
    response = c.post(
        url("item-new", draft.pk),
        item_data(key="a-1", instruction="", metadata="[1", language="fr"),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert body.count('class="errors"') >= 3  # instruction, metadata, language
    assert "Not valid JSON" in body
    response = c.post(url("item-new", draft.pk), item_data(key="a-1"))
    assert response.status_code == 400
    assert "already in this benchmark" in html.unescape(response.content.decode())
    assert draft.items.count() == 2


def test_editing_an_instruction_in_place_with_htmx(client_for, engineer, draft):
    c = client_for(engineer)
    item = draft.items.get()
    edit = url("item-edit", draft.pk, item.pk)
    form_row = c.get(edit, **HX)
    body = form_row.content.decode()
    assert form_row.status_code == 200 and body.startswith(f'<tr id="item-{item.pk}"')
    assert "<html" not in body and "Write about autumn." in body
    # Errors come back in the row (200, so htmx swaps them in).
    bad = c.post(edit, item_data(key="a-1", instruction=""), **HX)
    assert bad.status_code == 200 and 'class="errors"' in bad.content.decode()
    saved = c.post(edit, item_data(key="a-1", instruction=f"Rewrite {XSS} in autumn."), **HX)
    body = saved.content.decode()
    assert saved.status_code == 200 and body.startswith(f'<tr id="item-{item.pk}"')
    assert XSS not in body and html.escape(f"Rewrite {XSS} in autumn.") in body
    item.refresh_from_db()
    assert item.instruction == f"Rewrite {XSS} in autumn."
    cancel = c.get(edit + "?cancel=1", **HX)
    assert cancel.content.decode().startswith(f'<tr id="item-{item.pk}"')
    # Without htmx: a page of its own, then back to the benchmark.
    page = c.get(edit)
    assert page.status_code == 200 and "<html" in page.content.decode()
    response = c.post(edit, item_data(key="a-2"))
    assert response.status_code == 302 and response["Location"].endswith(f"#item-{item.pk}")
    assert draft.items.get().key == "a-2"


def test_removing_an_instruction(client_for, engineer, draft):
    c = client_for(engineer)
    first = draft.items.get()
    second = svc.benchmark_item_save(benchmark=draft, key="b", instruction="W", language="en")
    response = c.post(url("item-delete", draft.pk, first.pk), **HX)
    assert response.status_code == 200 and response.content == b""
    response = c.post(url("item-delete", draft.pk, second.pk))
    assert response.status_code == 302
    assert not draft.items.exists()


def test_importing_a_file_and_every_problem_shown(client_for, engineer, draft):
    c = client_for(engineer)
    bad = [
        {"id": "ok", "instruction": "Fine.", "language": "en"},
        {"id": "x", "instruction": "", "language": "de"},
        "{broken",
        {"id": "a-1", "instruction": "Clash.", "language": "en", "domain": "astrology"},
    ]
    response = c.post(url("import", draft.pk), {"file": upload(bad, "mine.jsonl")})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was imported" in body
    problems = body[body.index('id="problems"') :]
    for line, field in ((2, "instruction"), (2, "language"), (4, "domain")):
        assert (
            f'<td class="problem-file">mine.jsonl</td><td class="num problem-line">{line}</td>'
            f'<td class="problem-field"><code>{field}</code></td>'
        ) in problems, (line, field)
    assert '<td class="num problem-line">3</td><td class="problem-field">—</td>' in problems
    assert draft.items.count() == 1
    # An id already in the draft is a problem too, unless replacing.
    clash = [{"id": "a-1", "instruction": "New autumn.", "language": "en"}]
    response = c.post(url("import", draft.pk), {"file": upload(clash)})
    assert response.status_code == 400 and "already in the benchmark" in html.unescape(
        response.content.decode()
    )
    response = c.post(url("import", draft.pk), {"file": upload(clash), "replace": "on"})
    assert response.status_code == 302
    assert list(draft.items.values_list("key", "instruction")) == [("a-1", "New autumn.")]
    good = [{"instruction": f"Write {i}.", "language": "zh"} for i in range(3)]
    response = c.post(url("import", draft.pk), {"file": upload(good)}, follow=True)
    assert "3 instructions imported" in response.content.decode()
    assert draft.items.count() == 4
    response = c.post(url("import", draft.pk), {})
    assert response.status_code == 400 and draft.items.count() == 4


def test_freeze_then_read_only_with_hash_and_who(client_for, engineer, draft):
    c = client_for(engineer)
    body = c.get(url("detail", draft.pk)).content.decode()
    for element in ('id="freeze"', 'id="item-form"', 'id="import-form"', "item-edit"):
        assert element in body, element
    empty = svc.benchmark_create(name="empty")
    response = c.post(url("freeze", empty.pk), follow=True)
    assert "at least one instruction" in response.content.decode()
    response = c.post(url("freeze", draft.pk))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.frozen and draft.frozen_by == engineer
    body = c.get(url("detail", draft.pk)).content.decode()
    assert f'<code class="hash" id="benchmark-hash">{draft.content_hash}</code>' in body
    assert "· ed</dd>" in body[body.index('id="benchmark-frozen"') :]
    for element in ('id="freeze"', 'id="item-form"', 'id="import-form"', "item-edit"):
        assert element not in body, element
    assert 'id="read-only"' in body
    # Posting anyway changes nothing.
    item = draft.items.get()
    response = c.post(url("item-new", draft.pk), item_data())
    assert response.status_code == 400 and "frozen" in response.content.decode()
    c.post(url("item-edit", draft.pk, item.pk), item_data(key="a-1", instruction="Changed."))
    c.post(url("item-delete", draft.pk, item.pk))
    c.post(url("import", draft.pk), {"file": upload([{"instruction": "W", "language": "en"}])})
    assert list(draft.items.values_list("key", "instruction")) == [("a-1", "Write about autumn.")]
    assert c.get(url("item-edit", draft.pk, item.pk)).status_code == 302


def test_new_version_and_export(client_for, engineer):
    c = client_for(engineer)
    v1 = make_benchmark(3, name="wb")
    response = c.post(url("new-version", v1.pk))
    v2 = Benchmark.objects.get(name="wb", version=2)
    assert response.status_code == 302 and response["Location"] == url("detail", v2.pk)
    assert (v2.status, v2.parent_id, v2.items.count()) == ("draft", v1.pk, 3)
    body = c.get(url("detail", v2.pk)).content.decode()
    assert f'href="{url("detail", v1.pk)}">wb v1</a>' in body
    response = c.get(url("export", v1.pk))
    assert response["Content-Disposition"] == 'attachment; filename="wb-v1.jsonl"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == ["q001", "q002", "q003"]
    assert rows[0]["domain"] == "fiction"
    # The export imports back into a draft unchanged.
    fresh = svc.benchmark_create(name="fresh")
    response = c.post(url("import", fresh.pk), {"file": upload(lines, "wb-v1.jsonl")})
    assert response.status_code == 302
    assert list(fresh.items.values_list("key", "instruction", "domain", "task")) == list(
        v1.items.values_list("key", "instruction", "domain", "task")
    )


def test_renaming_a_draft(client_for, engineer, draft):
    c = client_for(engineer)
    response = c.post(url("edit", draft.pk), {"name": "renamed", "description": "About seasons"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.name, draft.description) == ("renamed", "About seasons")
    svc.benchmark_create(name="other")
    response = c.post(url("edit", draft.pk), {"name": "other"})
    assert response.status_code == 400 and "exists already" in html.unescape(
        response.content.decode()
    )


# --- Escaping -------------------------------------------------------------------------------


def test_user_text_is_escaped(client_for, engineer):
    b = svc.benchmark_create(name=f"bench {XSS}", description=f"about {XSS}")
    svc.benchmark_item_save(
        benchmark=b,
        key="k1",
        instruction=f"Write {XSS} now.",
        language="en",
        reference=f"ref {XSS}",
        metadata={"note": XSS},
    )
    c = client_for(engineer)
    for page in (LIST, url("detail", b.pk), url("contamination", b.pk)):
        body = c.get(page).content.decode()
        assert XSS not in body, page
        assert html.escape(f"bench {XSS}") in body, page
    body = c.get(url("detail", b.pk)).content.decode()
    assert html.escape(f"Write {XSS} now.") in body
    assert html.escape(f"ref {XSS}") in body
    assert BenchmarkItem.objects.count() == 1
