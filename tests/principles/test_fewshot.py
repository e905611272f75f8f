"""Few-shot cases: services (versions, validation, rights), pages and API."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from principles import services
from principles.models import FewShotCase, FewShotCaseVersion, Subdomain, Task
from principles.selectors import FewShotFilters, fewshot_case_list, fewshot_examples

CONTENT = {
    "source_span": "The rain had stopped, but the street still shone like a wet knife.",
    "context": "",
    "instruction": "Write one sentence describing a street just after rain.",
    "output": "The rain had stopped, but the street still shone like a wet knife.",
    "rationale": "A single concrete image carries the mood.",
}


def subdomain(slug="short_story"):
    return Subdomain.objects.get(slug=slug)  # the seeded slugs differ across domains


def task(slug="content_writing"):
    return Task.objects.get(slug=slug)


def make_case(owner, *, sub="short_story", task_slug="content_writing", language="en", **content):
    return services.fewshot_case_create(
        owner=owner,
        subdomain=subdomain(sub),
        task=task(task_slug),
        language=language,
        content={**CONTENT, **content},
        change_note="first",
    )


def edit(case, user, note="edit", **changes):
    return services.fewshot_case_version_create(
        case=case, author=user, content={**CONTENT, **changes}, change_note=note
    )


def form_data(**overrides):
    return {
        "subdomain": subdomain().pk,
        "task": "content_writing",
        "language": "en",
        **CONTENT,
        "change_note": "",
        **overrides,
    }


def api_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


# --- Services -------------------------------------------------------------------------------


def test_create_makes_version_one_and_edits_make_immutable_versions(author):
    case = make_case(author, context="  ")
    v1 = case.latest_version
    assert (v1.number, v1.author, v1.change_note, v1.context) == (1, author, "first", "")
    assert case.is_active and case.owner == author

    v2 = edit(case, author, note="sharper", instruction="Describe a street after rain.")
    case.refresh_from_db()
    assert case.latest_version_id == v2.pk and v2.number == 2
    assert FewShotCaseVersion.objects.get(pk=v1.pk).instruction == CONTENT["instruction"]
    assert list(case.versions.values_list("number", flat=True).order_by("number")) == [1, 2]


def test_content_is_stripped_and_newlines_normalised(author):
    case = make_case(author, output="  line one\r\nline two \n", context="\r\nctx\r\n")
    assert case.latest_version.output == "line one\nline two"
    assert case.latest_version.context == "ctx"


def test_nothing_changed_is_refused(author):
    case = make_case(author)
    with pytest.raises(ValidationError, match="Nothing changed"):
        edit(case, author, output=CONTENT["output"] + "  ")  # equal once stripped
    assert case.versions.count() == 1


def test_moving_the_case_is_a_change(author):
    case = make_case(author)
    services.fewshot_case_version_create(
        case=case, author=author, content=CONTENT, task=task("outlining"), language="zh"
    )
    case.refresh_from_db()
    assert (case.task.slug, case.language, case.latest_version.number) == ("outlining", "zh", 2)


def test_validation_names_each_bad_field(author):
    with pytest.raises(ValidationError) as info:
        make_case(author, source_span="  ", instruction="", output=None, rationale=3)
    assert set(info.value.message_dict) == {"source_span", "instruction", "output", "rationale"}
    with pytest.raises(ValidationError) as info:
        services.fewshot_case_create(
            owner=author, subdomain=None, task=None, language="fr", content=CONTENT
        )
    assert set(info.value.message_dict) == {"subdomain", "task", "language"}
    assert FewShotCase.objects.count() == 0


def test_create_rights(author, admin_user, reviewer, engineer, norole):
    make_case(author)
    make_case(admin_user)
    for user in (reviewer, engineer, norole):
        with pytest.raises(PermissionDenied):
            make_case(user)
    assert FewShotCase.objects.count() == 2


def test_edit_retire_restore_rights(author, author2, admin_user, reviewer, engineer):
    case = make_case(author)
    for other in (author2, reviewer, engineer):
        with pytest.raises(PermissionDenied):
            edit(case, other, instruction="hijacked")
        with pytest.raises(PermissionDenied):
            services.fewshot_case_retire(case=case, user=other)
    assert case.versions.count() == 1

    v2 = edit(case, admin_user, instruction="An admin's fix.")
    assert v2.author == admin_user
    services.fewshot_case_retire(case=case, user=author)
    assert not case.is_active
    with pytest.raises(ValidationError):
        services.fewshot_case_retire(case=case, user=author)
    with pytest.raises(PermissionDenied):
        services.fewshot_case_restore(case=case, user=author2)
    services.fewshot_case_restore(case=case, user=admin_user)
    assert case.is_active


def test_owner_who_lost_the_author_role_cannot_edit(author):
    case = make_case(author)
    author.groups.clear()
    author._weaver_roles = None
    with pytest.raises(PermissionDenied):
        edit(case, author, instruction="no longer mine")


def test_retired_cases_leave_the_generator(author):
    case = make_case(author)
    args = {
        "subdomain_id": case.subdomain_id,
        "domain_id": None,
        "task_id": case.task_id,
        "language": "en",
    }
    assert fewshot_examples(**args) == [case.latest_version]
    services.fewshot_case_retire(case=case, user=author)
    assert fewshot_examples(**args) == []


def test_list_filters(author, author2, reviewer, norole):
    a = make_case(author, instruction="Write about a lighthouse.")
    b = make_case(author2, sub="ad_copy", task_slug="outlining", language="zh")
    c = make_case(author, sub="essay", task_slug="polishing", context="a worse essay")
    services.fewshot_case_retire(case=c, user=author)

    def ids(user=reviewer, **params):
        return [x.pk for x in fewshot_case_list(user=user, filters=FewShotFilters(**params))]

    assert sorted(ids()) == sorted([a.pk, b.pk, c.pk])
    assert ids(norole) == []
    assert ids(domain="marketing") == [b.pk]
    assert ids(subdomain=str(a.subdomain_id)) == [a.pk]
    assert ids(task="polishing") == [c.pk]
    assert ids(language="zh") == [b.pk]
    assert sorted(ids(state="active")) == sorted([a.pk, b.pk])
    assert ids(state="retired") == [c.pk]
    assert sorted(ids(author, owner="mine")) == sorted([a.pk, c.pk])
    assert ids(owner="bob") == [b.pk]
    assert ids(q="LIGHTHOUSE") == [a.pk]
    assert ids(q="worse essay") == [c.pk]


# --- Pages ----------------------------------------------------------------------------------


def test_list_page_for_every_role_and_403_without_one(
    author, reviewer, engineer, admin_user, norole, client_for
):
    make_case(author, instruction="Visible to every role")
    for user in (author, reviewer, engineer, admin_user):
        page = client_for(user).get("/principles/fewshot/")
        assert page.status_code == 200 and "Visible to every role" in page.content.decode()
    assert client_for(norole).get("/principles/fewshot/").status_code == 403
    assert 'id="new-fewshot"' in client_for(author).get("/principles/fewshot/").content.decode()
    assert (
        'id="new-fewshot"' not in client_for(reviewer).get("/principles/fewshot/").content.decode()
    )


def test_list_page_filters_and_paginates(author, client_for):
    for i in range(12):
        make_case(author, instruction=f"Instruction number {i:02d}")
    make_case(author, sub="ad_copy", instruction="Marketing one")
    c = client_for(author)
    page = c.get("/principles/fewshot/?domain=marketing").content.decode()
    assert "Marketing one" in page and "Instruction number" not in page
    first = c.get("/principles/fewshot/?page_size=10").content.decode()
    assert "Page 1 of 2" in first and "Instruction number 00" in first
    second = c.get("/principles/fewshot/?page_size=10&page=2").content.decode()
    assert "Instruction number 00" not in second and "Marketing one" in second
    partial = c.get("/principles/fewshot/?q=number+03", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "Instruction number 03" in partial
    assert "Instruction number 04" not in partial


def test_create_page(author, reviewer, client_for):
    c = client_for(author)
    form = c.get("/principles/fewshot/new/").content.decode()
    for field_id in (
        "id_subdomain",
        "id_task",
        "id_language",
        "id_source_span",
        "id_context",
        "id_instruction",
        "id_output",
        "id_rationale",
        "id_change_note",
    ):
        assert f'id="{field_id}"' in form
    assert "Fiction / Short story" in form and ">Save</button>" in form
    assert "an outline derived from the span" in form.lower()

    response = c.post("/principles/fewshot/new/", form_data(change_note="v1 note"))
    assert response.status_code == 302
    case = FewShotCase.objects.get()
    assert response["Location"] == f"/principles/fewshot/{case.pk}/"
    assert (case.owner, case.subdomain.slug, case.task.slug) == (
        author,
        "short_story",
        "content_writing",
    )
    assert case.latest_version.change_note == "v1 note"
    assert client_for(reviewer).get("/principles/fewshot/new/").status_code == 403


def test_create_page_keeps_input_and_marks_bad_fields(author, client_for):
    response = client_for(author).post(
        "/principles/fewshot/new/", form_data(output="   ", instruction="Kept instruction")
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Kept instruction" in page and "This field is required." in page
    assert FewShotCase.objects.count() == 0


def test_edit_page_prefills_and_saves_a_new_version(author, author2, admin_user, client_for):
    case = make_case(author, instruction="Original instruction")
    c = client_for(author)
    form = c.get(f"/principles/fewshot/{case.pk}/edit/").content.decode()
    assert "Original instruction" in form and "becomes version 2" in form
    response = c.post(
        f"/principles/fewshot/{case.pk}/edit/",
        form_data(instruction="Better instruction", change_note="clearer"),
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (
        case.latest_version.number == 2 and case.latest_version.instruction == "Better instruction"
    )
    detail = c.get(f"/principles/fewshot/{case.pk}/").content.decode()
    assert "Better instruction" in detail and "clearer" in detail and "v1" in detail
    old = c.get(f"/principles/fewshot/{case.pk}/?version=1").content.decode()
    assert "Original instruction" in old
    assert c.get(f"/principles/fewshot/{case.pk}/?version=9").status_code == 404

    same = c.post(
        f"/principles/fewshot/{case.pk}/edit/", form_data(instruction="Better instruction")
    )
    assert same.status_code == 400 and "Nothing changed" in same.content.decode()
    assert client_for(author2).get(f"/principles/fewshot/{case.pk}/edit/").status_code == 403
    assert (
        client_for(author2)
        .post(f"/principles/fewshot/{case.pk}/edit/", form_data(instruction="x"))
        .status_code
        == 403
    )
    assert client_for(admin_user).get(f"/principles/fewshot/{case.pk}/edit/").status_code == 200
    assert case.versions.count() == 2


def test_retire_and_restore_pages(author, author2, reviewer, client_for):
    case = make_case(author)
    url = f"/principles/fewshot/{case.pk}/retire/"
    assert client_for(author).get(url).status_code == 405
    assert client_for(author2).post(url, {"action": "retire"}).status_code == 403
    assert client_for(reviewer).post(url, {"action": "retire"}).status_code == 403
    case.refresh_from_db()
    assert case.is_active

    c = client_for(author)
    detail = c.get(f"/principles/fewshot/{case.pk}/").content.decode()
    assert 'id="retire-fewshot"' in detail and 'id="restore-fewshot"' not in detail
    assert c.post(url, {"action": "retire"}).status_code == 302
    case.refresh_from_db()
    assert not case.is_active
    detail = c.get(f"/principles/fewshot/{case.pk}/").content.decode()
    assert 'id="restore-fewshot"' in detail and 'id="retire-fewshot"' not in detail
    c.post(url, {"action": "restore"})
    case.refresh_from_db()
    assert case.is_active


def test_detail_for_readers_and_not_for_norole(author, reviewer, engineer, norole, client_for):
    case = make_case(author)
    for user in (reviewer, engineer):
        page = client_for(user).get(f"/principles/fewshot/{case.pk}/")
        assert page.status_code == 200 and 'id="edit-fewshot"' not in page.content.decode()
    assert client_for(norole).get(f"/principles/fewshot/{case.pk}/").status_code == 403
    assert client_for(reviewer).get("/principles/fewshot/99999/").status_code == 404


def test_user_text_is_escaped(author, client_for):
    evil = "<script>alert(1)</script>"
    fields = {"source_span": evil, "instruction": evil, "output": evil, "rationale": evil}
    case = make_case(author, **fields)
    edit(case, author, note=evil, context=evil, **fields)
    c = client_for(author)
    for url in (
        "/principles/fewshot/",
        f"/principles/fewshot/{case.pk}/",
        f"/principles/fewshot/{case.pk}/edit/",
    ):
        page = c.get(url).content.decode()
        assert evil not in page, url
        assert "&lt;script&gt;" in page, url


def test_admin_pages(author, admin_user, client_for):
    case = make_case(author)
    c = client_for(admin_user)
    assert c.get("/admin/principles/fewshotcase/").status_code == 200
    assert c.get(f"/admin/principles/fewshotcase/{case.pk}/change/").status_code == 200
    url = f"/admin/principles/fewshotcaseversion/{case.latest_version.pk}/change/"
    assert c.get(url).status_code == 200
    assert c.post(url, {"instruction": "changed in place"}).status_code == 403
    c.post(
        "/admin/principles/fewshotcase/",
        {"action": "retire_selected", "_selected_action": [case.pk]},
    )
    case.refresh_from_db()
    assert not case.is_active


# --- API ------------------------------------------------------------------------------------

API_BODY = {
    "domain": "fiction",
    "subdomain": "short_story",
    "task": "content_writing",
    "language": "en",
    **CONTENT,
    "change_note": "first",
}


def test_api_create_list_update_retire(author, reviewer, engineer, admin_user):
    alice = api_for(author)
    created = alice.post("/api/fewshot-cases/", API_BODY, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    pk = body["id"]
    assert (body["domain"], body["subdomain"], body["task"], body["owner"]) == (
        "fiction",
        "short_story",
        "content_writing",
        "alice",
    )
    assert body["latest_version"]["number"] == 1 and len(body["versions"]) == 1

    for user in (reviewer, engineer, admin_user):
        listed = api_for(user).get("/api/fewshot-cases/").json()
        assert [c["id"] for c in listed["results"]] == [pk]
        assert "versions" not in listed["results"][0]
    assert api_for(reviewer).get("/api/fewshot-cases/?state=retired").json()["count"] == 0

    patched = alice.patch(
        f"/api/fewshot-cases/{pk}/", {"output": "A new output.", "change_note": "p"}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    detail = patched.json()
    assert detail["latest_version"]["number"] == 2
    assert detail["latest_version"]["output"] == "A new output."
    assert detail["latest_version"]["instruction"] == CONTENT["instruction"]
    assert [v["number"] for v in detail["versions"]] == [2, 1]

    same = alice.patch(f"/api/fewshot-cases/{pk}/", {}, format="json")
    assert same.status_code == 400 and "Nothing changed" in str(same.json())

    put = alice.put(
        f"/api/fewshot-cases/{pk}/",
        {**CONTENT, "subdomain": "novel", "task": "outlining", "output": "1. Rain\n2. Street"},
        format="json",
    )
    assert put.status_code == 200, put.json()
    assert (put.json()["subdomain"], put.json()["task"]) == ("novel", "outlining")
    assert put.json()["latest_version"]["number"] == 3

    retired = alice.post(f"/api/fewshot-cases/{pk}/retire/")
    assert retired.status_code == 200 and retired.json()["is_active"] is False
    assert alice.post(f"/api/fewshot-cases/{pk}/retire/").status_code == 400
    restored = api_for(admin_user).post(f"/api/fewshot-cases/{pk}/restore/")
    assert restored.status_code == 200 and restored.json()["is_active"] is True


def test_api_validation_names_fields(author):
    bad = {**API_BODY, "task": "nope", "instruction": "", "output": None}
    response = api_for(author).post("/api/fewshot-cases/", bad, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"task", "instruction", "output"}
    bad = {**API_BODY, "subdomain": "ad_copy"}  # a marketing subdomain, not fiction's
    response = api_for(author).post("/api/fewshot-cases/", bad, format="json")
    assert response.status_code == 400 and set(response.json()) == {"subdomain"}
    # Whitespace passes the serializer and is refused by the service, naming the field.
    response = api_for(author).post(
        "/api/fewshot-cases/", {**API_BODY, "rationale": "   "}, format="json"
    )
    assert response.status_code == 400 and set(response.json()) == {"rationale"}
    assert FewShotCase.objects.count() == 0


def test_api_rights(author, author2, reviewer, engineer, norole):
    pk = api_for(author).post("/api/fewshot-cases/", API_BODY, format="json").json()["id"]
    for user in (reviewer, engineer, norole):
        assert api_for(user).post("/api/fewshot-cases/", API_BODY, format="json").status_code == 403
    assert api_for(norole).get("/api/fewshot-cases/").status_code == 403
    assert api_for(norole).get(f"/api/fewshot-cases/{pk}/").status_code == 403
    for user in (author2, reviewer, engineer):
        c = api_for(user)
        assert c.get(f"/api/fewshot-cases/{pk}/").status_code == 200
        patch = c.patch(f"/api/fewshot-cases/{pk}/", {"output": "hijacked"}, format="json")
        assert patch.status_code == 403
        assert c.post(f"/api/fewshot-cases/{pk}/retire/").status_code == 403
    case = FewShotCase.objects.get(pk=pk)
    assert case.is_active and case.versions.count() == 1
    assert APIClient().get("/api/fewshot-cases/").status_code in (401, 403)


def test_subdomain_labels_follow_the_language(author, client_for):
    from django.conf import settings
    from django.utils import translation

    c = client_for(author)
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    try:
        page = c.get("/principles/fewshot/new/").content.decode()
    finally:
        translation.activate("en")  # the locale middleware leaves the thread in Chinese
    assert "小说 / 短篇小说" in page and "Fiction / Short story" not in page
