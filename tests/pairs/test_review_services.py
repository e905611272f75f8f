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
from pairs.review import services

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
