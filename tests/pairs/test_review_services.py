"""Review services: reserving slots, decisions, aggregation rules, expiry, gold pairs."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from pairs.models import (
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    PreferenceStatus,
    Review,
    ReviewItem,
    ReviewState,
)
from pairs.review import selectors, services

from ..factories import UserFactory, make_approved, make_review_pairs


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


def test_queue_fill_takes_matching_pairs_and_marks_them_in_review(engineer, reviewers, version):
    pairs = make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers)
    assert ReviewItem.objects.filter(queue=queue).count() == 3
    assert {p.status for p in type(pairs[0]).objects.all()} == {PreferenceStatus.IN_REVIEW}
    assert services.review_queue_fill(queue=queue) == 0  # idempotent


def test_two_reviewers_fill_n_and_a_third_gets_nothing_more(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    a = services.review_next(queue=queue, reviewer=reviewers[0])
    assert services.review_next(queue=queue, reviewer=reviewers[0]).pk == a.pk  # resumes
    b = services.review_next(queue=queue, reviewer=reviewers[1])
    assert {a.slot, b.slot} == {0, 1}
    assert services.review_next(queue=queue, reviewer=reviewers[2]) is None
    services.review_submit(review=a, reviewer=reviewers[0], decision=Decision.ACCEPT)
    services.review_submit(
        review=b, reviewer=reviewers[1], decision=Decision.EDIT, edited_rejected="An edit."
    )
    item = ReviewItem.objects.get(queue=queue)
    assert item.status == ItemStatus.DECIDED and item.final_decision == Decision.ACCEPT
    pair = item.pair
    pair.refresh_from_db()
    assert pair.status == PreferenceStatus.ACCEPTED and pair.rejected == "An edit."
    assert PairRevision.objects.get(pair=pair).applied


def test_disagreement_under_unanimous_goes_to_adjudication(
    engineer, reviewers, version, admin_user
):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    a = services.review_next(queue=queue, reviewer=reviewers[0])
    b = services.review_next(queue=queue, reviewer=reviewers[1])
    services.review_submit(review=a, reviewer=reviewers[0], decision=Decision.ACCEPT)
    with pytest.raises(ValidationError):
        services.review_submit(review=b, reviewer=reviewers[1], decision=Decision.REJECT)
    services.review_submit(
        review=b, reviewer=reviewers[1], decision=Decision.REJECT, reasons=["not_broken"]
    )
    item = ReviewItem.objects.get(queue=queue)
    assert item.status == ItemStatus.CONFLICT
    with pytest.raises(PermissionDenied):
        services.review_item_adjudicate(item=item, user=engineer, decision=Decision.REJECT)
    services.review_item_adjudicate(item=item, user=admin_user, decision=Decision.REJECT)
    item.refresh_from_db()
    assert item.final_decision == Decision.REJECT
    assert item.pair.status == PreferenceStatus.REJECTED


def test_expired_reservation_frees_the_slot_and_keeps_the_draft(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=1)
    a = services.review_next(queue=queue, reviewer=reviewers[0])
    services.review_draft_save(review=a, reviewer=reviewers[0], draft={"comment": "half"})
    later = timezone.now() + timedelta(minutes=queue.reservation_minutes + 1)
    b = services.review_next(queue=queue, reviewer=reviewers[1], now=later)
    assert b is not None and b.slot == 0
    a.refresh_from_db()
    assert a.state == ReviewState.EXPIRED and a.draft["comment"] == "half"
    with pytest.raises(ValidationError):
        services.review_submit(review=a, reviewer=reviewers[0], decision=Decision.ACCEPT)


def test_aggregation_rules():
    agg = services.aggregate_decisions
    assert agg(AggregationRule.UNANIMOUS, ["accept", "edit"]) == "accept"
    assert agg(AggregationRule.UNANIMOUS, ["accept", "reject"]) is None
    assert agg(AggregationRule.MAJORITY, ["accept", "reject", "reject"]) == "reject"
    assert agg(AggregationRule.MAJORITY, ["accept", "reject"]) is None
    assert agg(AggregationRule.ANY_REJECT, ["accept", "accept", "reject"]) == "reject"
    assert agg(AggregationRule.ANY_REJECT, ["accept", "edit"]) == "accept"


def test_gold_pairs_do_not_take_slots(engineer, reviewers, version):
    gold, plain = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers, gold_rate=1.0, filters={"statuses": ["accepted"]})
    services.review_gold_add(queue=queue, user=engineer, pair=gold, decision=Decision.REJECT)
    r = services.review_next(queue=queue, reviewer=reviewers[0])
    assert r.is_gold and r.slot is None
    services.review_submit(review=r, reviewer=reviewers[0], decision=Decision.ACCEPT)
    assert Review.objects.get(pk=r.pk).state == ReviewState.SUBMITTED
    assert ReviewItem.objects.get(pk=r.item_id).taken == 0


# --- Helpers for the tests below ------------------------------------------------------------


def submit(review, user, decision, **kwargs):
    """Submit ``decision`` with what it requires (a reason to reject, an edit to edit)."""
    if decision == Decision.REJECT:
        kwargs.setdefault("reasons", ["not_broken"])
    if decision == Decision.EDIT:
        kwargs.setdefault("edited_rejected", f"An edit by {user.username}.")
    return services.review_submit(review=review, reviewer=user, decision=decision, **kwargs)


def review_once(queue, user, decision, **kwargs):
    review = services.review_next(queue=queue, reviewer=user)
    assert review is not None, f"{user.username} got no pair"
    return submit(review, user, decision, **kwargs)


def queue_pair_ids(queue) -> set[int]:
    return set(ReviewItem.objects.filter(queue=queue).values_list("pair_id", flat=True))


def error_fields(excinfo) -> set[str]:
    return set(excinfo.value.message_dict)


# --- Aggregation with three reviews ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "decisions", "status", "final"),
    [
        (AggregationRule.UNANIMOUS, ["accept", "accept", "edit"], "decided", "accept"),
        (AggregationRule.UNANIMOUS, ["reject", "reject", "reject"], "decided", "reject"),
        (AggregationRule.UNANIMOUS, ["accept", "reject", "accept"], "conflict", ""),
        (AggregationRule.MAJORITY, ["reject", "accept", "reject"], "decided", "reject"),
        (AggregationRule.MAJORITY, ["accept", "reject", "edit"], "decided", "accept"),
        (AggregationRule.MAJORITY, ["accept", "accept", "accept"], "decided", "accept"),
        (AggregationRule.ANY_REJECT, ["accept", "edit", "reject"], "decided", "reject"),
        (AggregationRule.ANY_REJECT, ["accept", "edit", "accept"], "decided", "accept"),
    ],
)
def test_every_rule_with_three_reviews(
    engineer, reviewers, version, rule, decisions, status, final
):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=3, rule=rule)
    held = [services.review_next(queue=queue, reviewer=u) for u in reviewers]
    assert sorted(r.slot for r in held) == [0, 1, 2]
    for k, (review, user, decision) in enumerate(zip(held, reviewers, decisions, strict=True)):
        submit(review, user, decision)
        item = ReviewItem.objects.get(queue=queue)
        assert item.submitted == k + 1 and item.taken == 3
        if k < 2:  # nothing is decided before the third review
            assert item.status == ItemStatus.OPEN and item.final_decision == ""
    assert item.status == status and item.final_decision == final
    assert services.aggregate_decisions(rule, decisions) == (final or None)
    item.pair.refresh_from_db()
    expected_pair = {
        "accept": PreferenceStatus.ACCEPTED,
        "reject": PreferenceStatus.REJECTED,
        "": PreferenceStatus.IN_REVIEW,
    }[final]
    assert item.pair.status == expected_pair
    if final == "accept" and "edit" in decisions:
        editor = reviewers[decisions.index("edit")]
        assert item.pair.rejected == f"An edit by {editor.username}."
        assert PairRevision.objects.filter(pair=item.pair, applied=True).count() == 1


# --- Skips ----------------------------------------------------------------------------------


def test_skip_frees_the_slot_and_the_pair_is_not_offered_again(engineer, reviewers, version):
    first, second = make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=1)
    a = services.review_next(queue=queue, reviewer=reviewers[0])
    assert a.pair_id == first.pk
    skipped = services.review_skip(review=a, reviewer=reviewers[0])
    assert skipped.state == ReviewState.SKIPPED and skipped.slot is None
    item = ReviewItem.objects.get(queue=queue, pair=first)
    assert item.taken == 0
    # The skipper moves on to the other pair and is never given the skipped one again.
    b = services.review_next(queue=queue, reviewer=reviewers[0])
    assert b.pair_id == second.pk
    submit(b, reviewers[0], Decision.ACCEPT)
    assert services.review_next(queue=queue, reviewer=reviewers[0]) is None
    # Someone else takes the freed slot.
    c = services.review_next(queue=queue, reviewer=reviewers[1])
    assert c.pair_id == first.pk and c.slot == 0
    # A submitted review cannot be skipped, and a skipped one cannot be submitted.
    submit(c, reviewers[1], Decision.ACCEPT)
    with pytest.raises(ValidationError):
        services.review_skip(review=c, reviewer=reviewers[1])
    with pytest.raises(ValidationError):
        submit(a, reviewers[0], Decision.ACCEPT)
    assert services_stats(queue)["rev0"]["skips"] == 1


# --- Privacy --------------------------------------------------------------------------------


def test_another_reviewer_cannot_touch_a_review(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    mine = services.review_next(queue=queue, reviewer=reviewers[0])
    services.review_draft_save(review=mine, reviewer=reviewers[0], draft={"comment": "mine"})
    other = reviewers[1]
    with pytest.raises(PermissionDenied):
        services.review_draft_save(review=mine, reviewer=other, draft={"comment": "theirs"})
    with pytest.raises(PermissionDenied):
        services.review_submit(review=mine, reviewer=other, decision=Decision.ACCEPT)
    with pytest.raises(PermissionDenied):
        services.review_skip(review=mine, reviewer=other)
    mine.refresh_from_db()
    assert mine.state == ReviewState.RESERVED and mine.draft["comment"] == "mine"
    assert selectors.review_for_screen(review_id=mine.pk, reviewer=other) is None
    assert selectors.review_for_screen(review_id=mine.pk, reviewer=reviewers[0]).pk == mine.pk


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": Decision.REJECT}, "reasons"),
        ({"decision": Decision.REJECT, "reasons": ["bad_reason"]}, "reasons"),
        ({"decision": Decision.REJECT, "reasons": ["other"]}, "comment"),
        ({"decision": Decision.REJECT, "reasons": ["other"], "comment": "   "}, "comment"),
        ({"decision": Decision.ACCEPT, "comment": "x" * 5001}, "comment"),
        ({"decision": Decision.EDIT}, "edited_rejected"),
        ({"decision": Decision.EDIT, "edited_rejected": "  \n "}, "edited_rejected"),
        ({"decision": Decision.EDIT, "edited_rejected": "SAME"}, "edited_rejected"),
    ],
)
def test_decision_errors_name_the_field(engineer, reviewers, version, kwargs, field):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    review = services.review_next(queue=queue, reviewer=reviewers[0])
    if kwargs.get("edited_rejected") == "SAME":
        kwargs = {**kwargs, "edited_rejected": review.pair.rejected}
    with pytest.raises(ValidationError) as excinfo:
        services.review_submit(review=review, reviewer=reviewers[0], **kwargs)
    assert error_fields(excinfo) == {field}
    review.refresh_from_db()
    assert review.state == ReviewState.RESERVED
    assert ReviewItem.objects.get(queue=queue).submitted == 0


def test_other_with_a_comment_and_a_real_edit_are_accepted(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    a = review_once(
        queue, reviewers[0], Decision.REJECT, reasons=["other", "other"], comment=" Too long. "
    )
    assert a.reasons == ["other"] and a.comment == "Too long."
    b = review_once(queue, reviewers[1], Decision.ACCEPT, reasons=["not_broken"], comment="ok")
    assert b.reasons == []  # reasons belong to rejections only


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        ({"nonsense": 1}, "draft"),
        ({"decision": "maybe"}, "decision"),
        ({"reasons": ["bad_reason"]}, "reasons"),
        ({"comment": 5}, "comment"),
        ({"active_seconds": "soon"}, "active_seconds"),
    ],
)
def test_draft_errors_name_the_field(engineer, reviewers, version, draft, field):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    review = services.review_next(queue=queue, reviewer=reviewers[0])
    with pytest.raises(ValidationError) as excinfo:
        services.review_draft_save(review=review, reviewer=reviewers[0], draft=draft)
    assert error_fields(excinfo) == {field}


# --- Time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "expected"),
    [(None, 30.0), (12.5, 12.5), (1000, 30.0), (-5, 0.0)],
)
def test_time_spent_is_recorded_and_clamped_to_wall_time(
    engineer, reviewers, version, active, expected
):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers)
    review = services.review_next(queue=queue, reviewer=reviewers[0])
    done = services.review_submit(
        review=review,
        reviewer=reviewers[0],
        decision=Decision.ACCEPT,
        active_seconds=active,
        now=review.reserved_at + timedelta(seconds=30),
    )
    assert done.seconds_spent == pytest.approx(expected)
    stats = services_stats(queue)[reviewers[0].username]
    assert stats["median_seconds"] == pytest.approx(expected)


def services_stats(queue) -> dict:
    return {s["name"]: s for s in selectors.reviewer_stats(queue=queue)}


def test_saving_a_draft_renews_the_reservation(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=1, reservation_minutes=20)
    t0 = timezone.now()
    review = services.review_next(queue=queue, reviewer=reviewers[0], now=t0)
    assert review.reserved_until == t0 + timedelta(minutes=20)
    services.review_draft_save(
        review=review,
        reviewer=reviewers[0],
        draft={"decision": "accept", "active_seconds": 60},
        now=t0 + timedelta(minutes=15),
    )
    review.refresh_from_db()
    assert review.reserved_until == t0 + timedelta(minutes=35)
    assert review.draft["decision"] == "accept" and review.draft["active_seconds"] == 60.0
    # Past the first deadline, before the renewed one: the pair is still held.
    assert (
        services.review_next(queue=queue, reviewer=reviewers[1], now=t0 + timedelta(minutes=25))
        is None
    )
    review.refresh_from_db()
    assert review.state == ReviewState.RESERVED
    # The reviewer resumes it.
    again = services.review_next(queue=queue, reviewer=reviewers[0], now=t0 + timedelta(minutes=25))
    assert again.pk == review.pk
    # Past the renewed deadline another reviewer gets the slot.
    other = services.review_next(queue=queue, reviewer=reviewers[1], now=t0 + timedelta(minutes=36))
    assert other is not None and other.slot == 0
    review.refresh_from_db()
    assert review.state == ReviewState.EXPIRED and review.draft["decision"] == "accept"
    # A draft can still be saved on the expired review (kept for its reviewer) but it is not
    # renewed, and the slot stays with the other reviewer.
    services.review_draft_save(
        review=review,
        reviewer=reviewers[0],
        draft={"comment": "later"},
        now=t0 + timedelta(minutes=40),
    )
    review.refresh_from_db()
    assert review.state == ReviewState.EXPIRED and review.draft["comment"] == "later"


def test_an_expired_reservation_is_taken_back_on_submit_when_a_slot_is_free(
    engineer, reviewers, version
):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=2)
    t0 = timezone.now()
    late = services.review_next(queue=queue, reviewer=reviewers[0], now=t0)
    assert late.slot == 0
    later = t0 + timedelta(minutes=queue.reservation_minutes + 1)
    # Someone else asks for a pair after the deadline: the slot is freed and taken.
    other = services.review_next(queue=queue, reviewer=reviewers[1], now=later)
    assert other.slot == 0
    late.refresh_from_db()
    assert late.state == ReviewState.EXPIRED and late.slot is None
    assert ReviewItem.objects.get(queue=queue).taken == 1
    # The late reviewer submits: slot 1 is still free, so they get it back.
    done = submit(late, reviewers[0], Decision.ACCEPT, now=later)
    assert done.state == ReviewState.SUBMITTED and done.slot == 1
    item = ReviewItem.objects.get(queue=queue)
    assert (item.taken, item.submitted, item.status) == (2, 1, ItemStatus.OPEN)
    submit(other, reviewers[1], Decision.ACCEPT, now=later)
    item.refresh_from_db()
    assert item.status == ItemStatus.DECIDED and item.final_decision == Decision.ACCEPT


def test_an_expired_reservation_alone_is_taken_back_on_submit(engineer, reviewers, version):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=1)
    t0 = timezone.now()
    review = services.review_next(queue=queue, reviewer=reviewers[0], now=t0)
    later = t0 + timedelta(minutes=queue.reservation_minutes + 5)
    assert services.review_expire_stale(queue=queue, now=later) == 1
    assert ReviewItem.objects.get(queue=queue).taken == 0
    done = submit(review, reviewers[0], Decision.REJECT, now=later)
    assert done.state == ReviewState.SUBMITTED and done.slot == 0
    item = ReviewItem.objects.get(queue=queue)
    assert (item.taken, item.submitted, item.final_decision) == (1, 1, Decision.REJECT)


def test_submitting_an_old_expired_review_after_taking_the_pair_again(engineer, reviewers, version):
    """Regression: this used to break review_once_per_reviewer (an IntegrityError, a 500)."""
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=2)
    t0 = timezone.now()
    old = services.review_next(queue=queue, reviewer=reviewers[0], now=t0)
    later = t0 + timedelta(minutes=queue.reservation_minutes + 1)
    # The reservation ran out; the same reviewer asks again (say in a new tab) and is given
    # the same pair in a new review, because expired reviews do not count as seen.
    new = services.review_next(queue=queue, reviewer=reviewers[0], now=later)
    assert new.pk != old.pk and new.item_id == old.item_id
    # Submitting the old tab must be refused cleanly (or be folded into the new review).
    with pytest.raises(ValidationError):
        submit(old, reviewers[0], Decision.ACCEPT, now=later)
    old.refresh_from_db()
    assert old.state == ReviewState.EXPIRED
    item = ReviewItem.objects.get(queue=queue)
    assert (item.taken, item.submitted) == (1, 0)
    # The new review is the one that counts.
    submit(new, reviewers[0], Decision.ACCEPT, now=later)
    item.refresh_from_db()
    assert (item.taken, item.submitted) == (1, 1)


# --- Gold -----------------------------------------------------------------------------------


def test_gold_accuracy_in_reviewer_stats(engineer, reviewers, version):
    gold_reject, gold_accept, plain = make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers, gold_rate=1.0)
    services.review_gold_add(queue=queue, user=engineer, pair=gold_reject, decision="reject")
    services.review_gold_add(queue=queue, user=engineer, pair=gold_accept, decision="accept")
    user = reviewers[0]
    first = services.review_next(queue=queue, reviewer=user)
    assert first.is_gold and first.pair_id == gold_reject.pk
    submit(first, user, Decision.REJECT)  # right
    second = services.review_next(queue=queue, reviewer=user)
    assert second.is_gold and second.pair_id == gold_accept.pk
    submit(second, user, Decision.REJECT)  # wrong
    third = services.review_next(queue=queue, reviewer=user)
    assert not third.is_gold and third.pair_id == plain.pk
    submit(third, user, Decision.EDIT)  # counts as accept
    stats = services_stats(queue)[user.username]
    assert stats["gold_total"] == 2 and stats["gold_accuracy"] == pytest.approx(0.5)
    assert stats["reviews"] == 1 and stats["accept_rate"] == 1.0
    # Gold pairs never take slots or get decided.
    for item in ReviewItem.objects.filter(queue=queue, is_gold=True):
        assert (item.taken, item.submitted, item.status) == (0, 0, ItemStatus.OPEN)
    # A second reviewer answering both right has accuracy 1.
    other = reviewers[1]
    for expected in ("reject", "accept"):
        r = services.review_next(queue=queue, reviewer=other)
        assert r.is_gold
        submit(r, other, expected)
    assert services_stats(queue)[other.username]["gold_accuracy"] == 1.0
    assert services_stats(queue)[other.username]["reviews"] == 0


# --- Queue settings -------------------------------------------------------------------------


def test_n_cannot_be_lowered_below_reviews_given(engineer, reviewers, version):
    make_review_pairs(2, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=3)
    submit(services.review_next(queue=queue, reviewer=reviewers[0]), reviewers[0], "accept")
    services.review_next(queue=queue, reviewer=reviewers[1])  # a reservation counts too
    with pytest.raises(ValidationError) as excinfo:
        services.review_queue_update(queue=queue, user=engineer, reviews_required=1)
    assert error_fields(excinfo) == {"reviews_required"}
    queue.refresh_from_db()
    assert queue.reviews_required == 3
    with pytest.raises(PermissionDenied):
        services.review_queue_update(queue=queue, user=reviewers[0], reviews_required=4)
    with pytest.raises(ValidationError) as excinfo:
        services.review_queue_update(queue=queue, user=engineer, slot=5)
    assert error_fields(excinfo) == {"slot"}
    with pytest.raises(ValidationError) as excinfo:
        services.review_queue_update(queue=queue, user=engineer, reviews_required=11)
    assert error_fields(excinfo) == {"reviews_required"}
    services.review_queue_update(queue=queue, user=engineer, reviews_required=2)
    queue.refresh_from_db()
    assert queue.reviews_required == 2
    services.review_queue_update(queue=queue, user=engineer, reviews_required=4)
    queue.refresh_from_db()
    assert queue.reviews_required == 4
    with pytest.raises(ValidationError) as excinfo:
        services.review_queue_update(queue=queue, user=engineer, reviewers=[*reviewers, engineer])
    assert error_fields(excinfo) == {"reviewers"}


def test_lowering_n_to_the_reviews_submitted_decides_the_item(engineer, reviewers, version):
    """Regression: the item used to stay open for ever (no slot free, nothing aggregated)."""
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=3)
    review_once(queue, reviewers[0], Decision.ACCEPT)
    review_once(queue, reviewers[1], Decision.ACCEPT)
    services.review_queue_update(queue=queue, user=engineer, reviews_required=2)  # allowed
    item = ReviewItem.objects.get(queue=queue)
    assert services.review_next(queue=queue, reviewer=reviewers[2]) is None  # no slot is free
    assert item.status == ItemStatus.DECIDED  # ... so it must be decided now


def test_closed_queue_and_unassigned_reviewer(engineer, reviewers, version, reviewer):
    make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers[:1])
    with pytest.raises(PermissionDenied):
        services.review_next(queue=queue, reviewer=reviewers[1])
    with pytest.raises(PermissionDenied):
        services.review_next(queue=queue, reviewer=engineer)  # not a reviewer, not assigned
    services.review_queue_update(queue=queue, user=engineer, is_active=False)
    with pytest.raises(ValidationError):
        services.review_next(queue=queue, reviewer=reviewers[0])
    with pytest.raises(ValidationError) as excinfo:
        make_queue(engineer, [reviewer, engineer])
    assert error_fields(excinfo) == {"reviewers"}
    with pytest.raises(ValidationError) as excinfo:
        services.review_queue_create(name="  ", created_by=engineer)
    assert error_fields(excinfo) == {"name"}
    with pytest.raises(PermissionDenied):
        services.review_queue_create(name="Mine", created_by=reviewer)


# --- Filters --------------------------------------------------------------------------------


@pytest.fixture
def two_versions(author, admin_user):
    first = make_approved(author, admin_user, task="content_writing", title="First")
    second = make_approved(author, admin_user, task="content_writing", title="Second")
    return first.approved_version, second.approved_version


def test_filters_select_the_right_pairs(engineer, reviewers, two_versions):
    v1, v2 = two_versions

    def metrics(edit_ratio, char_similarity=0.9):
        return {
            "char_similarity": char_similarity,
            "edit_ratio": edit_ratio,
            "sentences_changed": 1,
            "length_ratio": 1.0,
            "identical": False,
        }

    low = make_review_pairs(1, principle_version=v1, metrics=metrics(0.05))[0]
    mid = make_review_pairs(1, principle_version=v1, metrics=metrics(0.2), flagged=True)[0]
    high = make_review_pairs(1, principle_version=v2, metrics=metrics(0.5, 0.4))[0]
    chinese = make_review_pairs(2, principle_version=v2, language="zh", metrics=metrics(0.1))
    zh = {p.pk for p in chinese}
    every = {low.pk, mid.pk, high.pk} | zh

    def selected(filters):
        return queue_pair_ids(make_queue(engineer, reviewers, filters=filters))

    assert selected({}) == every
    assert selected({"metric_ranges": {"edit_ratio": [0.1, 0.3]}}) == {mid.pk} | zh
    assert selected({"metric_ranges": {"edit_ratio": [None, 0.1]}}) == {low.pk} | zh
    assert selected({"metric_ranges": {"edit_ratio": [0.3, None]}}) == {high.pk}
    assert selected({"metric_ranges": {"char_similarity": ["0.5", 1]}}) == every - {high.pk}
    assert selected({"metric_ranges": {"edit_ratio": [None, None]}}) == every
    assert selected({"languages": ["zh"]}) == zh
    assert selected({"languages": "en"}) == {low.pk, mid.pk, high.pk}
    assert selected({"principles": [v1.principle_id]}) == {low.pk, mid.pk}
    assert selected({"principles": [str(v2.principle_id)]}) == {high.pk} | zh
    assert selected({"principle_versions": [v1.pk]}) == {low.pk, mid.pk}
    assert selected({"flagged": True}) == {mid.pk}
    assert selected({"flagged": False}) == every - {mid.pk}
    assert selected({"principles": [v2.principle_id], "languages": ["en"]}) == {high.pk}
    assert selected({"statuses": ["accepted"]}) == set()
    # The filters are stored cleaned.
    queue = make_queue(
        engineer, reviewers, filters={"languages": "zh", "principles": [str(v2.principle_id)]}
    )
    assert queue.filters["languages"] == ["zh"]
    assert queue.filters["principles"] == [v2.principle_id]


def test_a_pair_without_a_rejected_response_is_never_queued(engineer, reviewers, version):
    empty, full = make_review_pairs(2, principle_version=version)
    type(empty).objects.filter(pk=empty.pk).update(rejected="")
    assert queue_pair_ids(make_queue(engineer, reviewers)) == {full.pk}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ("everything", "filters"),
        ({"colour": "red"}, "filters"),
        ({"metric_ranges": {"beauty": [0, 1]}}, "metric_ranges.beauty"),
        ({"metric_ranges": {"edit_ratio": [0.9, 0.1]}}, "metric_ranges.edit_ratio"),
        ({"metric_ranges": {"edit_ratio": ["low", 1]}}, "metric_ranges.edit_ratio"),
        ({"metric_ranges": {"edit_ratio": [0.1]}}, "metric_ranges.edit_ratio"),
        ({"metric_ranges": [0, 1]}, "metric_ranges"),
        ({"languages": [12]}, "languages"),
        ({"languages": ["a-very-long-code"]}, "languages"),
        ({"principles": ["first"]}, "principles"),
        ({"principles": [True]}, "principles"),
        ({"domains": ["x"]}, "domains"),
        ({"flagged": "yes"}, "flagged"),
        ({"statuses": ["failed"]}, "statuses"),
        ({"judge": ["maybe"]}, "judge"),
    ],
)
def test_bad_filters_name_the_field(engineer, reviewers, version, filters, field):
    make_review_pairs(1, principle_version=version)
    with pytest.raises(ValidationError) as excinfo:
        make_queue(engineer, reviewers, filters=filters)
    assert error_fields(excinfo) == {field}
    assert not ReviewItem.objects.exists()


# --- Agreement, feedback and who sees what --------------------------------------------------


def test_queue_agreement_on_a_small_hand_computed_set(engineer, reviewers, two_versions):
    v1, v2 = two_versions
    make_review_pairs(2, principle_version=v1)  # items 1, 2
    make_review_pairs(2, principle_version=v2)  # items 3, 4
    queue = make_queue(engineer, reviewers, reviews_required=2)
    a, b, c = reviewers
    # A reviews all four, B the first two, C the last two (the first two are full).
    for decision in ("accept", "accept", "reject", "edit"):
        review_once(queue, a, decision)
    for decision in ("accept", "reject"):
        review_once(queue, b, decision)
    for decision in ("reject", "accept"):
        review_once(queue, c, decision)
    assert services.review_next(queue=queue, reviewer=c) is None
    # Units (edit counts as accept): 1 {A: acc, B: acc}, 2 {A: acc, B: rej},
    # 3 {A: rej, C: rej}, 4 {A: acc, C: acc}.
    statuses = list(ReviewItem.objects.filter(queue=queue).values_list("status", flat=True))
    assert statuses == ["decided", "conflict", "decided", "decided"]
    result = selectors.queue_agreement(queue=queue)
    # Queue: 3 of 4 units agree. Alpha: n = 8 values, accept 5, reject 3; 2 off-diagonal
    # coincidences (unit 2); expected 2 * 5 * 3 = 30: alpha = 1 - 7 * 2 / 30 = 8 / 15.
    assert result["queue"]["items"] == 4
    assert result["queue"]["percent"] == pytest.approx(0.75)
    assert result["queue"]["alpha"] == pytest.approx(8 / 15)
    # A and B share units 1, 2: agree on 1 of 2. Kappa: p_o = 0.5; A accepts 2 of 2, B 1 of 2:
    # p_e = (2 * 1 + 0 * 1) / 4 = 0.5, kappa = 0. A and C share 3, 4 and agree on both:
    # p_o = 1, p_e = (1 * 1 + 1 * 1) / 4 = 0.5, kappa = 1. B and C share nothing.
    pairs = {frozenset((p["a"], p["b"])): p for p in result["pairs"]}
    assert set(pairs) == {frozenset(("rev0", "rev1")), frozenset(("rev0", "rev2"))}
    ab, ac = pairs[frozenset(("rev0", "rev1"))], pairs[frozenset(("rev0", "rev2"))]
    assert (ab["items"], ab["percent"], ab["kappa"]) == (2, 0.5, pytest.approx(0.0))
    assert (ac["items"], ac["percent"], ac["kappa"]) == (2, 1.0, pytest.approx(1.0))
    # Per principle. First (units 1, 2): n = 4, accept 3, reject 1, 2 off-diagonal, expected
    # 2 * 3 * 1 = 6: alpha = 1 - 3 * 2 / 6 = 0. Second (units 3, 4): full agreement, alpha 1.
    by_title = {p["title"]: p for p in result["principles"]}
    assert [p["id"] for p in result["principles"]] == [v1.principle_id, v2.principle_id]
    assert by_title["First"]["items"] == 2
    assert by_title["First"]["percent"] == 0.5
    assert by_title["First"]["alpha"] == pytest.approx(0.0)
    assert by_title["Second"]["percent"] == 1.0
    assert by_title["Second"]["alpha"] == pytest.approx(1.0)
    # Reviewers: A 4 reviews, 3 accepts; B and C 2 reviews, 1 accept each.
    stats = {s["name"]: s for s in result["reviewers"]}
    assert (stats["rev0"]["reviews"], stats["rev0"]["accept_rate"]) == (4, 0.75)
    assert (stats["rev1"]["reviews"], stats["rev1"]["accept_rate"]) == (2, 0.5)
    assert (stats["rev2"]["reviews"], stats["rev2"]["accept_rate"]) == (2, 0.5)


def test_queue_agreement_of_an_empty_queue(engineer, reviewers, version):
    queue = make_queue(engineer, reviewers)
    result = selectors.queue_agreement(queue=queue)
    assert result["queue"] == {"items": 0, "percent": None, "alpha": None}
    assert result["pairs"] == [] and result["principles"] == [] and result["reviewers"] == []


def test_principle_feedback_share_reasons_and_flag(
    engineer, reviewers, author, author2, admin_user, settings
):
    settings.WEAVER_REVIEW_FLAG_RATE = 0.5
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 2
    often = make_approved(author, admin_user, task="content_writing", title="Often rejected")
    fine = make_approved(author, admin_user, task="content_writing", title="Fine")
    rare = make_approved(author2, admin_user, task="content_writing", title="Rarely seen")
    often_pairs = make_review_pairs(3, principle_version=often.approved_version)
    make_review_pairs(2, principle_version=fine.approved_version)
    make_review_pairs(1, principle_version=rare.approved_version)
    queue = make_queue(engineer, reviewers, reviews_required=1)
    user = reviewers[0]
    review_once(queue, user, Decision.REJECT, reasons=["not_broken", "changes_more"])
    review_once(queue, user, Decision.REJECT, reasons=["not_broken"])
    review_once(queue, user, Decision.ACCEPT)
    review_once(queue, user, Decision.ACCEPT)
    review_once(queue, user, Decision.EDIT)
    review_once(queue, user, Decision.REJECT, reasons=["other"], comment="Off topic.")
    feedback = selectors.principle_feedback()
    # Flagged first, then by share rejected: often (2 / 3, flagged: 3 >= 2 pairs and
    # 0.67 >= 0.5), rare (1 / 1 but only 1 pair: not flagged), fine (0 / 2).
    assert [f["principle"].pk for f in feedback] == [often.pk, rare.pk, fine.pk]
    first, second, third = feedback
    assert (first["decided"], first["rejected"], first["flagged"]) == (3, 2, True)
    assert first["share"] == pytest.approx(2 / 3)
    assert [(r["code"], r["count"]) for r in first["reasons"]] == [
        ("not_broken", 2),
        ("changes_more", 1),
    ]
    assert [p.pk for p in first["examples"]] == [often_pairs[1].pk, often_pairs[0].pk]
    assert (second["decided"], second["share"], second["flagged"]) == (1, 1.0, False)
    assert second["reasons"] == [{"code": "other", "label": "Other (comment)", "count": 1}]
    assert second["examples"] == []
    assert (third["decided"], third["share"], third["flagged"], third["reasons"]) == (
        2,
        0.0,
        False,
        [],
    )
    # One author's principles only.
    assert [f["principle"].pk for f in selectors.principle_feedback(owner=author2)] == [rare.pk]
    assert [f["principle"].pk for f in selectors.principle_feedback(principle_ids=[fine.pk])] == [
        fine.pk
    ]
    # The threshold comes from the settings.
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 1
    assert [f["flagged"] for f in selectors.principle_feedback()] == [True, True, False]
    settings.WEAVER_REVIEW_FLAG_RATE = 0.9
    settings.WEAVER_REVIEW_FLAG_MIN_PAIRS = 5
    assert not any(f["flagged"] for f in selectors.principle_feedback())


def test_principle_feedback_counts_decided_pairs_only(engineer, reviewers, version):
    make_review_pairs(3, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=2)
    a, b = reviewers[:2]
    review_once(queue, a, Decision.REJECT, reasons=["not_broken"])  # item 1
    assert selectors.principle_feedback() == []  # nothing decided yet
    review_once(queue, a, Decision.ACCEPT)  # item 2
    review_once(queue, a, Decision.REJECT, reasons=["changes_more"])  # item 3
    review_once(queue, b, Decision.REJECT, reasons=["not_broken", "chosen_poor"])  # 1: reject
    review_once(queue, b, Decision.REJECT, reasons=["wrong_principle"])  # 2: conflict
    statuses = list(ReviewItem.objects.filter(queue=queue).values_list("status", flat=True))
    assert statuses == ["decided", "conflict", "open"]
    (row,) = selectors.principle_feedback()
    assert (row["decided"], row["rejected"], row["share"]) == (1, 1, 1.0)
    # Only the reasons given for pairs that ended up rejected count.
    assert {r["code"]: r["count"] for r in row["reasons"]} == {"not_broken": 2, "chosen_poor": 1}


def test_reviewers_see_only_their_queues(engineer, admin_user, reviewers, version):
    make_review_pairs(1, principle_version=version)
    mine = make_queue(engineer, reviewers[:1])
    theirs = make_queue(engineer, reviewers[1:])
    nobody = make_queue(engineer, [])
    assert list(selectors.review_queues_for(user=reviewers[0])) == [mine]
    assert set(selectors.review_queues_for(user=reviewers[1])) == {theirs}
    assert set(selectors.review_queues_for(user=engineer)) == {mine, theirs, nobody}
    assert set(selectors.review_queues_for(user=admin_user)) == {mine, theirs, nobody}
    assert selectors.review_queue_get(user=reviewers[0], pk=theirs.pk) is None
    assert selectors.review_queue_get(user=reviewers[0], pk=mine.pk) == mine
    assert selectors.review_queue_get(user=engineer, pk=nobody.pk) == nobody
    with pytest.raises(PermissionDenied):
        services.review_next(queue=theirs, reviewer=reviewers[0])
    # Reassigning moves the queue.
    services.review_queue_update(queue=theirs, user=engineer, reviewers=[reviewers[0]])
    assert set(selectors.review_queues_for(user=reviewers[0])) == {mine, theirs}
    assert list(selectors.review_queues_for(user=reviewers[1])) == []


@pytest.mark.django_db(transaction=True)
def test_a_large_queue_is_filled_by_a_real_celery_worker(
    celery_worker_process, reference_data, settings
):
    """Over WEAVER_REVIEW_SYNC_FILL_MAX pairs, creating a queue leaves the filling to a worker
    on the default queue."""
    from pairs.models import PreferencePair
    from tests.conftest import wait_for

    author = UserFactory(username="wanda", roles=["Author"])
    admin = UserFactory(username="wes", roles=["Admin"])
    engineer = UserFactory(username="wyn", roles=["Engineer"])
    version = make_approved(author, admin, task="content_writing").approved_version
    make_review_pairs(3, principle_version=version)
    settings.WEAVER_REVIEW_SYNC_FILL_MAX = 2
    worker = celery_worker_process(queues="default", name="review-fill")
    queue = services.review_queue_create(name="Big", created_by=engineer, reviews_required=1)
    assert queue.refreshed_at is None  # not filled in the request

    def filled():
        queue.refresh_from_db()
        return queue.refreshed_at and ReviewItem.objects.filter(queue=queue).count() == 3

    try:
        wait_for(filled, timeout=90, interval=0.5, message="the queue to be filled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_path.read_text()[-3000:]}") from None
    assert "review.fill" in worker.log_path.read_text()
    assert set(PreferencePair.objects.values_list("status", flat=True)) == {"in_review"}


def test_a_pair_decided_by_hand_leaves_its_queues(engineer, admin_user, reviewers, version):
    """The admin's bulk accept/reject closes the pair's open review items, so no later review
    undoes it and reviewers are not given it again."""
    from pairs.services import preference_pairs_set_status

    (pair,) = make_review_pairs(1, principle_version=version)
    queue = make_queue(engineer, reviewers, reviews_required=2)
    held = services.review_next(queue=queue, reviewer=reviewers[0])
    assert preference_pairs_set_status(pair_ids=[pair.pk], status="rejected", user=admin_user)
    item = ReviewItem.objects.get(queue=queue)
    assert (item.status, item.final_decision) == (ItemStatus.DECIDED, Decision.REJECT)
    assert services.review_next(queue=queue, reviewer=reviewers[1]) is None
    with pytest.raises(ValidationError):
        services.review_submit(review=held, reviewer=reviewers[0], decision=Decision.ACCEPT)
    pair.refresh_from_db()
    assert pair.status == PreferenceStatus.REJECTED
