"""Each role's access to every page and endpoint: allowed, denied, and absent from lists."""

import json

import pytest

from ..factories import make_approved, make_principle

ROLES = ("author", "author2", "reviewer", "engineer", "admin_user", "norole")


@pytest.fixture
def users(author, author2, reviewer, engineer, admin_user, norole):
    return {
        "author": author,
        "author2": author2,
        "reviewer": reviewer,
        "engineer": engineer,
        "admin_user": admin_user,
        "norole": norole,
    }


@pytest.fixture
def draft(author):
    return make_principle(author, title="Alice's secret draft")


# url template, method, roles allowed (status < 400); "{pk}" is alice's draft.
PAGE_MATRIX = [
    ("/", "get", ROLES),
    ("/principles/", "get", ROLES[:-1]),
    ("/principles/new/", "get", ("author", "author2", "admin_user")),
    ("/principles/import/", "get", ("author", "author2", "admin_user")),
    ("/principles/export/", "get", ROLES[:-1]),
    ("/principles/{pk}/", "get", ("author", "reviewer", "engineer", "admin_user")),
    ("/principles/{pk}/edit/", "get", ("author",)),
    ("/principles/{pk}/submit/", "post", ("author",)),
    ("/health/", "get", ROLES[:-1]),
    ("/admin/", "get", ("admin_user",)),
    ("/admin/principles/principle/", "get", ("admin_user",)),
    ("/admin/auth/user/", "get", ("admin_user",)),
]

API_MATRIX = [
    ("/api/principles/", "get", ROLES[:-1]),
    ("/api/principles/{pk}/", "get", ("author", "reviewer", "engineer", "admin_user")),
    ("/api/principles/{pk}/versions/", "get", ("author", "reviewer", "engineer", "admin_user")),
    ("/api/principles/{pk}/submit/", "post", ("author",)),
    ("/api/principles/export/", "get", ROLES[:-1]),
    ("/api/domains/", "get", ROLES[:-1]),
    ("/api/tasks/", "get", ROLES[:-1]),
    ("/api/subdomains/", "get", ROLES[:-1]),
    ("/api/schema/", "get", ROLES[:-1]),
    ("/api/docs/", "get", ROLES[:-1]),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("url", "method", "allowed"), PAGE_MATRIX)
def test_pages(role, url, method, allowed, users, draft, client_for):
    response = getattr(client_for(users[role]), method)(url.format(pk=draft.pk))
    if role in allowed:
        assert response.status_code < 400, (role, url, response.status_code)
    elif url.startswith("/admin/"):
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    else:
        assert response.status_code in (403, 404), (role, url, response.status_code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("url", "method", "allowed"), API_MATRIX)
def test_api(role, url, method, allowed, users, draft, client_for):
    response = getattr(client_for(users[role]), method)(url.format(pk=draft.pk))
    if role in allowed:
        assert response.status_code < 400, (role, url, response.status_code)
    else:
        assert response.status_code in (403, 404), (role, url, response.status_code)


@pytest.mark.parametrize(
    "url", ["/", "/principles/", "/principles/1/", "/health/", "/principles/new/"]
)
def test_anonymous_pages_redirect_to_login(client, url, db):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/api/principles/", "/api/domains/", "/api/schema/"])
def test_anonymous_api_is_refused(client, url, db):
    assert client.get(url).status_code in (401, 403)


def test_other_authors_drafts_are_absent_from_lists(author, author2, admin_user, client_for, draft):
    approved = make_approved(author, admin_user, title="Alice's approved principle")
    bob = client_for(author2)
    page = bob.get("/principles/").content.decode()
    assert "Alice&#x27;s approved principle" in page and "secret draft" not in page
    assert "secret draft" not in bob.get("/principles/?q=secret").content.decode()
    api = bob.get("/api/principles/").json()
    assert [p["id"] for p in api["results"]] == [approved.pk]
    export = json.loads(bob.get("/principles/export/").content)
    assert [p["id"] for p in export["principles"]] == [approved.pk]
    assert bob.get(f"/principles/{draft.pk}/").status_code == 404


def test_other_authors_see_only_approved_versions(author, author2, admin_user, client_for):
    from principles import services

    from ..factories import principle_content

    p = make_approved(author, admin_user, title="Published title")
    services.principle_version_create(
        principle=p, author=author, content=principle_content(title="Unpublished v2 title")
    )
    bob = client_for(author2)
    page = bob.get(f"/principles/{p.pk}/").content.decode()
    assert "Published title" in page and "Unpublished v2" not in page
    versions = bob.get(f"/api/principles/{p.pk}/versions/").json()
    assert [v["number"] for v in versions] == [1]
    assert bob.get(f"/api/principles/{p.pk}/versions/2/").status_code == 404
    assert bob.get(f"/principles/{p.pk}/?version=2").status_code == 404
    # The owner and a reviewer see the draft.
    assert "Unpublished v2" in client_for(author).get(f"/principles/{p.pk}/").content.decode()


def test_taxonomy_writes_are_for_admins(author, admin_user, client_for):
    payload = {"slug": "poetry_x", "name_en": "Poetry", "name_zh": "诗", "position": 9}
    assert client_for(author).post("/api/domains/", payload).status_code == 403
    assert client_for(admin_user).post("/api/domains/", payload).status_code == 201


def test_admin_cannot_change_versions_in_the_admin(author, admin_user, client_for):
    p = make_principle(author)
    c = client_for(admin_user)
    url = f"/admin/principles/principleversion/{p.latest_version.pk}/change/"
    assert c.get(url).status_code == 200  # view only
    response = c.post(url, {"title": "changed in place"})
    assert response.status_code == 403
    p.latest_version.refresh_from_db()
    assert p.latest_version.title == "Show, don't tell"


@pytest.fixture
def in_review(author):
    from principles import services

    p = make_principle(author, title="In review")
    services.principle_submit(principle=p, user=author)
    return p


# Writes on a principle in review: (url, method, data, roles allowed).
REVIEW_MATRIX = [
    ("/principles/{pk}/approve/", "post", {}, ("admin_user",)),
    ("/principles/{pk}/send-back/", "post", {"comment": "redo"}, ("admin_user",)),
    ("/principles/{pk}/retire/", "post", {}, ("author", "admin_user")),
    ("/principles/{pk}/diff/", "get", {}, ("author", "reviewer", "engineer", "admin_user")),
    ("/api/principles/{pk}/approve/", "post", {}, ("admin_user",)),
    ("/api/principles/{pk}/send-back/", "post", {"comment": "redo"}, ("admin_user",)),
    ("/api/principles/{pk}/retire/", "post", {}, ("author", "admin_user")),
    ("/api/principles/{pk}/versions/", "post", {"title": "x"}, ("author",)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("url", "method", "data", "allowed"), REVIEW_MATRIX)
def test_review_actions(role, url, method, data, allowed, users, in_review, client_for):
    from principles.models import Principle

    before = Principle.objects.values("status", "approved_version", "latest_version").get()
    response = getattr(client_for(users[role]), method)(url.format(pk=in_review.pk), data)
    after = Principle.objects.values("status", "approved_version", "latest_version").get()
    if role not in allowed:
        assert response.status_code in (403, 404), (role, url, response.status_code)
        assert before == after
    elif "versions" in url:
        assert response.status_code == 400  # allowed, but the content is incomplete
    else:
        assert response.status_code < 400, (role, url, response.status_code)
        assert method == "get" or before != after


@pytest.mark.parametrize("role", ROLES)
def test_who_creates_and_imports(role, users, client_for):
    from principles.models import Principle

    from ..factories import api_body, form_data

    c = client_for(users[role])
    page = c.post("/principles/new/", form_data())
    body = api_body()
    api = c.post("/api/principles/", body, content_type="application/json")
    imported = c.post(
        "/api/principles/import/",
        json.dumps([body]),
        content_type="application/json",
    )
    if role in ("author", "author2", "admin_user"):
        assert (page.status_code, api.status_code, imported.status_code) == (302, 201, 201)
        assert Principle.objects.filter(owner=users[role]).count() == 3
    else:
        assert page.status_code == 403 and api.status_code == 403
        assert imported.status_code in (400, 403)
        assert Principle.objects.count() == 0


def test_list_filters_update_in_place_with_htmx(author, client_for):
    make_principle(author, title="Only one")
    c = client_for(author)
    partial = c.get("/principles/?q=only", HTTP_HX_REQUEST="true").content.decode()
    assert "Only one" in partial and "<html" not in partial
    assert "<html" in c.get("/principles/?q=only").content.decode()


def test_password_change(author, password, client_for):
    c = client_for(author)
    response = c.post(
        "/accounts/password/",
        {
            "old_password": password,
            "new_password1": "n3w-passphrase-xyz",
            "new_password2": "n3w-passphrase-xyz",
        },
    )
    assert response.status_code == 302
    author.refresh_from_db()
    assert author.check_password("n3w-passphrase-xyz")
