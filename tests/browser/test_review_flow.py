"""Two reviewers work one queue (two reviews per pair, unanimous rule) in Chromium with the
keyboard alone: one accepts a pair and edits the other (the draft of the edit survives a
reload), the other accepts the first pair and rejects the second. The pairs end as the rule
says, and the agreement page shows what :mod:`pairs.review.agreement` computes."""

import re

import pytest
from playwright.sync_api import expect

from pairs.models import (
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    PreferencePair,
    PreferenceStatus,
    Review,
    ReviewItem,
    ReviewState,
)
from pairs.review import agreement, services

from ..conftest import wait_for
from ..factories import UserFactory, make_approved, make_review_pairs

COMMENT = "The rhythm is the same as in the chosen one, nothing breaks."


def on_pair(page, pair):
    """Wait until the screen of ``pair`` is loaded and its script listens to the keyboard."""
    expect(page.locator("#pair-instruction")).to_have_text(pair.instruction)
    expect(page.locator("html")).to_have_attribute("data-review-ready", re.compile(r"^\d+$"))


def fmt(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def test_two_reviewers_work_a_queue_with_the_keyboard(
    page, login, live_server, reference_data, author, admin_user, engineer
):
    version = make_approved(author, admin_user, task="content_writing").approved_version
    first, second = make_review_pairs(2, principle_version=version)
    rhea = UserFactory(username="rhea", roles=["Reviewer"])
    remy = UserFactory(username="remy", roles=["Reviewer"])
    queue = services.review_queue_create(
        name="Keyboard queue",
        created_by=engineer,
        reviewers=[rhea, remy],
        reviews_required=2,
        rule=AggregationRule.UNANIMOUS,
    )
    next_url = f"/review/queues/{queue.pk}/next/"

    # Rhea accepts the first pair with "a" and lands on the second one.
    login(rhea)
    page.goto(next_url)
    on_pair(page, first)
    expect(page.locator("#remaining")).to_contain_text("1 more pair")
    expect(page.locator("#shortcut-list")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-list")).to_be_hidden()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-list")).to_be_visible()
    page.keyboard.press("a")
    on_pair(page, second)

    # She edits the rejected response; the draft is saved and survives a reload.
    page.keyboard.press("e")
    edit_box = page.locator("#id_edited_rejected")
    expect(edit_box).to_be_focused()
    page.keyboard.press("Control+End")
    page.keyboard.type(" EDITED")  # letters that are shortcuts elsewhere type as text here
    expect(edit_box).to_have_value(second.rejected + " EDITED")
    expect(page.locator("#edit-diff ins")).to_have_text("EDITED")
    expect(page.locator("#draft-status")).to_have_text("Saved")
    mine = Review.objects.get(reviewer=rhea, pair=second)
    wait_for(
        lambda: Review.objects.get(pk=mine.pk).draft.get("edited_rejected", "").endswith("EDITED"),
        message="the draft on the server",
    )
    page.reload()
    on_pair(page, second)
    expect(page.locator("#edit-panel")).to_be_visible()
    expect(edit_box).to_have_value(second.rejected + " EDITED")
    # Esc leaves the text box, "e" comes back to it, Ctrl+Enter saves the edit and accepts.
    page.keyboard.press("e")
    expect(edit_box).to_be_focused()
    page.keyboard.press("Escape")
    expect(edit_box).not_to_be_focused()
    page.keyboard.press("e")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#review-done")).to_be_visible()
    expect(page.locator("#review-done")).to_contain_text("Nothing left for you in this queue")

    # Remy accepts the first pair and rejects the second with a reason and a comment.
    login(remy)
    page.goto(next_url)
    on_pair(page, first)
    page.keyboard.press("a")
    on_pair(page, second)
    page.keyboard.press("r")
    expect(page.locator("#reject-panel")).to_be_visible()
    page.keyboard.press("1")
    expect(page.locator("#reason-not_broken")).to_be_checked()
    page.keyboard.press("3")
    page.keyboard.press("3")  # ticked and unticked again
    expect(page.locator("#reason-rejected_better")).not_to_be_checked()
    page.keyboard.press("c")
    expect(page.locator("#id_comment")).to_be_focused()
    page.keyboard.type(COMMENT)
    page.keyboard.press("Escape")
    expect(page.locator("#id_comment")).not_to_be_focused()
    expect(page.locator("#id_comment")).to_have_value(COMMENT)
    page.keyboard.press("Enter")
    expect(page.locator("#review-done")).to_be_visible()

    # The decisions, and the pairs' status under the unanimous rule.
    reviews = {
        (r.reviewer_id, r.pair_id): r
        for r in Review.objects.filter(queue=queue, state=ReviewState.SUBMITTED)
    }
    assert len(reviews) == 4
    assert reviews[(rhea.pk, first.pk)].decision == Decision.ACCEPT
    assert reviews[(rhea.pk, second.pk)].decision == Decision.EDIT
    assert reviews[(remy.pk, first.pk)].decision == Decision.ACCEPT
    rejection = reviews[(remy.pk, second.pk)]
    assert rejection.decision == Decision.REJECT
    assert rejection.reasons == ["not_broken"] and rejection.comment == COMMENT
    assert all(r.seconds_spent is not None for r in reviews.values())
    revision = PairRevision.objects.get(review=reviews[(rhea.pk, second.pk)])
    assert revision.after == second.rejected + " EDITED" and not revision.applied

    assert PreferencePair.objects.get(pk=first.pk).status == PreferenceStatus.ACCEPTED
    assert ReviewItem.objects.get(queue=queue, pair=first).status == ItemStatus.DECIDED
    assert ReviewItem.objects.get(queue=queue, pair=first).final_decision == Decision.ACCEPT
    assert PreferencePair.objects.get(pk=second.pk).status == PreferenceStatus.IN_REVIEW
    assert ReviewItem.objects.get(queue=queue, pair=second).status == ItemStatus.CONFLICT
    assert PreferencePair.objects.get(pk=second.pk).rejected == second.rejected  # not applied

    # The agreement page shows what the agreement module computes for these decisions.
    units = {}
    for review in reviews.values():
        label = Decision.REJECT if review.decision == Decision.REJECT else Decision.ACCEPT
        units.setdefault(review.item_id, {})[review.reviewer_id] = label
    percent = agreement.percent_agreement(units)
    alpha = agreement.krippendorff_alpha_nominal(units)
    kappa, shared = agreement.cohen_kappa_units(units, rhea.pk, remy.pk)
    assert percent == 0.5 and shared == 2

    login(engineer)
    response = page.goto(f"/review/queues/{queue.pk}/agreement/")
    if response.status == 501:
        pytest.skip("the agreement page is not built yet (501)")
    assert response.status == 200
    expect(page.locator("#queue-percent")).to_have_text(fmt(percent))
    expect(page.locator("#queue-alpha")).to_have_text(fmt(alpha))
    expect(page.locator("#reviewer-pairs .kappa")).to_have_text([fmt(kappa)])


def test_a_draft_typed_offline_is_kept_on_the_device_and_sent_later(
    page, login, live_server, reference_data, author, admin_user, engineer
):
    version = make_approved(author, admin_user, task="content_writing").approved_version
    (pair,) = make_review_pairs(1, principle_version=version)
    rhea = UserFactory(username="rhea", roles=["Reviewer"])
    queue = services.review_queue_create(
        name="Offline queue", created_by=engineer, reviewers=[rhea], reviews_required=1
    )
    login(rhea)
    page.goto(f"/review/queues/{queue.pk}/next/")
    on_pair(page, pair)
    review = Review.objects.get(reviewer=rhea)

    # The connection drops: what she types stays on the device, and says so.
    page.route("**/draft/", lambda route: route.abort("internetdisconnected"))
    page.keyboard.press("r")
    page.keyboard.press("2")
    page.keyboard.press("c")
    page.keyboard.type("Typed on a train")
    expect(page.locator("#draft-status")).to_have_text("Offline — kept on this device")
    assert Review.objects.get(pk=review.pk).draft == {}

    # A reload (still without drafts reaching the server) brings it back from the device...
    page.reload()
    on_pair(page, pair)
    expect(page.locator("#id_comment")).to_have_value("Typed on a train")
    expect(page.locator("#reason-changes_more")).to_be_checked()
    expect(page.locator("#reject-panel")).to_be_visible()

    # ...and once the connection is back, it reaches the server.
    page.unroute("**/draft/")
    page.context.set_offline(True)
    page.context.set_offline(False)  # the "online" event sends what is pending
    expect(page.locator("#draft-status")).to_have_text("Saved", timeout=20_000)
    draft = Review.objects.get(pk=review.pk).draft
    assert draft["comment"] == "Typed on a train" and draft["reasons"] == ["changes_more"]
    assert draft["decision"] == Decision.REJECT
