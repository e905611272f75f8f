"""Importing ready-made instruction pairs (JSONL): the service, the pages, the API, the
management command and the admin."""

from __future__ import annotations

import json
from hashlib import sha256

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.query import QuerySet
from django.test import Client
from django.urls import reverse

from pairs.generation import pair_import as service
from pairs.generation.pair_import import instruction_pairs_import
from pairs.models import InstructionPair, PairImport, PairImportIssue
from principles.models import Domain, Subdomain, Task


def line(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


def pair(n: int = 1, **overrides) -> dict:
    data = {
        "instruction": f"Write poem number {n} about snow.",
        "response": f"Snow falls, poem {n}.",
        "task": "content_writing",
        "language": "en",
    }
    data.update(overrides)
    return data


def write(tmp_path, lines: list[str | dict], name: str = "pairs.jsonl"):
    path = tmp_path / name
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def run(path, **kwargs) -> PairImport:
    return instruction_pairs_import(path=path, original_name=path.name, **kwargs)


def issues_by_line(pair_import) -> dict[int, list[PairImportIssue]]:
    out: dict[int, list[PairImportIssue]] = {}
    for issue in pair_import.issues.all():
        out.setdefault(issue.line, []).append(issue)
    return out


@pytest.fixture
def api_url():
    return reverse("instruction-pair-import-list")


# --- The service ----------------------------------------------------------------------------
def test_a_good_file_imports_every_field(db, tmp_path, engineer):
    path = write(
        tmp_path,
        [
            pair(
                1,
                instruction="  Write a poem\r\nabout snow.  ",
                context="The first snow\r\nof the year.",
                response="Soft and slow.\r\n",
                language="ZH",
                domain="fiction",
                subdomain="poetry",
                metadata={"source": "workshop", "rating": 5},
                author="Li Bai",
            ),
            "",
            pair(2, task="polishing"),
        ],
    )
    imp = run(path, name="Snow", created_by=engineer)
    assert (imp.name, imp.original_name, imp.created_by) == ("Snow", "pairs.jsonl", engineer)
    assert (imp.rows_read, imp.imported, imp.duplicates, imp.errors) == (2, 2, 0, 0)
    assert not imp.issues.exists()
    first, second = InstructionPair.objects.filter(pair_import=imp).order_by("source_line")
    assert first.instruction == "Write a poem\nabout snow."
    assert first.context == "The first snow\nof the year."
    assert first.response == "Soft and slow."
    assert first.task == Task.objects.get(slug="content_writing")
    assert first.domain == Domain.objects.get(slug="fiction")
    assert first.subdomain == Subdomain.objects.get(domain__slug="fiction", slug="poetry")
    assert first.language == "zh"
    assert first.metadata == {"source": "workshop", "rating": 5, "author": "Li Bai"}
    assert (first.origin, first.status, first.source_line) == ("import", "generated", 1)
    key = "Write a poem\nabout snow.\x00The first snow\nof the year.\x00Soft and slow."
    assert first.content_hash == sha256(key.encode()).hexdigest()
    assert second.source_line == 3  # the blank line 2 is skipped but counted
    assert second.task.slug == "polishing"
    assert (second.domain, second.subdomain, second.context, second.metadata) == (
        None,
        None,
        "",
        {},
    )


def test_keep_marks_the_pairs_kept(db, tmp_path):
    imp = run(write(tmp_path, [pair(1)]), keep=True)
    assert InstructionPair.objects.get(pair_import=imp).status == "kept"


def test_bad_rows_are_reported_and_the_others_import(db, tmp_path):
    path = write(
        tmp_path,
        [
            pair(1),
            '{"instruction": "broken',
            {k: v for k, v in pair(3).items() if k != "instruction"},
            pair(4, task="poem"),
            pair(5, domain="marketing", subdomain="poetry"),
            pair(6, context=["not", "text"]),
            pair(7),
            "[1, 2]",
            pair(9, instruction="   ", language="fr", subdomain="poetry", metadata="x"),
            pair(10, domain="fiction", subdomain="nope"),
            pair(11, response="a\x00b"),
        ],
    )
    imp = run(path)
    assert (imp.rows_read, imp.imported, imp.duplicates, imp.errors) == (11, 2, 0, 9)
    assert sorted(InstructionPair.objects.values_list("source_line", flat=True)) == [1, 7]
    by_line = issues_by_line(imp)
    assert sorted(by_line) == [2, 3, 4, 5, 6, 8, 9, 10, 11]

    (bad_json,) = by_line[2]
    assert bad_json.field == ""
    assert bad_json.reason.startswith("invalid JSON")
    assert bad_json.excerpt == '{"instruction": "broken'

    (missing,) = by_line[3]
    assert (missing.field, missing.reason) == ("instruction", 'field "instruction": missing')
    assert '"response": "Snow falls, poem 3."' in missing.excerpt

    (task,) = by_line[4]
    assert task.field == "task"
    assert task.reason.startswith('field "task": unknown task "poem"; known: content_writing, ')
    assert "reviewing" in task.reason

    (sub,) = by_line[5]
    assert sub.field == "subdomain"
    assert 'subdomain "poetry" belongs to fiction, not to domain "marketing"' in sub.reason
    assert "ad_copy" in sub.reason

    (context,) = by_line[6]
    assert (context.field, context.reason) == (
        "context",
        'field "context": not a string (got a list)',
    )
    assert by_line[8][0].reason == "not a JSON object"
    assert sorted(i.field for i in by_line[9]) == [
        "instruction",
        "language",
        "metadata",
        "subdomain",
    ]
    assert {i.field: i.reason for i in by_line[9]}["subdomain"] == (
        'field "subdomain": subdomain "poetry" needs a domain'
    )
    assert by_line[10][0].reason.startswith('field "subdomain": unknown subdomain "nope"')
    assert by_line[11][0].reason == 'field "response": contains a NUL character'


def test_text_over_the_limit_and_invalid_utf8(db, tmp_path, settings):
    settings.WEAVER_CORPUS_TEXT_MAX_CHARS = 50
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        (line(**pair(1, response="x" * 51)) + "\n").encode()
        + b'{"instruction": "\xff"}\n'
        + (line(**pair(3, response="y" * 50)) + "\n").encode()
    )
    imp = run(path)
    assert (imp.imported, imp.errors) == (1, 2)
    by_line = issues_by_line(imp)
    assert by_line[1][0].reason == (
        'field "response": over the size limit (51 characters; the limit is 50)'
    )
    assert by_line[2][0].reason.startswith("invalid UTF-8")


def test_importing_the_same_file_again_adds_nothing(db, tmp_path):
    path = write(tmp_path, [pair(1), pair(2), pair(3)])
    first = run(path)
    assert (first.imported, first.duplicates) == (3, 0)
    again = run(path)
    assert (again.rows_read, again.imported, again.duplicates, again.errors) == (3, 0, 3, 0)
    assert InstructionPair.objects.count() == 3
    assert not InstructionPair.objects.filter(pair_import=again).exists()


def test_duplicates_within_a_file_are_skipped(db, tmp_path):
    # The same pair after normalisation (spaces, line ends) is the same pair.
    path = write(
        tmp_path,
        [pair(1), pair(2), pair(1, instruction="  Write poem number 1 about snow.\r\n"), pair(1)],
    )
    imp = run(path)
    assert (imp.rows_read, imp.imported, imp.duplicates) == (4, 2, 2)
    assert sorted(InstructionPair.objects.values_list("source_line", flat=True)) == [1, 2]
    # A different context makes a different pair.
    imp = run(write(tmp_path, [pair(1, context="Other")], name="ctx.jsonl"))
    assert (imp.imported, imp.duplicates) == (1, 0)


def test_a_failure_part_way_leaves_nothing(db, tmp_path, monkeypatch):
    monkeypatch.setattr(service, "BATCH_SIZE", 2)
    original = QuerySet.bulk_create
    calls = []

    def failing(self, objs, *args, **kwargs):
        if self.model is InstructionPair:
            calls.append(len(objs))
            if len(calls) == 2:
                raise RuntimeError("disk full")
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", failing)
    path = write(tmp_path, [pair(n) for n in range(1, 6)] + ['{"bad'])
    with pytest.raises(RuntimeError, match="disk full"):
        run(path)
    assert calls == [2, 2]  # the first batch was inserted before the failure
    assert not InstructionPair.objects.exists()
    assert not PairImport.objects.exists()
    assert not PairImportIssue.objects.exists()


def test_an_unreadable_file_is_refused(db, tmp_path):
    with pytest.raises(ValidationError) as exc:
        instruction_pairs_import(path=tmp_path / "missing.jsonl", original_name="missing.jsonl")
    assert "could not be read" in str(exc.value)
    assert not PairImport.objects.exists()


def test_upload_over_the_limit_is_refused_by_the_service(db, settings):
    settings.WEAVER_IMPORT_MAX_BYTES = 100
    big = SimpleUploadedFile("big.jsonl", (line(**pair(1)) + "\n").encode() * 5)
    with pytest.raises(ValidationError) as exc:
        service.instruction_pairs_import_upload(uploaded_file=big)
    assert "larger than the limit of 100 bytes" in str(exc.value)
    assert not PairImport.objects.exists()


# --- Management command ---------------------------------------------------------------------
def test_management_command(db, tmp_path, capsys):
    path = write(tmp_path, [pair(1), pair(2, task="poem")])
    call_command("import_pairs", str(path), "--name", "cli", "--keep")
    out = capsys.readouterr().out
    assert "1 imported" in out and "0 duplicates" in out and "1 refused" in out
    assert 'pairs.jsonl:2 task: field "task": unknown task "poem"' in out
    imp = PairImport.objects.get()
    assert imp.name == "cli"
    assert InstructionPair.objects.get().status == "kept"
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_pairs", str(tmp_path / "nope.jsonl"))


# --- Pages ----------------------------------------------------------------------------------
def upload(client, content: bytes, **data):
    data = {"name": "", "file": SimpleUploadedFile("up.jsonl", content), **data}
    return client.post(reverse("instructions:import"), data)


def test_engineer_uploads_and_sees_the_issues(db, engineer, client_for):
    c = client_for(engineer)
    page = c.get(reverse("instructions:import"))
    assert page.status_code == 200
    assert b"content_writing" in page.content  # the example line
    content = "\n".join([line(**pair(1)), line(**pair(2, task="poem")), "{oops"]).encode()
    response = upload(c, content, name="Web", keep="on")
    imp = PairImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("instructions:import-detail", args=[imp.pk])
    assert (imp.name, imp.original_name, imp.created_by, imp.imported, imp.errors) == (
        "Web",
        "up.jsonl",
        engineer,
        1,
        2,
    )
    assert InstructionPair.objects.get().status == "kept"
    detail = c.get(response["Location"])
    html = detail.content.decode()
    assert detail.status_code == 200
    assert 'unknown task "poem"' in html.replace("&quot;", '"')
    assert "invalid JSON" in html
    listing = c.get(reverse("instructions:import")).content.decode()
    assert "Web" in listing and reverse("instructions:import-detail", args=[imp.pk]) in listing


def test_issue_pages_are_paginated(db, engineer, client_for):
    c = client_for(engineer)
    content = "\n".join(f'{{"n": {i}}}' if i % 2 else "[]" for i in range(60)).encode()
    upload(c, content)
    imp = PairImport.objects.get()
    assert imp.errors == 60
    first = c.get(reverse("instructions:import-detail", args=[imp.pk]))
    second = c.get(reverse("instructions:import-detail", args=[imp.pk]) + "?page=2")
    assert first.content.decode().count('class="issue-line"') == 50
    assert 'rel="next"' in first.content.decode()
    assert second.content.decode().count('class="issue-line"') > 0


def test_script_in_an_excerpt_is_escaped(db, engineer, client_for):
    c = client_for(engineer)
    upload(c, b'{"instruction": "<script>alert(1)</script>", "task": "poem"}\n<script>x</script>\n')
    imp = PairImport.objects.get()
    html = c.get(reverse("instructions:import-detail", args=[imp.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


@pytest.mark.parametrize("who", ["reviewer", "author", "norole"])
def test_other_roles_may_not_import(db, request, client_for, who, engineer):
    imp = run_upload_as(engineer)
    c = client_for(request.getfixturevalue(who))
    assert c.get(reverse("instructions:import")).status_code == 403
    assert upload(c, (line(**pair(5)) + "\n").encode()).status_code == 403
    assert c.get(reverse("instructions:import-detail", args=[imp.pk])).status_code == 403
    assert PairImport.objects.count() == 1


def run_upload_as(user) -> PairImport:
    return service.instruction_pairs_import_upload(
        uploaded_file=SimpleUploadedFile("a.jsonl", (line(**pair(1)) + "\n").encode()),
        created_by=user,
    )


def test_admin_role_may_import(db, admin_user, client_for):
    response = upload(client_for(admin_user), (line(**pair(1)) + "\n").encode())
    assert response.status_code == 302
    assert PairImport.objects.get().imported == 1


def test_anonymous_goes_to_login(db, client):
    response = client.get(reverse("instructions:import"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_unknown_import_is_404(db, engineer, client_for):
    assert (
        client_for(engineer).get(reverse("instructions:import-detail", args=[999])).status_code
        == 404
    )


@pytest.mark.parametrize("size", [5_000, 200_000])
def test_page_refuses_an_upload_over_the_limit(db, engineer, client_for, settings, size):
    """A file over the limit (the service's exact check, and, for a large body, the upload
    handler stopping it) gives a form error and stores nothing."""
    settings.WEAVER_IMPORT_MAX_BYTES = 1_000
    c = client_for(engineer)
    content = (line(**pair(1)) + "\n").encode() * (size // 100)
    response = upload(c, content)
    assert response.status_code == 400
    assert "larger than the limit of 1000 bytes" in response.content.decode()
    assert not PairImport.objects.exists()
    assert not InstructionPair.objects.exists()


def test_over_the_limit_answer_needs_no_csrf_token_and_imports_need_one(db, engineer, settings):
    settings.WEAVER_IMPORT_MAX_BYTES = 1_000
    c = Client(enforce_csrf_checks=True)
    c.force_login(engineer)
    big = upload(c, (line(**pair(1)) + "\n").encode() * 2_000)
    assert big.status_code == 400
    assert "larger than the limit" in big.content.decode()
    small = upload(c, (line(**pair(1)) + "\n").encode())
    assert small.status_code == 403  # no CSRF token
    assert not PairImport.objects.exists()


def test_missing_file_is_a_form_error(db, engineer, client_for):
    response = client_for(engineer).post(reverse("instructions:import"), {"name": "x"})
    assert response.status_code == 400
    assert 'class="errors"' in response.content.decode()
    assert not PairImport.objects.exists()


# --- API ------------------------------------------------------------------------------------
def test_api_create_list_and_retrieve(db, engineer, client_for, api_url):
    c = client_for(engineer)
    content = "\n".join([line(**pair(1)), line(**pair(2, language="de"))]).encode()
    response = c.post(
        api_url,
        {"file": SimpleUploadedFile("api.jsonl", content), "name": "API", "keep": "true"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["rows_read"], body["imported"], body["errors"]) == ("API", 2, 1, 1)
    assert body["created_by"] == "ed"
    assert body["issues"] == [
        {
            "id": body["issues"][0]["id"],
            "line": 2,
            "field": "language",
            "reason": 'field "language": unknown language "de"; use one of: zh, en',
            "excerpt": body["issues"][0]["excerpt"],
        }
    ]
    assert InstructionPair.objects.get().status == "kept"
    listing = c.get(api_url).json()
    assert [r["id"] for r in listing["results"]] == [body["id"]]
    assert "issues" not in listing["results"][0]
    detail = c.get(f"{api_url}{body['id']}/").json()
    assert detail["issues"][0]["line"] == 2


def test_api_refuses_a_missing_or_oversized_file(db, engineer, client_for, settings, api_url):
    c = client_for(engineer)
    missing = c.post(api_url, {"name": "x"})
    assert missing.status_code == 400
    assert "file" in missing.json()
    settings.WEAVER_IMPORT_MAX_BYTES = 1_000
    for copies in (20, 2_000):  # the service's check, then the upload handler's
        big = SimpleUploadedFile("big.jsonl", (line(**pair(1)) + "\n").encode() * copies)
        response = c.post(api_url, {"file": big})
        assert response.status_code == 400
        assert "larger than the limit" in response.json()["file"][0]
    assert not PairImport.objects.exists()


@pytest.mark.parametrize("who", ["reviewer", "author", "norole"])
def test_api_other_roles_get_403(db, request, client_for, who, api_url):
    c = client_for(request.getfixturevalue(who))
    content = (line(**pair(1)) + "\n").encode()
    assert c.post(api_url, {"file": SimpleUploadedFile("a.jsonl", content)}).status_code == 403
    assert c.get(api_url).status_code == 403
    assert not PairImport.objects.exists()


def test_api_admin_role_may_import(db, admin_user, client_for, api_url):
    content = (line(**pair(1)) + "\n").encode()
    response = client_for(admin_user).post(
        api_url, {"file": SimpleUploadedFile("a.jsonl", content)}
    )
    assert response.status_code == 201


# --- Django admin ---------------------------------------------------------------------------
def test_django_admin_pages(db, admin_user, client_for, tmp_path):
    imp = run(write(tmp_path, [pair(1), "{oops"]))
    c = client_for(admin_user)
    pair_obj = InstructionPair.objects.get()
    for url in (
        reverse("admin:pairs_instructionpair_changelist"),
        reverse("admin:pairs_instructionpair_change", args=[pair_obj.pk]),
        reverse("admin:pairs_pairimport_changelist"),
        reverse("admin:pairs_pairimportissue_changelist"),
    ):
        assert c.get(url).status_code == 200, url
    page = c.get(reverse("admin:pairs_pairimport_change", args=[imp.pk]))
    assert page.status_code == 200
    assert "invalid JSON" in page.content.decode()
