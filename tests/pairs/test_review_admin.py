"""Django admin for review: the changelists and their filters, bulk accept/reject of preference
pairs, JSONL/CSV exports, drafts kept out of the admin, and who may use it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pairs.models import (
    PairRevision,
    PreferencePair,
    PreferenceStatus,
    Review,
    ReviewItem,
    ReviewState,
)
from pairs.review import services
from pairs.services import preference_pairs_set_status

from ..factories import UserFactory, make_approved, make_review_pairs

DRAFT_TEXT = "Half-typed private thought"


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def reviewed(engineer, admin_user, version):
    """A queue of three pairs: one decided with an edit, one with a reservation holding a
    draft, one untouched; plus a failed pair outside the queue."""
    reviewers = [UserFactory(username=f"rev{k}", roles=["Reviewer"]) for k in range(2)]
    pairs = make_review_pairs(3, principle_version=version)
    (failed,) = make_review_pairs(
        1,
        principle_version=version,
        instruction="Broken one",
        rejected="",
        status=PreferenceStatus.FAILED,
    )
    queue = services.review_queue_create(
        name="Admin queue", created_by=engineer, reviewers=reviewers, reviews_required=1
    )
    first = services.review_next(queue=queue, reviewer=reviewers[0])
    services.review_submit(
        review=first,
        reviewer=reviewers[0],
        decision="edit",
        edited_rejected="An edited negative.",
        comment="Tightened it.",
        active_seconds=12,
    )
    held = services.review_next(queue=queue, reviewer=reviewers[1])
    services.review_draft_save(review=held, reviewer=reviewers[1], draft={"comment": DRAFT_TEXT})
    return {
        "queue": queue,
        "pairs": pairs,
        "failed": failed,
        "submitted": first,
        "held": held,
        "reviewers": reviewers,
    }


def test_every_review_changelist_and_change_page_loads_with_filters(
    reviewed, admin_user, client_for, version
):
    c = client_for(admin_user)
    queue, review = reviewed["queue"], reviewed["submitted"]
    item = ReviewItem.objects.get(pk=review.item_id)
    revision = PairRevision.objects.get()
    pages = {
        "reviewqueue": (queue.pk, [{"is_active__exact": "1"}, {"rule__exact": "unanimous"}]),
        "reviewitem": (
            item.pk,
            [
                {"status__exact": "decided", "is_gold__exact": "0"},
                {"queue__id__exact": queue.pk, "final_decision__exact": "accept"},
                {"q": str(item.pair_id)},
                {"q": "river"},
            ],
        ),
        "review": (
            review.pk,
            [
                {"state__exact": "submitted", "decision__exact": "edit"},
                {"queue__id__exact": queue.pk, "is_gold__exact": "0"},
                {"q": "rev0"},
                {"q": f"#{review.pair_id}"},
            ],
        ),
        "pairrevision": (revision.pk, [{"applied__exact": "1"}, {"q": "rev0"}]),
        "preferencepair": (
            reviewed["pairs"][0].pk,
            [
                {"status__exact": "in_review", "flagged__exact": "0"},
                {"principle": version.principle_id, "language": "en"},
                {"judge_verdict__exact": ""},
                {"q": str(reviewed["pairs"][1].pk)},
                {"q": "scene"},
            ],
        ),
    }
    for model, (pk, filters) in pages.items():
        base = f"/admin/pairs/{model}/"
        assert c.get(base).status_code == 200, base
        for params in filters:
            response = c.get(base, params)
            assert response.status_code == 200, (base, params)
            assert "errornote" not in response.content.decode(), (base, params)
        assert c.get(f"{base}{pk}/change/").status_code == 200, base
    # Search by id finds the pair ("#12" only the id, "12" the id and any text with "12").
    second = reviewed["pairs"][1]
    hit = c.get("/admin/pairs/preferencepair/", {"q": f"#{second.pk}"}).context["cl"]
    assert [p.pk for p in hit.result_list] == [second.pk]
    hit = c.get("/admin/pairs/preferencepair/", {"q": str(second.pk)}).context["cl"]
    assert second.pk in [p.pk for p in hit.result_list]
    found = c.get("/admin/pairs/review/", {"q": f"#{review.pair_id}"}).context["cl"]
    assert [r.pk for r in found.result_list] == [review.pk]
    # Queues, items, reviews and revisions are made by the services, not added here.
    for model in ("reviewqueue", "reviewitem", "review", "pairrevision"):
        assert c.get(f"/admin/pairs/{model}/add/").status_code == 403, model


def test_drafts_never_reach_the_admin(reviewed, admin_user, client_for):
    c = client_for(admin_user)
    held = reviewed["held"]
    assert Review.objects.get(pk=held.pk).draft["comment"] == DRAFT_TEXT
    for url in (
        f"/admin/pairs/review/{held.pk}/change/",
        "/admin/pairs/review/",
        f"/admin/pairs/reviewitem/{held.item_id}/change/",
    ):
        html = c.get(url).content.decode()
        assert DRAFT_TEXT not in html, url
        assert 'name="draft"' not in html and "field-draft" not in html, url
    page = c.get(f"/admin/pairs/review/{held.pk}/change/").content.decode()
    assert "field-reserved_until" in page  # the review itself is shown
    export = c.post(
        "/admin/pairs/review/",
        {"action": "export_jsonl", "_selected_action": [held.pk]},
    )
    body = b"".join(export.streaming_content).decode()
    assert DRAFT_TEXT not in body and "draft" not in json.loads(body.splitlines()[0])


def test_bulk_accept_and_reject(reviewed, admin_user, client_for):
    c = client_for(admin_user)
    a, b, untouched = reviewed["pairs"]
    failed = reviewed["failed"]
    response = c.post(
        "/admin/pairs/preferencepair/",
        {"action": "accept_selected", "_selected_action": [a.pk, b.pk, failed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 pairs accepted." in [str(m) for m in response.context["messages"]]
    for pair in (a, b, failed, untouched):
        pair.refresh_from_db()
    assert a.status == b.status == PreferenceStatus.ACCEPTED
    assert a.reviewed_by == admin_user and b.reviewed_by == admin_user
    assert failed.status == PreferenceStatus.FAILED and untouched.status == "in_review"
    response = c.post(
        "/admin/pairs/preferencepair/",
        {"action": "reject_selected", "_selected_action": [b.pk]},
        follow=True,
    )
    assert "1 pair rejected." in [str(m) for m in response.context["messages"]]
    b.refresh_from_db()
    assert b.status == PreferenceStatus.REJECTED


def test_the_service_is_for_admins_and_two_statuses(reviewed, engineer, admin_user):
    from django.core.exceptions import PermissionDenied, ValidationError

    ids = [p.pk for p in reviewed["pairs"]]
    with pytest.raises(PermissionDenied):
        preference_pairs_set_status(pair_ids=ids, status="accepted", user=engineer)
    with pytest.raises(ValidationError):
        preference_pairs_set_status(pair_ids=ids, status="generated", user=admin_user)
    assert preference_pairs_set_status(pair_ids=ids, status="rejected", user=admin_user) == 3
    assert preference_pairs_set_status(pair_ids=[], status="rejected", user=admin_user) == 0


def test_preference_pair_exports(reviewed, admin_user, client_for, version):
    c = client_for(admin_user)
    a, b, _ = reviewed["pairs"]
    a.refresh_from_db()
    selected = {"_selected_action": [a.pk, b.pk]}

    jsonl = c.post("/admin/pairs/preferencepair/", {"action": "export_jsonl", **selected})
    assert jsonl.status_code == 200
    assert jsonl["Content-Disposition"].startswith('attachment; filename="preference-pairs-')
    assert jsonl["Content-Disposition"].endswith('.jsonl"')
    rows = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert [r["id"] for r in rows] == [a.pk, b.pk]
    first = rows[0]
    assert set(first) == {
        "id",
        "status",
        "instruction",
        "context",
        "chosen",
        "rejected",
        "principle_version_id",
        "principle_version_title",
        "language",
        "task",
        "metrics",
        "judge_verdict",
    }
    assert first["rejected"] == "An edited negative." and first["status"] == "accepted"
    assert first["principle_version_id"] == version.pk
    assert first["principle_version_title"] == version.title
    assert first["task"] == "content_writing" and first["metrics"] == a.metrics

    exported = c.post("/admin/pairs/preferencepair/", {"action": "export_csv", **selected})
    assert exported["Content-Type"].startswith("text/csv")
    text = b"".join(exported.streaming_content).decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in table] == [a.pk, b.pk]
    assert table[0]["instruction"] == a.instruction and table[0]["chosen"] == a.chosen
    assert json.loads(table[0]["metrics"]) == a.metrics
    assert int(table[0]["principle_version_id"]) == version.pk


def test_review_exports(reviewed, admin_user, client_for):
    c = client_for(admin_user)
    review = Review.objects.get(pk=reviewed["submitted"].pk)
    held = reviewed["held"]
    selected = {"_selected_action": [review.pk, held.pk]}
    jsonl = c.post("/admin/pairs/review/", {"action": "export_jsonl", **selected})
    rows = {
        r["id"]: r for r in map(json.loads, b"".join(jsonl.streaming_content).decode().splitlines())
    }
    row = rows[review.pk]
    assert row["reviewer"] == "rev0" and row["pair"] == review.pair_id
    assert row["decision"] == "edit" and row["comment"] == "Tightened it."
    assert row["seconds_spent"] == pytest.approx(review.seconds_spent)
    assert row["submitted_at"] == review.submitted_at.isoformat()
    assert rows[held.pk]["state"] == ReviewState.RESERVED and rows[held.pk]["decision"] == ""
    assert "draft" not in row

    text = b"".join(
        c.post("/admin/pairs/review/", {"action": "export_csv", **selected}).streaming_content
    ).decode()
    table = {int(r["id"]): r for r in csv.DictReader(io.StringIO(text))}
    assert table[review.pk]["reviewer"] == "rev0"
    assert json.loads(table[review.pk]["reasons"]) == []
    assert "draft" not in table[review.pk] and DRAFT_TEXT not in text


def test_staff_without_the_admin_role_are_kept_out(reviewed, client_for):
    """The admin site lets only the Admin role in (``WeaverAdminSite.has_permission``): other
    staff are sent to the admin login page and can change nothing."""
    staffer = UserFactory(username="stan", roles=["Engineer"])
    staffer.is_staff = True
    staffer.save()
    c = client_for(staffer)
    for model in ("reviewqueue", "reviewitem", "review", "pairrevision", "preferencepair"):
        response = c.get(f"/admin/pairs/{model}/")
        assert response.status_code == 302, model
        assert response["Location"].startswith("/admin/login/"), model
    pair = reviewed["pairs"][2]
    response = c.post(
        "/admin/pairs/preferencepair/",
        {"action": "accept_selected", "_selected_action": [pair.pk]},
    )
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    export = c.post(
        "/admin/pairs/review/", {"action": "export_jsonl", "_selected_action": [pair.pk]}
    )
    assert export.status_code == 302 and not getattr(export, "streaming", False)
    pair.refresh_from_db()
    assert pair.status == PreferenceStatus.IN_REVIEW


def test_bulk_status_actions_need_change_permission(reviewed, rf):
    """Inside the admin the actions follow the model permissions: someone who may only view
    pairs is offered the exports, not Accept/Reject."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="vic", roles=["Engineer"])
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_preferencepair"))
    viewer = type(viewer).objects.get(pk=viewer.pk)  # no cached permissions
    request = rf.get("/admin/pairs/preferencepair/")
    request.user = viewer
    model_admin = admin.site._registry[PreferencePair]
    actions = set(model_admin.get_actions(request))
    assert {"export_jsonl", "export_csv"} <= actions
    assert not actions & {"accept_selected", "reject_selected"}
    request.user = reviewed["queue"].created_by  # an engineer: no model permissions at all
    assert not set(model_admin.get_actions(request)) & {"accept_selected", "export_csv"}
    review_admin = admin.site._registry[Review]
    assert "delete_selected" not in review_admin.get_actions(request)
    assert PreferencePair.objects.filter(status="accepted").count() == 1  # the reviewed one
