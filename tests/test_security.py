"""Escaping of user text on every page, and CSRF on session-authenticated writes."""

import json
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from principles import services
from principles.models import Domain, PrincipleVersion

from .conftest import ROOT
from .factories import api_body, form_data, make_principle

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'
RAW_MARKERS = ("<script>alert", "<img src=x onerror")


def evil(tag: str) -> str:
    return f"{tag} {SCRIPT} {IMG}"


def assert_escaped(html: str, where: str):
    for marker in RAW_MARKERS:
        assert marker not in html, f"unescaped {marker!r} on {where}"
    assert "&lt;script&gt;" in html, f"payload not shown (escaped) on {where}"


@pytest.fixture
def evil_principle(author, admin_user):
    Domain.objects.filter(slug="fiction").update(name_en=evil("domain"))
    content = {f: evil(f) for f in PrincipleVersion.CONTENT_FIELDS}
    content["violating_text"] += " changed"
    p = make_principle(author, **content)
    services.principle_submit(principle=p, user=author)
    services.principle_approve(principle=p, user=admin_user, comment=evil("comment"))
    content["title"] += " v2"
    services.principle_version_create(
        principle=p, author=author, content=content, change_note=evil("note")
    )
    services.principle_submit(principle=p, user=author)
    services.principle_send_back(principle=p, user=admin_user, comment=evil("sendback"))
    return p


def test_every_page_escapes_user_text(evil_principle, author, admin_user, client_for):
    pk = evil_principle.pk
    pages = {
        author: [
            "/principles/",
            "/principles/?q=script",
            f"/principles/{pk}/",
            f"/principles/{pk}/?version=1",
            f"/principles/{pk}/diff/?a=1&b=2",
            f"/principles/{pk}/edit/",
        ],
        admin_user: [
            "/admin/principles/principle/",
            f"/admin/principles/principle/{pk}/change/",
            "/admin/principles/principleversion/",
            f"/admin/principles/principleversion/{evil_principle.latest_version.pk}/change/",
            "/admin/principles/domain/",
        ],
    }
    for user, urls in pages.items():
        c = client_for(user)
        for url in urls:
            response = c.get(url)
            assert response.status_code == 200, url
            assert_escaped(response.content.decode(), url)


def test_live_diff_and_form_errors_escape_input(author, client_for):
    c = client_for(author)
    response = c.post(
        "/principles/diff-preview/",
        {"following_text": f"{SCRIPT} {IMG} old", "violating_text": f"{SCRIPT} {IMG} new"},
    )
    assert_escaped(response.content.decode(), "diff preview")
    # A form that fails validation shows the typed text back, escaped.
    data = {f: evil(f) for f in PrincipleVersion.CONTENT_FIELDS}
    data.update(domain="fiction", task="", language="en", title="")
    response = c.post("/principles/new/", data)
    assert response.status_code == 400
    assert_escaped(response.content.decode(), "invalid new-principle form")


def test_import_errors_escape_file_content(author, client_for):
    payload = json.dumps([{"domain": SCRIPT, "language": IMG}]).encode()
    response = client_for(author).post(
        "/principles/import/", {"file": SimpleUploadedFile(f"{IMG}.json", payload)}
    )
    assert response.status_code == 400
    assert_escaped(response.content.decode(), "import errors")


def test_api_returns_json_not_html(evil_principle, author, client_for):
    response = client_for(author).get(f"/api/principles/{evil_principle.pk}/")
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["version"]["title"].startswith("title <script>")


def test_csrf_is_enforced_for_session_writes(author, password):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(author)
    data = form_data()
    assert c.post("/principles/new/", data).status_code == 403
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(author)
    body = api_body()
    response = api.post("/api/principles/", body, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    # With the token from the page, the same write goes through.
    c.get("/principles/new/")
    token = c.cookies["csrftoken"].value
    assert c.post("/principles/new/", {**data, "csrfmiddlewaretoken": token}).status_code == 302


def test_token_auth_for_scripts_needs_no_csrf(author, password, db):
    api = APIClient(enforce_csrf_checks=True)
    response = api.post("/api/auth/token/", {"username": author.username, "password": password})
    assert response.status_code == 200
    token = response.json()["token"]
    assert (
        api.post("/api/auth/token/", {"username": author.username, "password": "wrong"}).status_code
        == 400
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    body = {
        "domain": "fiction",
        "task": "outlining",
        "language": "zh",
        "title": "标题",
        "description": "描述",
        "following": {"instruction": "写", "text": "甲乙丙", "rationale": "好"},
        "violating": {"instruction": "写", "text": "甲丁丙", "rationale": "差"},
    }
    created = api.post("/api/principles/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["version"]["following"]["text"] == "甲乙丙"


def test_deploy_check_is_clean_in_production_mode(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "WEAVER_PRODUCTION": "1",
        "SECRET_KEY": "k" * 20 + "9f8e7d6c5b4a3F2E1D0C-_+=!@#$%^&*()qwertyuiop",
        "ALLOWED_HOSTS": "weaver.example.org",
        "WEAVER_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr
