from rest_framework.test import APIClient

from principles.models import Principle

from ..factories import make_approved, make_principle


def api_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


BODY = {
    "domain": "marketing",
    "task": None,
    "language": "en",
    "title": "Lead with the benefit",
    "description": "Open with what the reader gains.",
    "following": {
        "instruction": "Write a headline",
        "text": "Sleep better tonight.",
        "rationale": "Benefit first.",
    },
    "violating": {
        "instruction": "Write a headline",
        "text": "Our mattress has springs.",
        "rationale": "Feature first.",
    },
    "change_note": "first",
}


def test_full_review_cycle_over_the_api(author, admin_user):
    alice, ada = api_for(author), api_for(admin_user)
    created = alice.post("/api/principles/", BODY, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert created.json()["task"] is None and created.json()["status"] == "draft"
    assert alice.post(f"/api/principles/{pk}/submit/").json()["status"] == "in_review"
    assert alice.post(f"/api/principles/{pk}/approve/").status_code == 403
    assert (
        ada.post(f"/api/principles/{pk}/approve/", {"comment": "good"}, format="json").json()[
            "approved_version"
        ]
        == 1
    )

    new = alice.post(
        f"/api/principles/{pk}/versions/",
        {**BODY, "title": "Lead with the benefit!"},
        format="json",
    )
    assert new.status_code == 201 and new.json()["number"] == 2 and new.json()["state"] == "draft"
    detail = alice.get(f"/api/principles/{pk}/").json()
    assert (detail["status"], detail["latest_version"], detail["approved_version"]) == (
        "draft",
        2,
        1,
    )
    assert [v["number"] for v in alice.get(f"/api/principles/{pk}/versions/").json()] == [2, 1]
    assert alice.get(f"/api/principles/{pk}/versions/1/").json()["state"] == "approved"

    alice.post(f"/api/principles/{pk}/submit/")
    sent = ada.post(f"/api/principles/{pk}/send-back/", {"comment": ""}, format="json")
    assert sent.status_code == 400 and "comment" in sent.json()
    ada.post(f"/api/principles/{pk}/send-back/", {"comment": "Shorter"}, format="json")
    assert alice.get(f"/api/principles/{pk}/").json()["version"]["review_comment"] == "Shorter"
    assert alice.post(f"/api/principles/{pk}/retire/").json()["status"] == "retired"
    assert alice.post(f"/api/principles/{pk}/versions/", BODY, format="json").status_code == 403


def test_validation_errors_name_fields(author):
    bad = {**BODY, "domain": "nope", "following": {"instruction": "x", "text": ""}}
    response = api_for(author).post("/api/principles/", bad, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "domain" in errors and set(errors["following"]) == {"text", "rationale"}
    same = {**BODY, "violating": {**BODY["violating"], "text": BODY["following"]["text"]}}
    response = api_for(author).post("/api/principles/", same, format="json")
    assert response.status_code == 400 and "violating_text" in response.json()
    assert Principle.objects.count() == 0


def test_list_filters_and_pagination(author, admin_user):
    make_principle(author, domain="fiction", language="zh", title="小说一")
    make_principle(
        author, domain="fiction", language="en", task="reviewing", title="Fiction review"
    )
    make_principle(author, domain="marketing", language="en", task=None, title="Any task")
    make_approved(author, admin_user, domain="technical_writing", title="Approved tech")
    c = api_for(author)

    def titles(q):
        return sorted(
            p["version"]["title"] for p in c.get(f"/api/principles/?{q}").json()["results"]
        )

    assert titles("domain=fiction") == ["Fiction review", "小说一"]
    assert titles("language=zh") == ["小说一"]
    assert titles("task=reviewing") == ["Any task", "Fiction review"]  # all-task principles apply
    assert titles("task=all") == ["Any task"]
    assert titles("status=approved") == ["Approved tech"]
    assert titles("in_use=1") == ["Approved tech"]
    assert titles("owner=alice") == sorted(
        ["小说一", "Fiction review", "Any task", "Approved tech"]
    )
    assert titles("q=review") == ["Fiction review"]
    page = c.get("/api/principles/?page_size=3").json()
    assert page["count"] == 4 and len(page["results"]) == 3 and page["next"]


def test_schema_documents_the_endpoints(author):
    schema = APIClient()
    schema.force_authenticate(author)
    response = schema.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/principles/",
        "/api/principles/{id}/versions/",
        "/api/principles/import/",
        "/api/auth/token/",
        "/api/health/",
        "/api/domains/",
    ):
        assert path in paths, path
