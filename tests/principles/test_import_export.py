import json

import pytest

from principles.models import Principle, PrincipleVersion
from principles.transfer import ImportRejected, principles_import

from ..factories import make_principle


def record(n, **overrides):
    rec = {
        "domain": "fiction",
        "task": "outlining",
        "language": "zh" if n % 2 else "en",
        "title": f"原则 {n}",
        "description": "人物要通过动作表现情绪。",
        "following": {
            "instruction": "写一个等待的场景",
            "text": "她把脸贴在冰冷的窗上。",
            "rationale": "用动作表现思念。",
        },
        "violating": {
            "instruction": "写一个等待的场景",
            "text": "她很想念父亲。",
            "rationale": "直接说出情绪。",
        },
    }
    rec.update(overrides)
    return rec


def document(records):
    return json.dumps(
        {"format": "weaver-principles", "version": 1, "principles": records},
        ensure_ascii=False,
        indent=2,
    ).encode()


def counts():
    return Principle.objects.count(), PrincipleVersion.objects.count()


def test_import_creates_drafts_owned_by_the_importer(author):
    created = principles_import(user=author, data=document([record(n) for n in range(1, 4)]))
    assert len(created) == 3
    assert {p.owner_id for p in created} == {author.pk}
    assert {p.status for p in created} == {"draft"}
    assert created[0].latest_version.following_text == "她把脸贴在冰冷的窗上。"


def test_invalid_json_names_the_line_and_writes_nothing(author):
    data = document([record(1), record(2)]).replace(
        b'"title": "\xe5\x8e\x9f\xe5\x88\x99 2",', b'"title": "x" "y",'
    )
    with pytest.raises(ImportRejected) as exc:
        principles_import(user=author, data=data)
    (issue,) = exc.value.issues
    assert "Invalid JSON" in issue.message
    expected_line = (
        data.decode()
        .splitlines()
        .index(next(line for line in data.decode().splitlines() if '"x" "y"' in line))
        + 1
    )
    assert issue.line == expected_line
    assert counts() == (0, 0)


def test_missing_field_in_record_7_and_unknown_domain_are_both_reported(author):
    records = [record(n) for n in range(1, 10)]
    del records[6]["violating"]["text"]
    records[2]["domain"] = "cooking"
    data = document(records)
    with pytest.raises(ImportRejected) as exc:
        principles_import(user=author, data=data)
    issues = {(i.record, i.field): i for i in exc.value.issues}
    assert set(issues) == {(7, "violating.text"), (3, "domain")}
    assert "cooking" in issues[(3, "domain")].message
    # Line numbers point at the record's opening brace in the file.
    lines = data.decode().splitlines()
    assert lines[issues[(7, "violating.text")].line - 1].strip() == "{"
    assert "record 7" in str(issues[(7, "violating.text")])
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"[]", "no principles"),
        (b'{"format": "other", "principles": []}', "Unknown format"),
        (b'"just a string"', "Expected an object"),
        (json.dumps([{"domain": "fiction"}]).encode(), "required"),
        (json.dumps([record(1, language="fr")]).encode(), "Unknown language"),
        (json.dumps([record(1, task="singing")]).encode(), "Unknown task"),
        (json.dumps([record(1, colour="red")]).encode(), "Unknown field"),
        (json.dumps([record(1, following="text")]).encode(), "Expected an object"),
    ],
)
def test_bad_files_are_refused_whole(author, payload, expected):
    with pytest.raises(ImportRejected) as exc:
        principles_import(user=author, data=payload)
    assert any(expected in str(i) for i in exc.value.issues), exc.value.issues
    assert counts() == (0, 0)


def test_reviewers_cannot_import(reviewer):
    with pytest.raises(ImportRejected):
        principles_import(user=reviewer, data=document([record(1)]))
    assert counts() == (0, 0)


def test_export_then_import_round_trips(author, author2, client_for):
    make_principle(author, title="Round trip", language="en", task=None)
    exported = client_for(author).get("/principles/export/").content
    created = principles_import(user=author2, data=exported)
    (copy,) = created
    original = Principle.objects.exclude(pk=copy.pk).get()
    assert copy.latest_version.content() == original.latest_version.content()
    assert (copy.domain_id, copy.task_id, copy.language) == (original.domain_id, None, "en")


def test_import_page_shows_errors_and_writes_nothing(author, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    records = [record(n) for n in range(1, 9)]
    del records[6]["violating"]["text"]
    upload = SimpleUploadedFile("principles.json", document(records), "application/json")
    response = client_for(author).post("/principles/import/", {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "record 7" in page and "violating.text" in page and "principles.json" in page
    assert counts() == (0, 0)


def test_import_api_reports_errors_as_json(author, client_for):
    records = [record(n) for n in range(1, 9)]
    records[6].pop("language")
    c = client_for(author)
    response = c.post("/api/principles/import/", document(records), content_type="application/json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["record"], error["field"]) == (7, "language")
    response = c.post(
        "/api/principles/import/", b'{"principles": [', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["line"] == 1
    assert counts() == (0, 0)
    ok = c.post("/api/principles/import/", document(records[:6]), content_type="application/json")
    assert ok.status_code == 201 and len(ok.json()["created"]) == 6
