"""Reviewers racing for pairs: N is never exceeded and no slot is held twice.

Eight reviewer threads (each with its own database connection) start together and loop
"next pair, then submit" until the queue has nothing more for them; some skip, some walk away
from a reservation and come back after it ran out (their clock is moved on with ``now=``, so
they also expire the other threads' live reservations and force slot reuse). A monitor thread
checks the invariants on consistent snapshots while they run, and the final state is checked
against them afterwards. One variant also lines the threads up on a barrier before every
action, so that submits, skips and claims race each other.

Runs on SQLite (IMMEDIATE transactions, 30 s busy timeout: writers wait) and PostgreSQL.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from pairs.models import (
    ACTIVE_STATES,
    AggregationRule,
    Decision,
    ItemStatus,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from pairs.review import services

from ..factories import UserFactory, make_approved, make_review_pairs

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
PAIRS = 20
#: Share of reservations skipped, and walked away from (then submitted late), per thread.
SKIP_SHARE = 0.1
ABANDON_SHARE = 0.12
#: Safety net: no thread does more than this many steps.
MAX_STEPS = 200


class Rounds:
    """A reusable barrier that threads can leave: a finished thread is no longer waited for."""

    def __init__(self, parties: int):
        self._cond = threading.Condition()
        self._parties = parties
        self._arrived = 0
        self._generation = 0

    def wait(self, timeout: float = 30.0) -> None:
        with self._cond:
            generation = self._generation
            self._arrived += 1
            if self._arrived >= self._parties:
                self._release()
                return
            if not self._cond.wait_for(lambda: self._generation != generation, timeout):
                raise TimeoutError("a round never filled")

    def leave(self) -> None:
        with self._cond:
            self._parties -= 1
            if self._parties and self._arrived >= self._parties:
                self._release()

    def _release(self) -> None:
        self._arrived = 0
        self._generation += 1
        self._cond.notify_all()


@dataclass
class Outcome:
    errors: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    submitted: list = field(default_factory=list)  # review ids whose submit succeeded
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str, k: int = 1) -> None:
        with self.lock:
            self.counts[key] += k


def _decide(rng: random.Random) -> dict:
    decision = rng.choice([Decision.ACCEPT, Decision.ACCEPT, Decision.REJECT, Decision.EDIT])
    if decision == Decision.REJECT:
        return {"decision": decision, "reasons": [rng.choice(["not_broken", "chosen_poor"])]}
    if decision == Decision.EDIT:
        return {"decision": decision, "edited_rejected": f"Edited {rng.random()}."}
    return {"decision": decision}


def _submit(review, user, rng, now, outcome: Outcome, *, late: bool) -> None:
    try:
        done = services.review_submit(review=review, reviewer=user, now=now, **_decide(rng))
    except ValidationError:
        # Refusing is right only when the reservation ran out (and the slot went elsewhere,
        # or the pair got decided meanwhile); a live reservation must always be accepted.
        state = Review.objects.filter(pk=review.pk).values_list("state", flat=True).first()
        if state != ReviewState.EXPIRED:
            outcome.errors.append(
                f"submit of review {review.pk} refused in state {state}:\n" + traceback.format_exc()
            )
        outcome.count("late_refused" if late else "refused_after_expiry")
        return
    assert done.state == ReviewState.SUBMITTED
    with outcome.lock:
        outcome.submitted.append(done.pk)
    outcome.count("late_submitted" if late else "submitted")


def reviewer_loop(k, user_pk, queue_pk, start, rounds, outcome: Outcome) -> None:
    rng = random.Random(7919 * (k + 1))
    offset = timedelta(0)  # how far this reviewer's clock has been moved on
    try:
        user = get_user_model().objects.get(pk=user_pk)
        queue = ReviewQueue.objects.get(pk=queue_pk)
        start.wait(timeout=30)
        for _step in range(MAX_STEPS):
            review = services.review_next(queue=queue, reviewer=user, now=timezone.now() + offset)
            if review is None:
                break
            outcome.count("reserved")
            roll = rng.random()
            if rounds is not None:
                rounds.wait()
            if roll < SKIP_SHARE:
                services.review_skip(review=review, reviewer=user)
                outcome.count("skipped")
            elif roll < SKIP_SHARE + ABANDON_SHARE:
                # Walk away past the deadline; asking for the next pair then frees every
                # reservation that ran out by this clock (others' too). Come back and submit.
                offset += timedelta(minutes=queue.reservation_minutes + 1)
                outcome.count("abandoned")
                freed = services.review_expire_stale(queue=queue, now=timezone.now() + offset)
                outcome.count("expired_by_me", freed)
                time.sleep(rng.random() / 100)  # let someone take the freed slot, sometimes
                _submit(review, user, rng, timezone.now() + offset, outcome, late=True)
            else:
                _submit(review, user, rng, timezone.now() + offset, outcome, late=False)
        else:
            outcome.errors.append(f"reviewer {k} did not finish in {MAX_STEPS} steps")
    except Exception:
        outcome.errors.append(f"reviewer {k}:\n{traceback.format_exc()}")
    finally:
        if rounds is not None:
            rounds.leave()
        connection.close()


def snapshot_violations(queue_pk: int, n: int) -> list[str]:
    """Invariants that must hold at every moment, checked on one consistent read each."""
    problems = []
    rows = (
        ReviewItem.objects.filter(queue_id=queue_pk, is_gold=False)
        .annotate(
            active=Count("reviews", filter=Q(reviews__state__in=ACTIVE_STATES)),
            done=Count("reviews", filter=Q(reviews__state=ReviewState.SUBMITTED)),
        )
        .values_list("pk", "taken", "submitted", "active", "done")
    )
    for pk, taken, submitted, active, done in rows:
        if not (taken == active <= n and submitted == done <= n):
            problems.append(
                f"item {pk}: taken {taken}, active {active}, submitted {submitted}, done {done}"
            )
    slots = (
        Review.objects.filter(queue_id=queue_pk, state__in=ACTIVE_STATES, slot__isnull=False)
        .values("item_id", "slot")
        .annotate(k=Count("id"))
        .filter(k__gt=1)
    )
    problems += [f"slot held twice: {row}" for row in slots]
    return problems


def monitor(queue_pk, n, stop: threading.Event, outcome: Outcome) -> None:
    try:
        while not stop.is_set():
            problems = snapshot_violations(queue_pk, n)
            outcome.count("snapshots")
            if problems:
                outcome.errors.append("during the run: " + "; ".join(problems[:5]))
                return
            time.sleep(0.005)
    except Exception:
        outcome.errors.append(f"monitor:\n{traceback.format_exc()}")
    finally:
        connection.close()


def run_reviewers(queue, users, *, race: bool) -> Outcome:
    outcome = Outcome()
    start = threading.Barrier(len(users))
    rounds = Rounds(len(users)) if race else None
    stop = threading.Event()
    watcher = threading.Thread(
        target=monitor, args=(queue.pk, queue.reviews_required, stop, outcome)
    )
    threads = [
        threading.Thread(target=reviewer_loop, args=(k, u.pk, queue.pk, start, rounds, outcome))
        for k, u in enumerate(users)
    ]
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    watcher.join(timeout=30)
    assert not any(t.is_alive() for t in [*threads, watcher]), "a thread hung"
    return outcome


def assert_consistent(queue, users, outcome: Outcome) -> None:
    n = queue.reviews_required
    assert snapshot_violations(queue.pk, n) == []
    items = {i.pk: i for i in ReviewItem.objects.filter(queue=queue)}
    reviews = list(Review.objects.filter(queue=queue))
    submitted = defaultdict(list)
    active = Counter()
    per_reviewer = Counter()
    per_slot = Counter()
    for r in reviews:
        assert not r.is_gold
        if r.state in ACTIVE_STATES:
            active[r.item_id] += 1
            per_reviewer[r.item_id, r.reviewer_id] += 1
            assert r.slot is not None and 0 <= r.slot < n, r
            per_slot[r.item_id, r.slot] += 1
        else:
            assert r.slot is None, r
        if r.state == ReviewState.SUBMITTED:
            submitted[r.item_id].append(r)
    assert max(per_slot.values(), default=0) <= 1, "one slot reserved to two reviewers"
    assert max(per_reviewer.values(), default=0) <= 1, "a reviewer holds one pair twice"
    for pk, item in items.items():
        subs = sorted(submitted[pk], key=lambda r: (r.submitted_at, r.pk))
        assert len(subs) <= n, f"item {pk} has {len(subs)} reviews, N = {n}"
        assert item.submitted == len(subs), (pk, item.submitted, len(subs))
        assert item.taken == active[pk], (pk, item.taken, active[pk])
        if item.status == ItemStatus.OPEN:
            assert len(subs) < n and item.final_decision == ""
            continue
        assert len(subs) == n
        expected = services.aggregate_decisions(queue.rule, [r.decision for r in subs])
        if item.status == ItemStatus.CONFLICT:
            assert expected is None and item.final_decision == ""
        else:
            assert item.final_decision == expected
            item.pair.refresh_from_db()
            assert item.pair.status == expected + "ed"  # accepted / rejected
    total = sum(i.submitted for i in items.values())
    assert total == sum(len(v) for v in submitted.values())
    assert sorted(outcome.submitted) == sorted(r.pk for v in submitted.values() for r in v)
    assert outcome.counts["reserved"] == len(reviews)


def drain(queue, users) -> int:
    """Let every reviewer, one at a time, take what the queue still holds for them."""
    done = 0
    progress = True
    while progress:
        progress = False
        for user in users:
            review = services.review_next(queue=queue, reviewer=user)
            if review is not None:
                services.review_submit(review=review, reviewer=user, decision=Decision.ACCEPT)
                done += 1
                progress = True
    return done


@pytest.mark.parametrize(
    ("n", "rule", "race"),
    [
        (2, AggregationRule.UNANIMOUS, False),
        (3, AggregationRule.MAJORITY, False),
        (2, AggregationRule.ANY_REJECT, True),
        (3, AggregationRule.UNANIMOUS, True),
    ],
    ids=["n2-unanimous", "n3-majority", "n2-any-reject-race", "n3-unanimous-race"],
)
def test_racing_reviewers_never_exceed_n_nor_share_a_slot(reference_data, n, rule, race):
    author = UserFactory(username="alice", roles=["Author"])
    admin = UserFactory(username="ada", roles=["Admin"])
    engineer = UserFactory(username="ed", roles=["Engineer"])
    users = [UserFactory(username=f"racer{k}", roles=["Reviewer"]) for k in range(THREADS)]
    version = make_approved(author, admin, task="content_writing").approved_version
    make_review_pairs(PAIRS, principle_version=version)
    queue = services.review_queue_create(
        name="Race", created_by=engineer, reviewers=users, reviews_required=n, rule=rule
    )

    started = time.monotonic()
    outcome = run_reviewers(queue, users, race=race)
    elapsed = time.monotonic() - started
    assert outcome.errors == [], "\n\n".join(outcome.errors)
    assert_consistent(queue, users, outcome)
    c = outcome.counts
    # The run did exercise what it is meant to.
    assert c["submitted"] + c["late_submitted"] >= PAIRS
    assert c["skipped"] and c["abandoned"] and c["snapshots"]

    # Liveness: a reviewer is told "nothing more" only when the claims kept failing under
    # contention; whatever is left is finished one at a time, and then nothing is left.
    leftover = drain(queue, users)
    assert_consistent(queue, users, outcome_with_drain(outcome, queue, leftover))
    for item in ReviewItem.objects.filter(queue=queue, status=ItemStatus.OPEN):
        blocked = Review.objects.filter(
            item=item, state__in=(*ACTIVE_STATES, ReviewState.SKIPPED)
        ).count()
        assert item.taken == n or blocked == len(users), f"item {item.pk} could still be taken"
    print(
        f"\n{connection.vendor} n={n} {rule} race={race}: {elapsed:.1f}s, "
        + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        + f", finished after: {leftover}"
    )
    assert elapsed < 60


def outcome_with_drain(outcome: Outcome, queue, drained: int) -> Outcome:
    """The outcome plus the drain's submits, for the final consistency check."""
    more = Outcome(errors=outcome.errors, counts=Counter(outcome.counts))
    known = set(outcome.submitted)
    extra = [
        pk
        for pk in Review.objects.filter(queue=queue, state=ReviewState.SUBMITTED).values_list(
            "pk", flat=True
        )
        if pk not in known
    ]
    assert len(extra) == drained
    more.submitted = [*outcome.submitted, *extra]
    more.counts["reserved"] += drained
    return more


def test_one_reviewer_asking_in_several_tabs_at_once_gets_one_reservation(reference_data):
    """Four requests of the same reviewer at the same instant (double clicks, tabs) all show
    one reservation; the reviewer never holds two pairs of a queue."""
    author = UserFactory(username="alice", roles=["Author"])
    admin = UserFactory(username="ada", roles=["Admin"])
    engineer = UserFactory(username="ed", roles=["Engineer"])
    user = UserFactory(username="tabby", roles=["Reviewer"])
    version = make_approved(author, admin, task="content_writing").approved_version
    make_review_pairs(6, principle_version=version)
    queue = services.review_queue_create(
        name="Tabs", created_by=engineer, reviewers=[user], reviews_required=2
    )
    for _round in range(3):
        barrier = threading.Barrier(4)
        got: list = []
        errors: list = []

        def ask(barrier=barrier, got=got, errors=errors):
            try:
                barrier.wait(timeout=10)
                review = services.review_next(queue=queue, reviewer=user)
                got.append(review.pk if review else None)
            except Exception:  # noqa: BLE001 - reported below
                errors.append(traceback.format_exc())
            finally:
                connection.close()

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == [], "\n".join(errors)
        assert len(set(got)) == 1 and None not in got, got
        reserved = Review.objects.filter(queue=queue, reviewer=user, state=ReviewState.RESERVED)
        assert list(reserved.values_list("pk", flat=True)) == [got[0]]
        assert sum(ReviewItem.objects.filter(queue=queue).values_list("taken", flat=True)) == 1
        services.review_skip(review=reserved.get(), reviewer=user)
