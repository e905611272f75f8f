"""Review management pages: queues (list, new, detail, edit, refresh, gold), agreement,
conflicts and adjudication, feedback to authors and the home page; who may see what, what
they escape, and what the list and agreement pages cost in queries."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pairs.models import (
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    PreferencePair,
    PreferenceStatus,
    ReviewItem,
    ReviewQueue,
)
from pairs.review import agreement, services

from ..factories import UserFactory, make_approved, make_review_pairs

pytestmark = pytest.mark.django_db

LIST = reverse("review:queues")
NEW = reverse("review:queue-new")
CONFLICTS = reverse("review:conflicts")
FEEDBACK = reverse("review:feedback")
XSS = "<script>alert('x')</script>"


def detail_url(queue):
    return reverse("review:queue", args=[queue.pk])


def agreement_url(queue):
    return reverse("review:agreement", args=[queue.pk])


def gold_url(queue):
    return reverse("review:queue-gold", args=[queue.pk])


def text_of(content: bytes, element_id: str) -> str:
    """The text inside the element with ``id`` (tags removed, entities decoded)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', content.decode(), re.S)
    assert match, f"no element #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def table_rows(content: bytes, table_id: str) -> list[dict]:
    """The body rows of ``<table id=table_id>`` as {cell class: text}."""
    match = re.search(
        rf'<table[^>]*id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', content.decode(), re.S
    )
    assert match, f"no table #{table_id}"
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S):
        cells = {}
        for cls, inner in re.findall(r'<td[^>]*?class="([^"]*)"[^>]*>(.*?)</td>', row, re.S):
            text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
            for name in cls.split():
                if name != "num":
                    cells[name] = text
        rows.append(cells)
    return rows


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def reviewers(db):
    return [UserFactory(username=f"rev{k}", roles=["Reviewer"]) for k in range(3)]


def make_queue(engineer, reviewers, name="Queue", **kwargs):
    kwargs.setdefault("reviews_required", 2)
    return services.review_queue_create(
        name=name, created_by=engineer, reviewers=reviewers, **kwargs
    )


def submit(review, user, decision, **kwargs):
    if decision == Decision.REJECT:
        kwargs.setdefault("reasons", ["not_broken"])
    if decision == Decision.EDIT:
        kwargs.setdefault("edited_rejected", f"An edit by {user.username}.")
    return services.review_submit(review=review, reviewer=user, decision=decision, **kwargs)


def review_all(queue, plan: dict):
    """``plan``: {reviewer: {pair id: decision}}; each reviewer reviews every pair they are
    given in the queue, deciding as planned (pairs not in their plan are skipped)."""
    for user, decisions in plan.items():
        while True:
            review = services.review_next(queue=queue, reviewer=user)
            if review is None:
                break
            if review.pair_id in decisions:
                submit(review, user, decisions[review.pair_id])
            else:
                services.review_skip(review=review, reviewer=user)


def create_form(**overrides) -> dict:
    data = {
        "name": "Fiction, first pass",
        "description": "",
        "reviews_required": "2",
        "rule": AggregationRule.UNANIMOUS,
        "reservation_minutes": "20",
        "gold_rate": "0",
        "statuses": ["generated", "in_review"],
        "flagged": "",
    }
    data.update(overrides)
    return data


# --- Who may see what -----------------------------------------------------------------------


def test_access_matrix(
    client, client_for, author, reviewer, engineer, admin_user, norole, reviewers, version
):
    make_review_pairs(2, principle_version=version)
    mine = make_queue(engineer, [reviewer], name="Rita's queue")
    other = make_queue(engineer, reviewers, name="Someone else's queue")
    item = ReviewItem.objects.filter(queue=mine).first()

    for url in (LIST, NEW, detail_url(mine), agreement_url(mine), CONFLICTS, FEEDBACK):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url

    c = client_for(norole)
    for url in (LIST, NEW, detail_url(mine), agreement_url(mine), CONFLICTS, FEEDBACK):
        assert c.get(url).status_code == 403, url

    c = client_for(author)  # an author has feedback, no queues
    assert c.get(LIST).status_code == 403
    assert c.get(detail_url(mine)).status_code == 403
    assert c.get(FEEDBACK).status_code == 200

    c = client_for(reviewer)
    page = c.get(LIST)
    assert page.status_code == 200
    assert "Rita&#x27;s queue" in page.content.decode()
    assert "Someone else" not in page.content.decode()
    assert 'id="new-queue"' not in page.content.decode()
    assert reverse("review:next", args=[mine.pk]) in page.content.decode()
    assert c.get(detail_url(mine)).status_code == 200
    assert c.get(detail_url(other)).status_code == 404
    assert c.get(agreement_url(mine)).status_code == 200
    assert c.get(agreement_url(other)).status_code == 404
    assert c.get(NEW).status_code == 403
    assert c.post(NEW, create_form()).status_code == 403
    assert c.post(detail_url(mine), {"action": "refresh"}).status_code == 403
    assert c.get(reverse("review:queue-edit", args=[mine.pk])).status_code == 403
    assert c.get(gold_url(mine)).status_code == 403
    assert c.get(CONFLICTS).status_code == 403
    assert c.get(reverse("review:adjudicate", args=[item.pk])).status_code == 403
    assert c.get(FEEDBACK).status_code == 403
    assert ReviewQueue.objects.count() == 2

    c = client_for(engineer)
    page = c.get(LIST)
    assert "Rita&#x27;s queue" in page.content.decode()
    assert "Someone else" in page.content.decode()
    assert 'id="new-queue"' in page.content.decode()
    for url in (NEW, detail_url(other), agreement_url(other), gold_url(other), FEEDBACK):
        assert c.get(url).status_code == 200, url
    assert c.get(CONFLICTS).status_code == 403
    assert c.get(reverse("review:adjudicate", args=[item.pk])).status_code == 403

    c = client_for(admin_user)
    assert c.get(CONFLICTS).status_code == 200
    assert c.get(reverse("review:adjudicate", args=[item.pk])).status_code == 200
    assert c.get(detail_url(other)).status_code == 200


def test_nav_links_follow_roles(client_for, author, reviewer, engineer):
    assert 'id="nav-review"' in client_for(reviewer).get("/").content.decode()
    assert 'id="nav-feedback"' not in client_for(reviewer).get("/").content.decode()
    home = client_for(author).get("/").content.decode()
    assert 'id="nav-review"' not in home and 'id="nav-feedback"' in home
    home = client_for(engineer).get("/").content.decode()
    assert 'id="nav-review"' in home and 'id="nav-feedback"' in home


# --- Creating a queue -----------------------------------------------------------------------


def test_engineer_creates_a_queue_from_the_form(client_for, engineer, reviewers, version, author):
    pairs = make_review_pairs(3, principle_version=version)
    other = make_approved(author, UserFactory(username="adm2", roles=["Admin"]), title="Other")
    make_review_pairs(2, principle_version=other.approved_version)
    PreferencePair.objects.filter(pk=pairs[2].pk).update(metrics={"char_similarity": 0.1})
    c = client_for(engineer)
    form = c.get(NEW).content.decode()
    assert 'name="char_similarity_min"' in form and 'name="principles"' in form
    assert "rev0" in form and "ed" not in re.findall(r'value="\d+"[^>]*>\s*([^<]+)', form)

    response = c.post(
        NEW,
        create_form(
            reviewers=[u.pk for u in reviewers[:2]],
            principles=[version.principle_id],
            languages=["en"],
            char_similarity_min="0.5",
            reviews_required="3",
            rule=AggregationRule.MAJORITY,
        ),
    )
    assert response.status_code == 302
    queue = ReviewQueue.objects.get()
    assert response["Location"] == detail_url(queue)
    assert queue.name == "Fiction, first pass"
    assert queue.reviews_required == 3 and queue.rule == AggregationRule.MAJORITY
    assert set(queue.reviewers.all()) == set(reviewers[:2])
    assert queue.filters["principles"] == [version.principle_id]
    assert queue.filters["languages"] == ["en"]
    assert queue.filters["metric_ranges"] == {"char_similarity": [0.5, None]}
    assert queue.created_by == engineer
    in_queue = set(ReviewItem.objects.filter(queue=queue).values_list("pair_id", flat=True))
    assert in_queue == {pairs[0].pk, pairs[1].pk}

    page = c.get(detail_url(queue)).content.decode()
    assert "at least 0.5" in page and "Show, don" in page


def test_bad_metric_range_is_shown_on_its_field_and_keeps_what_was_typed(
    client_for, engineer, reviewers, version
):
    make_review_pairs(2, principle_version=version)
    c = client_for(engineer)
    response = c.post(
        NEW,
        create_form(
            name="Typed name",
            description="Typed description",
            reviewers=[reviewers[0].pk],
            edit_ratio_min="0.9",
            edit_ratio_max="0.2",
            char_similarity_min="0.3",
            principles=[version.principle_id],
        ),
    )
    assert response.status_code == 400
    assert not ReviewQueue.objects.exists()
    page = response.content.decode()
    assert "The minimum is above the maximum." in text_of(
        response.content, "range-edit_ratio-errors"
    )
    assert 'id="range-edit_ratio" class="has-error"' in page
    assert 'id="range-char_similarity-errors"' not in page
    assert 'value="Typed name"' in page and "Typed description" in page
    assert re.search(r'name="edit_ratio_min"[^>]*value="0.9"', page)
    assert re.search(r'name="edit_ratio_max"[^>]*value="0.2"', page)
    assert re.search(r'name="char_similarity_min"[^>]*value="0.3"', page)
    assert re.search(rf'value="{reviewers[0].pk}"[^>]*checked', page)
    assert re.search(rf'value="{version.principle_id}"[^>]*selected', page)


def test_create_form_refuses_bad_settings(client_for, engineer, reviewers, author):
    c = client_for(engineer)
    response = c.post(NEW, create_form(name="  ", reviews_required="11", gold_rate="2"))
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count('class="field has-error"') >= 3
    response = c.post(NEW, create_form(reviewers=[author.pk]))  # not a reviewer: not offered
    assert response.status_code == 400
    assert not ReviewQueue.objects.exists()


def test_create_form_preview_counts_matching_pairs(client_for, engineer, version):
    pairs = make_review_pairs(3, principle_version=version)
    PreferencePair.objects.filter(pk=pairs[0].pk).update(flagged=True)
    c = client_for(engineer)
    response = c.get(NEW, {"flagged": "no", "statuses": ["generated"]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert text_of(response.content, "preview-count").startswith("2 pairs")
    response = c.get(
        NEW, {"length_ratio_min": "2", "length_ratio_max": "1"}, HTTP_HX_REQUEST="true"
    )
    assert "minimum is above the maximum" in text_of(response.content, "preview-error")


# --- A queue --------------------------------------------------------------------------------


def test_queue_detail_shows_progress(client_for, engineer, reviewers, version):
    pairs = make_review_pairs(4, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], reviews_required=1)
    review_all(
        queue,
        {
            reviewers[0]: {pairs[0].pk: Decision.ACCEPT},
            reviewers[1]: {pairs[1].pk: Decision.REJECT},
        },
    )
    page = client_for(engineer).get(detail_url(queue))
    assert page.status_code == 200
    assert text_of(page.content, "progress-total") == "4"
    assert text_of(page.content, "progress-decided") == "2"
    assert text_of(page.content, "progress-accepted") == "1"
    assert text_of(page.content, "progress-rejected") == "1"
    assert text_of(page.content, "progress-open") == "2"
    assert text_of(page.content, "progress-submitted") == "2"
    assert text_of(page.content, "progress-skipped") == "5"
    assert 'id="refresh"' in page.content.decode()

    rows = client_for(engineer).get(LIST).content.decode()
    assert re.search(r'class="decided">2</span>/<span class="total">4<', rows)

    # An assigned reviewer: read-only, with what is left for them and the start button.
    mine = client_for(reviewers[0]).get(detail_url(queue)).content.decode()
    assert 'id="refresh"' not in mine and 'id="edit-link"' not in mine
    assert reverse("review:next", args=[queue.pk]) in mine
    assert "0 pairs are left for you" in mine


def test_left_for_you_counts_a_pair_whose_reservation_ran_out(
    client_for, engineer, reviewers, version
):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], reviews_required=2)
    first = services.review_next(queue=queue, reviewer=reviewers[0])
    later = first.reserved_until + timedelta(minutes=1)
    services.review_next(queue=queue, reviewer=reviewers[1], now=later)  # expires the first
    # The pair is open, with a free slot, and rev0 has not reviewed it: it is left for them.
    page = client_for(reviewers[0]).get(detail_url(queue)).content.decode()
    assert "1 pair is left for you" in page
    rows = table_rows(client_for(reviewers[0]).get(LIST).content, "queues")
    assert rows[0]["queue-remaining"] == "1"


def test_refresh_adds_new_matching_pairs(client_for, engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers)
    make_review_pairs(3, principle_version=version)
    c = client_for(engineer)
    response = c.post(detail_url(queue), {"action": "refresh"}, follow=True)
    assert response.status_code == 200
    assert ReviewItem.objects.filter(queue=queue).count() == 5
    assert "3 new matching pairs added" in response.content.decode()
    assert text_of(response.content, "progress-total") == "5"
    assert set(PreferencePair.objects.values_list("status", flat=True)) == {"in_review"}


def test_close_reopen_and_edit(client_for, engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:1])
    c = client_for(engineer)
    c.post(detail_url(queue), {"action": "close"})
    queue.refresh_from_db()
    assert not queue.is_active
    assert 'id="queue-closed"' in c.get(detail_url(queue)).content.decode()
    # A closed queue gives no pair: no start button for its reviewer.
    assert reverse("review:next", args=[queue.pk]) not in (
        client_for(reviewers[0]).get(LIST).content.decode()
    )
    c.post(detail_url(queue), {"action": "reopen"})
    queue.refresh_from_db()
    assert queue.is_active

    edit = reverse("review:queue-edit", args=[queue.pk])
    assert 'value="Queue"' in c.get(edit).content.decode()
    response = c.post(
        edit,
        {
            "name": "Renamed",
            "reviews_required": "3",
            "rule": AggregationRule.ANY_REJECT,
            "reservation_minutes": "30",
            "gold_rate": "0.1",
            "reviewers": [u.pk for u in reviewers],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.reviews_required, queue.rule) == ("Renamed", 3, "any_reject")
    assert queue.reservation_minutes == 30 and queue.gold_rate == 0.1
    assert queue.reviewers.count() == 3

    # N cannot go below the reviews a pair already has: the error is on the field.
    for user in reviewers:
        services.review_next(queue=queue, reviewer=user)
    response = c.post(
        edit,
        {
            "name": "Renamed again",
            "reviews_required": "2",
            "rule": AggregationRule.ANY_REJECT,
            "reservation_minutes": "30",
            "gold_rate": "0.1",
            "reviewers": [u.pk for u in reviewers],
            "is_active": "on",
        },
    )
    assert response.status_code == 400
    assert "already have 3 reviews" in response.content.decode()
    assert 'value="Renamed again"' in response.content.decode()
    queue.refresh_from_db()
    assert queue.name == "Renamed" and queue.reviews_required == 3


# --- Gold pairs -----------------------------------------------------------------------------


def test_gold_pairs_are_added_and_reviewers_accuracy_shown(
    client_for, engineer, reviewers, version
):
    gold, _plain = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], gold_rate=1.0)
    c = client_for(engineer)
    response = c.post(gold_url(queue), {"pair": gold.pk, "decision": "reject", "note": "Bad"})
    assert response.status_code == 302
    item = ReviewItem.objects.get(queue=queue, pair=gold)
    assert item.is_gold and item.gold_decision == "reject" and item.gold_note == "Bad"

    response = c.post(gold_url(queue), {"pair": 999999, "decision": "reject"})
    assert response.status_code == 400
    assert "No preference pair has this id." in response.content.decode()
    response = c.post(gold_url(queue), {"pair": gold.pk, "decision": "maybe"})
    assert response.status_code == 400

    for user, decision in zip(reviewers[:2], (Decision.REJECT, Decision.ACCEPT), strict=True):
        review = services.review_next(queue=queue, reviewer=user)
        assert review.is_gold
        submit(review, user, decision)
    page = c.get(gold_url(queue))
    rows = table_rows(page.content, "gold-pairs")
    assert rows[0]["gold-answers"] == "2" and rows[0]["gold-right"].startswith("1")
    text = page.content.decode()
    assert re.search(r"rev0</td><td class=\"num\">1</td><td class=\"num gold-accuracy\">100%", text)
    assert re.search(r"rev1</td><td class=\"num\">1</td><td class=\"num gold-accuracy\">0%", text)


# --- Agreement ------------------------------------------------------------------------------


def services_agreement_pairs(queue):
    from pairs.review import selectors

    return selectors.queue_agreement(queue=queue)["pairs"]


def agreement_page(client, queue):
    page = client.get(agreement_url(queue))
    assert page.status_code == 200
    return page


def test_agreement_known_case_two_reviewers_four_pairs(client_for, engineer, reviewers, version):
    pairs = make_review_pairs(4, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], reviews_required=2)
    a, b = reviewers[:2]
    review_all(
        queue,
        {
            a: {p.pk: Decision.ACCEPT for p in pairs[:3]} | {pairs[3].pk: Decision.REJECT},
            b: {p.pk: Decision.ACCEPT for p in pairs[:3]} | {pairs[3].pk: Decision.EDIT},
        },
    )
    page = agreement_page(client_for(b), queue)
    assert text_of(page.content, "queue-percent") == "0.75"
    assert text_of(page.content, "queue-items") == "4"
    units = {k: {a.pk: "accept", b.pk: "accept"} for k in range(3)}
    units[3] = {a.pk: "reject", b.pk: "accept"}
    alpha = agreement.krippendorff_alpha_nominal(units)
    assert text_of(page.content, "queue-alpha") == f"{alpha:.2f}"
    rows = table_rows(page.content, "reviewer-pairs")
    assert rows == [{"a": "rev0", "b": "rev1", "items": "4", "percent": "0.75", "kappa": "0.00"}]
    principles = table_rows(page.content, "per-principle")
    assert principles[0]["items"] == "4" and principles[0]["percent"] == "0.75"
    # Reviewer statistics (which count gold pairs apart) are for managers only.
    assert b'id="reviewers"' not in page.content
    stats = {
        r["name"]: r
        for r in table_rows(agreement_page(client_for(engineer), queue).content, "reviewers")
    }
    assert stats["rev0"]["reviews"] == "4" and stats["rev0"]["accept-rate"] == "75%"
    assert stats["rev1"]["accept-rate"] == "100%"


def test_agreement_page_equals_the_agreement_module(client_for, engineer, reviewers, version):
    pairs = make_review_pairs(6, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=3, rule=AggregationRule.MAJORITY)
    A, R, E = Decision.ACCEPT, Decision.REJECT, Decision.EDIT
    decisions = [
        (A, A, R),
        (R, R, R),
        (A, E, A),
        (R, A, A),
        (A, R, R),
        (E, A, A),
    ]
    plan = {u: {} for u in reviewers}
    units = {}
    for pair, labels in zip(pairs, decisions, strict=True):
        units[pair.pk] = {}
        for user, decision in zip(reviewers, labels, strict=True):
            plan[user][pair.pk] = decision
            units[pair.pk][user.username] = "reject" if decision == R else "accept"
    # One pair reviewed by two reviewers only: the third skips it.
    del plan[reviewers[2]][pairs[5].pk]
    del units[pairs[5].pk][reviewers[2].username]
    review_all(queue, plan)

    page = agreement_page(client_for(engineer), queue)
    assert text_of(page.content, "queue-items") == "6"
    assert text_of(page.content, "queue-percent") == f"{agreement.percent_agreement(units):.2f}"
    alpha = agreement.krippendorff_alpha_nominal(units)
    assert text_of(page.content, "queue-alpha") == f"{alpha:.2f}"
    rows = table_rows(page.content, "reviewer-pairs")
    assert [(r["a"], r["b"]) for r in rows] == [
        ("rev0", "rev1"),
        ("rev0", "rev2"),
        ("rev1", "rev2"),
    ]
    for row in rows:
        kappa, n = agreement.cohen_kappa_units(units, row["a"], row["b"])
        a, b = row["a"], row["b"]
        shared = {u: {a: v[a], b: v[b]} for u, v in units.items() if a in v and b in v}
        assert row["items"] == str(n)
        assert row["kappa"] == ("—" if kappa is None else f"{kappa:.2f}")
        assert row["percent"] == f"{agreement.percent_agreement(shared):.2f}"
    skips = {r["name"]: r["skips"] for r in table_rows(page.content, "reviewers")}
    assert skips == {"rev0": "0", "rev1": "0", "rev2": "1"}


def test_undefined_coefficients_are_dashes(client_for, engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2])
    page = agreement_page(client_for(engineer), queue)
    assert text_of(page.content, "queue-percent") == "—"
    assert text_of(page.content, "queue-alpha") == "—"
    assert text_of(page.content, "queue-items") == "0"
    assert table_rows(page.content, "reviewer-pairs") == []
    review_all(
        queue,
        {
            u: {p: Decision.ACCEPT for p in queue.items.values_list("pair_id", flat=True)}
            for u in reviewers[:2]
        },
    )
    page = agreement_page(client_for(engineer), queue)
    assert text_of(page.content, "queue-percent") == "1.00"
    assert text_of(page.content, "queue-alpha") == "—"  # one answer throughout
    assert table_rows(page.content, "reviewer-pairs")[0]["kappa"] == "—"


# --- Conflicts and adjudication -------------------------------------------------------------


def test_conflicts_are_listed_and_adjudicated_with_a_revision(
    client_for, engineer, reviewers, version, admin_user
):
    pairs = make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=2)
    a, b, c3 = reviewers
    review_all(queue, {a: {p.pk: Decision.REJECT for p in pairs[:2]}})
    for pair in pairs[:2]:
        review = services.review_next(queue=queue, reviewer=b)
        assert review.pair_id == pair.pk
        submit(review, b, Decision.EDIT, edited_rejected=f"Fixed {pair.pk} {XSS}")
    ReviewItem.objects.filter(queue=queue, pair=pairs[0]).update()
    # A reviewer's draft on the third pair never shows.
    draft = services.review_next(queue=queue, reviewer=c3)
    services.review_draft_save(review=draft, reviewer=c3, draft={"comment": "secret draft"})
    items = list(ReviewItem.objects.filter(queue=queue, status=ItemStatus.CONFLICT).order_by("id"))
    assert [i.pair_id for i in items] == [pairs[0].pk, pairs[1].pk]

    c = client_for(admin_user)
    listing = c.get(CONFLICTS, {"queue": queue.pk})
    rows = table_rows(listing.content, "conflicts")
    assert len(rows) == 2 and rows[0]["n-accept"] == "1" and rows[0]["n-reject"] == "1"

    url = reverse("review:adjudicate", args=[items[0].pk])
    page = c.get(url, {"queue": queue.pk}).content.decode()
    assert "rev0" in page and "rev1" in page and "Does not break the principle" in page
    assert "secret draft" not in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert '<ins class="diff-ins">' in page
    revision = PairRevision.objects.get(pair=pairs[0])

    # An edit is applied only when accepting: the error is on the field.
    response = c.post(
        f"{url}?queue={queue.pk}", {"decision": "reject", "revision": revision.pk, "note": ""}
    )
    assert response.status_code == 400
    assert "An edit is applied only when accepting." in response.content.decode()

    response = c.post(
        f"{url}?queue={queue.pk}",
        {"decision": "accept", "revision": revision.pk, "note": "The edit fixes it."},
    )
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("review:adjudicate", args=[items[1].pk]) + f"?queue={queue.pk}"
    )
    pair = PreferencePair.objects.get(pk=pairs[0].pk)
    assert pair.status == PreferenceStatus.ACCEPTED and pair.rejected == revision.after
    assert pair.reviewed_by == admin_user
    item = ReviewItem.objects.get(pk=items[0].pk)
    assert item.status == ItemStatus.DECIDED and item.adjudication_note == "The edit fixes it."

    response = c.post(reverse("review:adjudicate", args=[items[1].pk]), {"decision": "reject"})
    assert response["Location"] == CONFLICTS
    assert PreferencePair.objects.get(pk=pairs[1].pk).status == PreferenceStatus.REJECTED
    assert table_rows(c.get(CONFLICTS).content, "conflicts")[0] == {
        "muted": "No conflict to decide."
    }


# --- Feedback to authors --------------------------------------------------------------------


@pytest.fixture
def flagged_setup(settings, engineer, reviewers, version, author2, admin_user):
    """Three decided pairs of alice's principle, two rejected; one accepted pair of bob's."""
    settings.WEAVER_REVIEW_FLAG_RATE = 0.5
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 3
    pairs = make_review_pairs(3, principle_version=version)
    bobs = make_approved(author2, admin_user, title="Bob's principle")
    bob_pair = make_review_pairs(1, principle_version=bobs.approved_version)[0]
    queue = make_queue(engineer, reviewers[:1], reviews_required=1)
    r = reviewers[0]
    for review_pair, decision, reasons in (
        (pairs[0], Decision.REJECT, ["not_broken", "changes_more"]),
        (pairs[1], Decision.REJECT, ["not_broken"]),
        (pairs[2], Decision.ACCEPT, []),
        (bob_pair, Decision.ACCEPT, []),
    ):
        review = services.review_next(queue=queue, reviewer=r)
        assert review.pair_id == review_pair.pk
        submit(review, r, decision, reasons=reasons)
    return {"pairs": pairs, "bob": bobs}


def test_feedback_shows_rejection_share_and_flags(
    client_for, author, engineer, flagged_setup, version
):
    page = client_for(author).get(FEEDBACK)
    rows = table_rows(page.content, "feedback")
    assert len(rows) == 1  # bob's principle is not alice's
    row = rows[0]
    assert row["decided"] == "3" and row["rejected"] == "2" and row["share"] == "67%"
    assert row["reasons"] == "Does not break the principle (2), Changes more than the principle (1)"
    text = page.content.decode()
    assert "badge-flagged flag" in text
    for pair in flagged_setup["pairs"][:2]:
        assert reverse("preferences:detail", args=[pair.pk]) in text
    assert "50%" in text and "at least 3 decided pairs" in text

    everyone = client_for(engineer).get(FEEDBACK)
    assert len(table_rows(everyone.content, "feedback")) == 2
    bob_only = client_for(engineer).get(FEEDBACK, {"owner": "bob"})
    rows = table_rows(bob_only.content, "feedback")
    assert len(rows) == 1 and rows[0]["share"] == "0%"
    assert "badge-flagged flag" not in bob_only.content.decode()
    nobody = client_for(engineer).get(FEEDBACK, {"owner": XSS})
    assert 'id="unknown-owner"' in nobody.content.decode()
    assert "<script>alert" not in nobody.content.decode()


def test_feedback_below_the_minimum_is_not_flagged(client_for, author, flagged_setup, settings):
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 4
    page = client_for(author).get(FEEDBACK)
    assert "badge-flagged flag" not in page.content.decode()
    assert 'id="no-flagged"' in client_for(author).get("/").content.decode()


def test_author_dashboard_shows_flagged_principle(client_for, author, author2, flagged_setup):
    home = client_for(author).get("/").content.decode()
    assert f'id="flagged-{flagged_setup["pairs"][0].principle_version.principle_id}"' in home
    assert "67% rejected (2 of 3)" in home
    assert "Does not break the principle (2)" in home
    for pair in flagged_setup["pairs"][:2]:
        assert reverse("preferences:detail", args=[pair.pk]) in home
    assert 'id="feedback-page-link"' in home
    assert 'id="flagged-' not in client_for(author2).get("/").content.decode()


def test_reviewer_dashboard_shows_queues_with_what_is_left(
    client_for, engineer, reviewers, version
):
    make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], reviews_required=1)
    review = services.review_next(queue=queue, reviewer=reviewers[0])
    submit(review, reviewers[0], Decision.ACCEPT)
    home = client_for(reviewers[0]).get("/")
    assert text_of(home.content, f"queue-tile-{queue.pk}").startswith("2")
    home = client_for(reviewers[1]).get("/")
    assert text_of(home.content, f"queue-tile-{queue.pk}").startswith("2")
    assert 'id="my-queues"' not in client_for(reviewers[2]).get("/").content.decode()


# --- Escaping -------------------------------------------------------------------------------


def test_user_text_is_escaped(client_for, engineer, reviewers, version, admin_user):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, [*reviewers[:2], admin_user], name=XSS, description=XSS)
    a, b = reviewers[:2]
    submit(services.review_next(queue=queue, reviewer=a), a, Decision.ACCEPT)
    submit(
        services.review_next(queue=queue, reviewer=b),
        b,
        Decision.REJECT,
        reasons=["other"],
        comment=XSS,
    )
    item = ReviewItem.objects.get(queue=queue)
    assert item.status == ItemStatus.CONFLICT
    pages = [
        LIST,
        detail_url(queue),
        agreement_url(queue),
        gold_url(queue),
        reverse("review:queue-edit", args=[queue.pk]),
        CONFLICTS,
        reverse("review:adjudicate", args=[item.pk]),
        "/",
    ]
    c = client_for(admin_user)
    for url in pages:
        content = c.get(url).content.decode()
        assert "<script>alert" not in content, url
        assert "&lt;script&gt;" in content, url


# --- Query counts ---------------------------------------------------------------------------


def test_queue_list_queries_do_not_grow_with_queues(
    client_for, engineer, reviewers, version, django_assert_max_num_queries
):
    make_review_pairs(3, principle_version=version)
    make_queue(engineer, reviewers, name="first")
    clients = {"engineer": client_for(engineer), "reviewer": client_for(reviewers[0])}
    few = {}
    for name, c in clients.items():
        with CaptureQueriesContext(connection) as queries:
            assert c.get(LIST).status_code == 200
        few[name] = len(queries)
    for k in range(4):
        queue = make_queue(
            engineer,
            reviewers,
            name=f"more {k}",
            reviews_required=1,
            filters={"statuses": ["in_review", "accepted"]},
        )
        submit(services.review_next(queue=queue, reviewer=reviewers[1]), reviewers[1], "accept")
    for name, c in clients.items():
        with django_assert_max_num_queries(few[name]):
            page = c.get(LIST)
        rows = table_rows(page.content, "queues")
        assert len(rows) == 5, name
        expected = {"—"} if name == "engineer" else {"3", "2"}
        assert {r["queue-remaining"] for r in rows} == expected


def test_agreement_queries_do_not_grow_with_reviews(
    client_for, engineer, reviewers, version, django_assert_max_num_queries
):
    pairs = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers[:2], reviews_required=2)
    review_all(queue, {u: {pairs[0].pk: Decision.ACCEPT} for u in reviewers[:2]})
    c = client_for(engineer)
    with CaptureQueriesContext(connection) as few:
        agreement_page(c, queue)
    more = make_review_pairs(6, principle_version=version)
    others = [UserFactory(username=f"extra{k}", roles=["Reviewer"]) for k in range(3)]
    services.review_queue_update(
        queue=queue, user=engineer, reviewers=reviewers + others, reviews_required=5
    )
    services.review_queue_fill(queue=queue)
    review_all(
        queue,
        {
            u: {
                p.pk: (Decision.ACCEPT if (i + k) % 3 else Decision.REJECT)
                for i, p in enumerate([pairs[1], *more])
            }
            for k, u in enumerate(reviewers + others)
        },
    )
    with django_assert_max_num_queries(len(few)):
        page = agreement_page(c, queue)
    expected = services_agreement_pairs(queue)
    assert len(expected) > 3
    assert len(table_rows(page.content, "reviewer-pairs")) == len(expected)
