"""Review API: queues, the next pair, drafts, decisions, gold pairs, adjudication, agreement,
feedback, token auth, and the number of queries "next" and "submit" make."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pairs.models import (
    Decision,
    ItemStatus,
    PreferencePair,
    PreferenceStatus,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from pairs.review import services

from ..factories import PASSWORD, UserFactory, make_approved, make_review_pairs

#: Queries one "next" or "submit" may make (test transactions add savepoints; see the report
#: of ``test_next_and_submit_query_counts_do_not_grow_with_the_queue``).
MAX_QUERIES = 16


def api_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def reviewers(db):
    return [UserFactory(username=f"rev{k}", roles=["Reviewer"]) for k in range(3)]


def make_queue(engineer, reviewers, **kwargs):
    kwargs.setdefault("reviews_required", 2)
    return services.review_queue_create(
        name="Q", created_by=engineer, reviewers=reviewers, **kwargs
    )


def next_pair(client, queue):
    return client.post(f"/api/review-queues/{queue.pk}/next/")


def submit(client, review_id, decision, **body):
    if decision == Decision.REJECT:
        body.setdefault("reasons", ["not_broken"])
    return client.post(
        f"/api/reviews/{review_id}/submit/", {"decision": decision, **body}, format="json"
    )


def all_keys(value) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# --- Queues ---------------------------------------------------------------------------------


QUEUE_BODY = {
    "name": "Fiction, English",
    "description": "First pass.",
    "filters": {"languages": ["en"], "metric_ranges": {"edit_ratio": [None, 0.9]}},
    "reviews_required": 2,
    "rule": "majority",
    "reservation_minutes": 15,
    "gold_rate": 0.1,
    "reviewers": ["rev0", "rev1"],
}


def test_engineers_create_queues_and_reviewers_cannot(engineer, reviewers, version):
    make_review_pairs(3, principle_version=version)
    created = api_for(engineer).post("/api/review-queues/", QUEUE_BODY, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["reviewers"] == ["rev0", "rev1"] and body["created_by"] == "ed"
    assert body["rule"] == "majority" and body["gold_rate"] == 0.1
    assert body["filters"]["languages"] == ["en"]
    assert body["filters"]["metric_ranges"] == {"edit_ratio": [None, 0.9]}
    assert body["progress"]["total"] == 3 and body["progress"]["open"] == 3
    queue = ReviewQueue.objects.get(pk=body["id"])
    assert queue.items.count() == 3
    assert set(PreferencePair.objects.values_list("status", flat=True)) == {"in_review"}

    denied = api_for(reviewers[0]).post("/api/review-queues/", QUEUE_BODY, format="json")
    assert denied.status_code == 403
    assert ReviewQueue.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "inner"),
    [
        ({"filters": {"statuses": ["failed"]}}, "filters", "statuses"),
        ({"filters": {"metric_ranges": {"edit_ratio": [0.5, 0.1]}}}, "filters", None),
        ({"filters": {"colour": ["red"]}}, "filters", None),
        ({"filters": ["en"]}, "filters", None),
        ({"reviewers": ["rev0", "ghost"]}, "reviewers", None),
        ({"reviews_required": 0}, "reviews_required", None),
        ({"rule": "coin_toss"}, "rule", None),
        ({"gold_rate": 1.5}, "gold_rate", None),
        ({"name": ""}, "name", None),
    ],
)
def test_a_bad_queue_is_refused_whole_with_the_field_named(
    engineer, reviewers, version, change, field, inner
):
    make_review_pairs(1, principle_version=version)
    response = api_for(engineer).post(
        "/api/review-queues/", {**QUEUE_BODY, **change}, format="json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {field}
    if inner:
        assert inner in errors[field]
    if change.get("reviewers"):
        assert "ghost" in errors["reviewers"][0] and "rev0" not in errors["reviewers"][0]
    if "metric_ranges" in str(change):
        assert "metric_ranges.edit_ratio" in errors["filters"]
    assert not ReviewQueue.objects.exists() and not ReviewItem.objects.exists()
    assert set(PreferencePair.objects.values_list("status", flat=True)) == {"generated"}


def test_a_user_who_cannot_review_is_not_made_a_reviewer(engineer, reviewers, author, version):
    response = api_for(engineer).post(
        "/api/review-queues/", {**QUEUE_BODY, "reviewers": ["rev0", "alice"]}, format="json"
    )
    assert response.status_code == 400 and "alice" in response.json()["reviewers"][0]
    assert not ReviewQueue.objects.exists()


def test_reviewers_see_only_their_queues(engineer, admin_user, reviewers, author, version):
    make_review_pairs(2, principle_version=version)
    mine = make_queue(engineer, [reviewers[0]], gold_rate=0.2)
    theirs = make_queue(engineer, [reviewers[1]])
    rita = api_for(reviewers[0])
    listed = rita.get("/api/review-queues/").json()
    assert [q["id"] for q in listed["results"]] == [mine.pk]
    # Reviewers are not told the gold share or how many gold pairs there are.
    assert "gold_rate" not in listed["results"][0]
    detail = rita.get(f"/api/review-queues/{mine.pk}/").json()
    assert detail["progress"]["total"] == 2 and "gold" not in detail["progress"]
    assert "gold_rate" not in detail
    assert rita.get(f"/api/review-queues/{theirs.pk}/").status_code == 404
    assert next_pair(rita, theirs).status_code == 404
    for manager in (engineer, admin_user):
        ids = {q["id"] for q in api_for(manager).get("/api/review-queues/").json()["results"]}
        assert ids == {mine.pk, theirs.pk}
        detail = api_for(manager).get(f"/api/review-queues/{mine.pk}/").json()
        assert detail["gold_rate"] == 0.2 and detail["progress"]["gold"] == 0
    assert api_for(author).get("/api/review-queues/").json()["results"] == []
    assert APIClient().get("/api/review-queues/").status_code in (401, 403)


def test_managers_change_settings_and_fill(engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    ed, rita = api_for(engineer), api_for(reviewers[0])
    url = f"/api/review-queues/{queue.pk}/"
    changed = ed.patch(
        url, {"name": "Renamed", "reviews_required": 3, "reviewers": ["rev2"]}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["reviews_required"]) == ("Renamed", 3)
    assert changed.json()["reviewers"] == ["rev2"]
    assert ed.patch(url, {"filters": {}}, format="json").json().keys() == {"filters"}
    assert ed.patch(url, {"reviewers": ["nobody"]}, format="json").status_code == 400
    # A reviewer who can see the queue still may not change it.
    assert api_for(reviewers[2]).patch(url, {"name": "x"}, format="json").status_code == 403
    assert rita.patch(url, {"name": "x"}, format="json").status_code == 404
    # N cannot shrink below the reviews a pair already has.
    queue.refresh_from_db()
    services.review_queue_update(queue=queue, user=engineer, reviewers=reviewers)
    for user in reviewers[:2]:
        services.review_next(queue=queue, reviewer=user)
    shrink = ed.patch(url, {"reviews_required": 1}, format="json")
    assert shrink.status_code == 400 and "reviews_required" in shrink.json()
    queue.refresh_from_db()
    assert queue.reviews_required == 3 and queue.name == "Renamed"
    # Fill adds pairs that match now.
    make_review_pairs(2, principle_version=version, instruction="New")
    assert api_for(reviewers[2]).post(f"{url}fill/").status_code == 403
    assert ed.post(f"{url}fill/").json() == {"added": 2}
    assert ed.post(f"{url}fill/").json() == {"added": 0}


# --- Next, submit, skip ---------------------------------------------------------------------


def test_two_reviewers_work_a_queue_to_the_end(engineer, reviewers, version):
    first, second = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], rule="any_reject")
    a, b = api_for(reviewers[0]), api_for(reviewers[1])

    ra = next_pair(a, queue)
    assert ra.status_code == 200, ra.content
    assert ra.json()["pair"]["id"] == first.pk and ra.json()["state"] == "reserved"
    assert next_pair(a, queue).json()["id"] == ra.json()["id"]  # the same reservation
    rb = next_pair(b, queue).json()
    assert rb["pair"]["id"] == first.pk and rb["id"] != ra.json()["id"]

    done = submit(a, ra.json()["id"], "accept", active_seconds=4.5)
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "submitted" and done.json()["decision"] == "accept"
    assert done.json()["submitted_at"] and done.json()["pair"]["id"] == first.pk
    ra2 = next_pair(a, queue).json()
    assert ra2["pair"]["id"] == second.pk
    assert submit(b, rb["id"], "accept").status_code == 200
    first.refresh_from_db()
    assert first.status == PreferenceStatus.ACCEPTED  # both accepted

    rb2 = next_pair(b, queue).json()
    assert rb2["pair"]["id"] == second.pk
    assert submit(a, ra2["id"], "reject", comment="Changes two things.").status_code == 200
    assert submit(b, rb2["id"], "accept").status_code == 200
    second.refresh_from_db()
    assert second.status == PreferenceStatus.REJECTED  # any reject rejects
    assert ReviewItem.objects.get(pair=second).final_decision == Decision.REJECT

    # Submitting again changes nothing; the queue has nothing more for either reviewer.
    again = submit(a, ra2["id"], "accept")
    assert again.status_code == 200 and again.json()["decision"] == "reject"
    for client in (a, b):
        empty = next_pair(client, queue)
        assert empty.status_code == 204 and not empty.content
    assert next_pair(api_for(reviewers[2]), queue).status_code == 404  # not assigned


def test_who_may_ask_for_the_next_pair(engineer, admin_user, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, [reviewers[0]])
    # Engineers and admins see the queue but are not its reviewers: 403.
    assert next_pair(api_for(engineer), queue).status_code == 403
    assert next_pair(api_for(admin_user), queue).status_code == 403
    services.review_queue_update(queue=queue, user=engineer, reviewers=[reviewers[0], admin_user])
    assert next_pair(api_for(admin_user), queue).status_code == 200
    services.review_queue_update(queue=queue, user=engineer, is_active=False)
    closed = next_pair(api_for(reviewers[0]), queue)
    assert closed.status_code == 400 and "closed" in json.dumps(closed.json())


def test_skip_frees_the_pair_and_moves_on(engineer, reviewers, version):
    first, second = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:1], reviews_required=1)
    a = api_for(reviewers[0])
    r = next_pair(a, queue).json()
    skipped = a.post(f"/api/reviews/{r['id']}/skip/")
    assert skipped.status_code == 200 and skipped.json()["state"] == "skipped"
    assert next_pair(a, queue).json()["pair"]["id"] == second.pk
    assert submit(a, r["id"], "accept").status_code == 400  # skipped: cannot be submitted
    assert ReviewItem.objects.get(pair=first).taken == 0


def test_another_reviewers_review_is_404(engineer, admin_user, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    mine = next_pair(api_for(reviewers[0]), queue).json()["id"]
    api_for(reviewers[0]).put(f"/api/reviews/{mine}/draft/", {"comment": "private"}, format="json")
    for other in (api_for(reviewers[1]), api_for(admin_user)):
        assert other.get(f"/api/reviews/{mine}/").status_code == 404
        assert other.put(f"/api/reviews/{mine}/draft/", {}, format="json").status_code == 404
        assert submit(other, mine, "accept").status_code == 404
        assert other.post(f"/api/reviews/{mine}/skip/").status_code == 404
        assert all(r["id"] != mine for r in other.get("/api/reviews/").json()["results"])
    assert api_for(engineer).get(f"/api/reviews/{mine}/").status_code == 403  # no reviews
    review = Review.objects.get(pk=mine)
    assert review.state == ReviewState.RESERVED and review.draft["comment"] == "private"


def test_draft_round_trip(engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    a = api_for(reviewers[0])
    r = next_pair(a, queue).json()
    assert r["draft"] == {}
    draft = {
        "decision": "reject",
        "reasons": ["changes_more"],
        "comment": "Half a thought",
        "edited_rejected": "",
        "active_seconds": 7,
    }
    saved = a.put(f"/api/reviews/{r['id']}/draft/", draft, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["draft"] == {**draft, "active_seconds": 7.0}
    assert saved.json()["reserved_until"] >= r["reserved_until"]
    assert a.get(f"/api/reviews/{r['id']}/").json()["draft"]["comment"] == "Half a thought"
    assert next_pair(a, queue).json()["draft"]["comment"] == "Half a thought"  # resumed
    listed = a.get("/api/reviews/", {"queue": queue.pk, "state": "reserved"}).json()["results"]
    assert [x["id"] for x in listed] == [r["id"]]
    assert a.get("/api/reviews/", {"state": "submitted"}).json()["results"] == []
    # A bad draft names the field and changes nothing.
    bad = a.put(f"/api/reviews/{r['id']}/draft/", {"reasons": ["nope"]}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"reasons"}
    assert a.put(f"/api/reviews/{r['id']}/draft/", ["x"], format="json").json().keys() == {"draft"}
    assert Review.objects.get(pk=r["id"]).draft["comment"] == "Half a thought"
    # The other reviewer's reservation of the same pair has an empty draft of its own.
    other = next_pair(api_for(reviewers[1]), queue).json()
    assert other["pair"]["id"] == r["pair"]["id"] and other["draft"] == {}
    # Submitting clears the draft.
    done = submit(a, r["id"], "reject", reasons=["changes_more"]).json()
    assert done["draft"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "reject", "reasons": []}, "reasons"),
        ({"decision": "reject", "reasons": ["bad_reason"]}, "reasons"),
        ({"decision": "reject", "reasons": ["other"]}, "comment"),
        ({"decision": "edit"}, "edited_rejected"),
        ({"decision": "maybe"}, "decision"),
        ({}, "decision"),
        ({"decision": "accept", "active_seconds": "soon"}, "active_seconds"),
    ],
)
def test_submit_errors_name_the_field_and_change_nothing(engineer, reviewers, version, body, field):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    a = api_for(reviewers[0])
    r = next_pair(a, queue).json()
    response = a.post(f"/api/reviews/{r['id']}/submit/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    review = Review.objects.get(pk=r["id"])
    assert review.state == ReviewState.RESERVED and review.decision == ""
    assert ReviewItem.objects.get(queue=queue).submitted == 0


def test_an_edit_is_kept_as_a_revision(engineer, reviewers, version):
    (pair,) = make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:1], reviews_required=1)
    a = api_for(reviewers[0])
    r = next_pair(a, queue).json()
    edited = "  The river ran slow,\nunder the moon.  "
    done = submit(a, r["id"], "edit", edited_rejected=edited)
    assert done.status_code == 200 and done.json()["edited_rejected"] == edited
    pair.refresh_from_db()
    assert pair.status == PreferenceStatus.ACCEPTED and pair.rejected == edited


# --- Gold pairs -----------------------------------------------------------------------------


def test_a_gold_pair_looks_like_any_other_to_its_reviewer(engineer, reviewers, version):
    (plain,) = make_review_pairs(1, principle_version=version)
    (gold,) = make_review_pairs(
        1, principle_version=version, instruction="A special one", status=PreferenceStatus.ACCEPTED
    )
    queue = make_queue(engineer, reviewers[:1], gold_rate=1.0, reviews_required=1)
    ed, a = api_for(engineer), api_for(reviewers[0])
    added = ed.post(
        f"/api/review-queues/{queue.pk}/gold/",
        {"pair": gold.pk, "decision": "reject", "note": "KNOWNANSWER breaks it"},
        format="json",
    )
    assert added.status_code == 200, added.content
    assert added.json()["is_gold"] is True and added.json()["gold_decision"] == "reject"
    assert (
        api_for(reviewers[0])
        .post(f"/api/review-queues/{queue.pk}/gold/", {"pair": plain.pk, "decision": "accept"})
        .status_code
        == 403
    )
    bad = ed.post(f"/api/review-queues/{queue.pk}/gold/", {"pair": plain.pk, "decision": "edit"})
    assert bad.status_code == 400 and set(bad.json()) == {"decision"}

    served_gold = next_pair(a, queue).json()
    assert served_gold["pair"]["id"] == gold.pk  # gold share 1: the gold pair comes first
    done_gold = submit(a, served_gold["id"], "accept").json()
    served_plain = next_pair(a, queue).json()
    assert served_plain["pair"]["id"] == plain.pk
    done_plain = submit(a, served_plain["id"], "accept").json()

    # Same shape, same keys, and nothing about gold anywhere a reviewer can read.
    assert all_keys(served_gold) == all_keys(served_plain)
    assert all_keys(done_gold) == all_keys(done_plain)
    assert served_gold["state"] == served_plain["state"] == "reserved"
    responses = [
        served_gold,
        served_plain,
        done_gold,
        done_plain,
        a.get(f"/api/reviews/{served_gold['id']}/").json(),
        a.get("/api/reviews/").json(),
        a.get(f"/api/review-queues/{queue.pk}/").json(),
        a.get("/api/review-queues/").json(),
    ]
    for response in responses:
        text = json.dumps(response).lower()
        assert "gold" not in text and "knownanswer" not in text, text
        assert "slot" not in all_keys(response)
    assert a.get(f"/api/review-queues/{queue.pk}/agreement/").status_code == 403
    assert a.get("/api/review-items/").status_code == 403
    # Gold reviews decide nothing.
    assert ReviewItem.objects.get(pair=gold).status == ItemStatus.OPEN


# --- Adjudication ---------------------------------------------------------------------------


def make_conflict(engineer, reviewers, version):
    """One pair, N=2, unanimous: one reviewer edits, the other rejects."""
    (pair,) = make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    a, b = api_for(reviewers[0]), api_for(reviewers[1])
    ra, rb = next_pair(a, queue).json(), next_pair(b, queue).json()
    a.put(f"/api/reviews/{ra['id']}/draft/", {"comment": "DRAFTTEXT"}, format="json")
    submit(a, ra["id"], "edit", edited_rejected="A better negative.")
    submit(b, rb["id"], "reject", reasons=["wrong_principle"])
    return queue, pair, ReviewItem.objects.get(queue=queue)


def test_admins_list_and_adjudicate_conflicts(engineer, admin_user, reviewers, version):
    queue, pair, item = make_conflict(engineer, reviewers, version)
    assert item.status == ItemStatus.CONFLICT
    ada = api_for(admin_user)
    for user in (engineer, reviewers[0]):
        assert api_for(user).get("/api/review-items/?status=conflict").status_code == 403
        denied = api_for(user).post(
            f"/api/review-items/{item.pk}/adjudicate/", {"decision": "reject"}, format="json"
        )
        assert denied.status_code == 403
    listed = ada.get("/api/review-items/", {"status": "conflict", "queue": queue.pk}).json()
    assert [x["id"] for x in listed["results"]] == [item.pk]
    assert ada.get("/api/review-items/", {"status": "decided"}).json()["results"] == []
    assert ada.get("/api/review-items/", {"queue": queue.pk + 1}).json()["results"] == []

    detail = ada.get(f"/api/review-items/{item.pk}/").json()
    assert detail["pair_detail"]["id"] == pair.pk
    assert [r["decision"] for r in detail["reviews"]] == ["edit", "reject"]
    assert detail["reviews"][1]["reasons"] == ["wrong_principle"]
    (revision,) = detail["revisions"]
    assert revision["after"] == "A better negative." and revision["author"] == "rev0"
    assert detail["reviews"][0]["revision"] == revision["id"]
    assert "draft" not in all_keys(detail) and "DRAFTTEXT" not in json.dumps(detail)

    wrong = ada.post(
        f"/api/review-items/{item.pk}/adjudicate/",
        {"decision": "reject", "revision": revision["id"]},
        format="json",
    )
    assert wrong.status_code == 400 and set(wrong.json()) == {"revision"}
    item.refresh_from_db()
    assert item.status == ItemStatus.CONFLICT  # nothing half-written
    done = ada.post(
        f"/api/review-items/{item.pk}/adjudicate/",
        {"decision": "accept", "revision": revision["id"], "note": "The edit fixes it."},
        format="json",
    )
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["status"], body["final_decision"], body["adjudicated_by"]) == (
        "decided",
        "accept",
        "ada",
    )
    pair.refresh_from_db()
    assert pair.status == PreferenceStatus.ACCEPTED and pair.rejected == "A better negative."


# --- Agreement and feedback -----------------------------------------------------------------


def test_agreement_values(engineer, admin_user, reviewers, version):
    make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], rule="majority")
    a, b = api_for(reviewers[0]), api_for(reviewers[1])
    # Pair 1: both accept; pair 2: both reject; pair 3: a accepts, b rejects.
    for client, decisions in ((a, ["accept", "reject", "accept"]), (b, ["accept", "reject"])):
        for decision in decisions:
            done = submit(client, next_pair(client, queue).json()["id"], decision)
            assert done.status_code == 200
    assert submit(b, next_pair(b, queue).json()["id"], "reject").status_code == 200
    assert api_for(reviewers[0]).get(f"/api/review-queues/{queue.pk}/agreement/").status_code == 403
    response = api_for(engineer).get(f"/api/review-queues/{queue.pk}/agreement/")
    assert response.status_code == 200
    data = response.json()
    assert data["queue"]["items"] == 3
    assert data["queue"]["percent"] == pytest.approx(2 / 3)
    # Krippendorff's alpha (nominal), 2 coders x 3 units: Do = 2/6, De = 18/30.
    assert data["queue"]["alpha"] == pytest.approx(1 - (2 / 6) / (18 / 30))
    (pair,) = data["pairs"]
    assert {pair["a"], pair["b"]} == {"rev0", "rev1"} and pair["items"] == 3
    # Cohen's kappa: po = 2/3, pe = 2/3 * 1/3 + 1/3 * 2/3 = 4/9 -> 0.4.
    assert pair["kappa"] == pytest.approx(0.4)
    (principle,) = data["principles"]
    assert principle["id"] == version.principle_id and principle["title"] == version.title
    stats = {r["name"]: r for r in data["reviewers"]}
    assert stats["rev0"]["reviews"] == 3 and stats["rev0"]["accept_rate"] == pytest.approx(2 / 3)
    assert stats["rev1"]["accept_rate"] == pytest.approx(1 / 3)
    assert stats["rev0"]["gold_total"] == 0 and stats["rev0"]["gold_accuracy"] is None
    statuses = dict(ReviewItem.objects.values_list("pair__instruction", "final_decision"))
    assert sorted(statuses.values()) == ["", "accept", "reject"]  # the tie is a conflict


def test_principle_feedback(engineer, admin_user, author, author2, reviewers, version, settings):
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 1
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:1], reviews_required=1)
    a = api_for(reviewers[0])
    submit(a, next_pair(a, queue).json()["id"], "reject", reasons=["not_broken"])
    rows = api_for(author).get("/api/principle-feedback/").json()
    (row,) = rows
    assert row["principle"]["id"] == version.principle_id
    assert row["principle"]["owner"] == "alice" and row["principle"]["title"] == version.title
    assert (row["decided"], row["rejected"], row["share"], row["flagged"]) == (1, 1, 1.0, True)
    assert row["reasons"][0]["code"] == "not_broken" and row["reasons"][0]["count"] == 1
    assert len(row["examples"]) == 1
    assert api_for(author2).get("/api/principle-feedback/").json() == []
    assert api_for(author2).get("/api/principle-feedback/?owner=alice").json() == []
    assert len(api_for(engineer).get("/api/principle-feedback/").json()) == 1
    assert len(api_for(admin_user).get("/api/principle-feedback/?owner=alice").json()) == 1
    assert api_for(engineer).get("/api/principle-feedback/?owner=bob").json() == []
    assert api_for(reviewers[0]).get("/api/principle-feedback/").status_code == 403


# --- Token auth and query counts ------------------------------------------------------------


def token_client(user):
    api = APIClient(enforce_csrf_checks=True)
    response = api.post("/api/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return api


def test_token_auth_for_next_and_submit(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:1], reviews_required=1)
    api = token_client(reviewers[0])
    r = next_pair(api, queue)
    assert r.status_code == 200, r.content
    done = submit(api, r.json()["id"], "accept")
    assert done.status_code == 200 and done.json()["state"] == "submitted"
    assert APIClient().post(f"/api/review-queues/{queue.pk}/next/").status_code in (401, 403)


def count_queries(fn) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


def measure(engineer, reviewers, version, size: int) -> dict:
    """Queries of next (new reservation), next (resumed), the first submit and the submit that
    decides the pair, by token-authenticated reviewers, in a queue of ``size`` pairs."""
    make_review_pairs(size, principle_version=version, instruction=f"size {size}")
    queue = make_queue(
        engineer,
        reviewers[:2],
        filters={"statuses": ["generated"]},
        reviews_required=2,
        gold_rate=1.0,  # the worst case: every "next" looks for a gold pair first (none here)
    )
    a, b = token_client(reviewers[0]), token_client(reviewers[1])
    counts = {}
    counts["next"], ra = count_queries(lambda: next_pair(a, queue))
    counts["next_resumed"], _ = count_queries(lambda: next_pair(a, queue))
    rb = next_pair(b, queue)
    assert ra.status_code == rb.status_code == 200
    assert ra.json()["pair"]["id"] == rb.json()["pair"]["id"]
    counts["submit"], done = count_queries(lambda: submit(a, ra.json()["id"], "accept"))
    assert done.status_code == 200
    counts["submit_deciding"], done = count_queries(lambda: submit(b, rb.json()["id"], "accept"))
    assert done.status_code == 200
    assert ReviewItem.objects.get(queue=queue, pair_id=rb.json()["pair"]["id"]).status == "decided"
    # Past the first pairs: the next reservation costs the same.
    counts["next_later"], again = count_queries(lambda: next_pair(a, queue))
    assert again.status_code == 200
    return counts


def test_next_and_submit_query_counts_do_not_grow_with_the_queue(
    engineer, reviewers, version, django_assert_max_num_queries
):
    small = measure(engineer, reviewers, version, 5)
    ReviewQueue.objects.all().delete()
    PreferencePair.objects.update(status=PreferenceStatus.ACCEPTED)
    large = measure(engineer, reviewers, version, 50)
    assert small == large, (small, large)
    print("query counts (token auth, SQLite/PG test transaction):", large)  # noqa: T201
    assert max(large.values()) <= MAX_QUERIES, large
    # The same bound through pytest-django's fixture, once more on the large queue.
    queue = ReviewQueue.objects.get()
    c = token_client(reviewers[2])
    services.review_queue_update(queue=queue, user=engineer, reviewers=reviewers)
    with django_assert_max_num_queries(MAX_QUERIES):
        r = next_pair(c, queue)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert submit(c, r.json()["id"], "accept").status_code == 200


def test_review_payload_equals_the_serializer(engineer, version):
    """The hot paths build the review by hand; it must stay what the serializer documents."""
    from pairs.review.api import ReviewSerializer, review_payload, reviews_for_reviewer

    reviewer_user = UserFactory(username="paula", roles=["Reviewer"])
    make_review_pairs(1, principle_version=version, selection_reason="Because <b>", context="ctx")
    queue = services.review_queue_create(
        name="Q", created_by=engineer, reviewers=[reviewer_user], reviews_required=1
    )
    review = services.review_next(queue=queue, reviewer=reviewer_user)
    services.review_draft_save(review=review, reviewer=reviewer_user, draft={"comment": "x"})
    for _ in range(2):
        loaded = reviews_for_reviewer(reviewer=reviewer_user).get(pk=review.pk)
        assert review_payload(loaded) == ReviewSerializer(loaded).data
        services.review_submit(
            review=loaded,
            reviewer=reviewer_user,
            decision="reject",
            reasons=["other"],
            comment="why",
            active_seconds=3,
        )
