"""The review screen through the test client: who may open what, what the screen shows (and
never shows), decisions, skips, drafts and their privacy, and the end of a queue."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pairs.models import (
    Decision,
    PairRevision,
    PreferencePair,
    RejectReason,
    Review,
    ReviewState,
)
from pairs.review import services

from ..factories import UserFactory, make_approved, make_instruction_pair, make_preference_pair

pytestmark = pytest.mark.django_db

CHOSEN = "The river ran slow under the moon, and the ferryman leaned on his oar."
REJECTED = "The river ran quick under the moon, and the ferryman leaned on his oar."
LOGIN = "/accounts/login/"


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def reviewers(db):
    return [UserFactory(username=f"rev{k}", roles=["Reviewer"]) for k in range(2)]


@pytest.fixture
def outsider(db):
    """A reviewer who is not assigned to the queue."""
    return UserFactory(username="olga", roles=["Reviewer"])


def make_pair(version, k=0, *, chosen=CHOSEN, rejected=REJECTED, language="en", **fields):
    positive = make_instruction_pair(
        instruction=fields.pop("instruction", f"Write scene {k} on a river at night."),
        response=chosen,
        language=language,
    )
    fields.setdefault("selection_reason", "The pace is what this scene is about.")
    fields.setdefault("rewrite_rationale", "One word makes the river hurry.")
    return make_preference_pair(
        positive=positive, principle_version=version, rejected=rejected, **fields
    )


@pytest.fixture
def pairs(version):
    return [make_pair(version, k) for k in range(2)]


def make_queue(engineer, reviewers, **kwargs):
    kwargs.setdefault("reviews_required", 2)
    return services.review_queue_create(
        name=kwargs.pop("name", "Pace queue"), created_by=engineer, reviewers=reviewers, **kwargs
    )


@pytest.fixture
def queue(engineer, reviewers, pairs):
    return make_queue(engineer, reviewers)


def next_url(queue):
    return reverse("review:next", args=[queue.pk])


def screen_url(review):
    return reverse("review:screen", args=[review.pk])


def draft_url(review):
    return reverse("review:draft", args=[review.pk])


def submit_url(review):
    return reverse("review:submit", args=[review.pk])


def skip_url(review):
    return reverse("review:skip", args=[review.pk])


def reserve(queue, user):
    review = services.review_next(queue=queue, reviewer=user)
    assert review is not None
    return review


def section(content: bytes, name: str) -> str:
    match = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', content.decode(), re.S)
    assert match, f"no section {name}"
    return match.group(1)


def config(response) -> dict:
    match = re.search(
        r'<script id="review-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match
    return json.loads(match.group(1))


def post_draft(client, review, body):
    return client.post(draft_url(review), data=json.dumps(body), content_type="application/json")


# --- Access ---------------------------------------------------------------------------------


def test_anonymous_users_go_to_the_login_page(client, queue, reviewers):
    review = reserve(queue, reviewers[0])
    for url in (next_url(queue), screen_url(review)):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(LOGIN)
    for url in (draft_url(review), submit_url(review), skip_url(review)):
        response = client.post(url, {})
        assert response.status_code == 302 and response.url.startswith(LOGIN)


def test_users_without_the_reviewer_role_are_refused(client_for, queue, norole, engineer):
    for user in (norole, engineer):  # an engineer manages queues but does not review
        c = client_for(user)
        assert c.get(next_url(queue)).status_code == 403
        assert c.post(next_url(queue)).status_code == 403


def test_a_reviewer_not_assigned_to_the_queue_gets_nothing(client_for, queue, outsider):
    # The queue is not among theirs: it does not exist for them.
    assert client_for(outsider).get(next_url(queue)).status_code == 404
    assert not Review.objects.filter(reviewer=outsider).exists()
    assert client_for(outsider).get(reverse("review:next", args=[99999])).status_code == 404


def test_an_admin_who_is_not_a_reviewer_of_the_queue_is_refused(client_for, queue, admin_user):
    # Admins see every queue, so they are told they may not review this one.
    assert client_for(admin_user).get(next_url(queue)).status_code == 403
    queue.reviewers.add(admin_user)
    response = client_for(admin_user).get(next_url(queue))
    assert response.status_code == 302


def test_another_reviewers_review_does_not_exist(client_for, queue, reviewers, admin_user):
    mine = reserve(queue, reviewers[0])
    services.review_draft_save(review=mine, reviewer=reviewers[0], draft={"comment": "secret"})
    for user in (reviewers[1], admin_user):
        c = client_for(user)
        assert c.get(screen_url(mine)).status_code == 404
        assert post_draft(c, mine, {"comment": "theirs"}).status_code == 404
        assert c.post(submit_url(mine), {"decision": "accept"}).status_code == 404
        assert c.post(skip_url(mine)).status_code == 404
    mine.refresh_from_db()
    assert mine.state == ReviewState.RESERVED and mine.draft["comment"] == "secret"


# --- Next -----------------------------------------------------------------------------------


def test_next_reserves_a_pair_and_resumes_it(client_for, queue, reviewers, pairs):
    c = client_for(reviewers[0])
    response = c.get(next_url(queue))
    review = Review.objects.get(reviewer=reviewers[0])
    assert response.status_code == 302 and response.url == screen_url(review)
    assert review.pair_id == pairs[0].pk and review.state == ReviewState.RESERVED
    assert c.post(next_url(queue)).url == screen_url(review)  # same reservation
    assert Review.objects.filter(reviewer=reviewers[0]).count() == 1


def test_done_page_when_nothing_is_left(client_for, queue, reviewers):
    for _k in range(2):
        review = reserve(queue, reviewers[0])
        services.review_submit(review=review, reviewer=reviewers[0], decision=Decision.ACCEPT)
    response = client_for(reviewers[0]).get(next_url(queue))
    assert response.status_code == 200
    assert b'id="review-done"' in response.content
    assert b"Nothing left for you in this queue" in response.content
    assert reverse("review:queues").encode() in response.content
    assert b"You submitted 2 reviews" in response.content


def test_closed_queue(client_for, queue, reviewers):
    queue.is_active = False
    queue.save()
    response = client_for(reviewers[0]).get(next_url(queue))
    assert response.status_code == 200
    assert b'id="queue-closed"' in response.content
    assert not Review.objects.exists()


# --- The screen -----------------------------------------------------------------------------


def test_screen_shows_the_pair_its_diff_and_the_principle(client_for, queue, reviewers, version):
    review = reserve(queue, reviewers[0])
    response = client_for(reviewers[0]).get(screen_url(review))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Pace queue" in html
    assert 'id="remaining">1 more pair for you in this queue' in html
    prompt = section(response.content, "prompt")
    assert "Write scene 0 on a river at night." in prompt
    assert "Content writing" in prompt or review.pair.task.name in prompt
    diff = re.search(r'<div class="diff pair-text" id="pair-diff"[^>]*>(.*?)</div>', html, re.S)
    assert re.findall(r"<del[^>]*>(.*?)</del>", diff.group(1)) == ["slow"]
    assert re.findall(r"<ins[^>]*>(.*?)</ins>", diff.group(1)) == ["quick"]
    responses = section(response.content, "diff")
    assert CHOSEN in responses and REJECTED in responses
    principle = section(response.content, "principle")
    for text in (
        version.title,
        version.following_text,
        version.following_rationale,
        version.violating_text,
        version.violating_rationale,
        "The pace is what this scene is about.",
        "One word makes the river hurry.",
    ):
        assert text.replace("'", "&#x27;") in principle, text
    # The decision form posts without script, with CSRF, and lists every reason.
    form = section(response.content, "decision")
    assert f'action="{submit_url(review)}"' in form and f'action="{skip_url(review)}"' in form
    assert form.count("csrfmiddlewaretoken") == 2
    for k, reason in enumerate(RejectReason.values, start=1):
        assert f'value="{reason}"' in form and f'data-key="{k}"' in form
    assert f">\n{REJECTED}</textarea>" in form  # the edit starts from the rejected response
    keys = section(response.content, "shortcuts")
    for key in ("a", "r", "e", "s", "n", "c", "?", "Enter", "Esc"):
        assert f"<kbd>{key}</kbd>" in keys


def test_step_one_reason_is_left_out_when_missing(client_for, engineer, reviewers, version):
    make_pair(version, selection_reason="")
    queue = make_queue(engineer, reviewers)
    review = reserve(queue, reviewers[0])
    html = client_for(reviewers[0]).get(screen_url(review)).content.decode()
    assert 'id="selection-reason"' not in html and 'id="rewrite-rationale"' in html


def test_chinese_pairs_diff_by_character_with_a_lang_attribute(
    client_for, engineer, reviewers, version
):
    make_pair(version, chosen="月光照在河面上。", rejected="月光洒在河面上。", language="zh")
    queue = make_queue(engineer, reviewers)
    review = reserve(queue, reviewers[0])
    html = client_for(reviewers[0]).get(screen_url(review)).content.decode()
    diff = re.search(
        r'<div class="diff pair-text" id="pair-diff" lang="zh">(.*?)</div>', html, re.S
    )
    assert diff, "diff with lang=zh"
    assert re.findall(r"<del[^>]*>(.*?)</del>", diff.group(1)) == ["照"]
    assert re.findall(r"<ins[^>]*>(.*?)</ins>", diff.group(1)) == ["洒"]
    assert 'id="pair-chosen" lang="zh"' in html


def test_user_and_llm_text_is_escaped(client_for, engineer, reviewers, version):
    make_pair(
        version,
        instruction="<script>alert('instruction')</script> Write a scene.",
        chosen="<b>The</b> river ran slow.",
        rejected="<script>alert('rejected')</script> The river ran quick.",
        rewrite_rationale="<img src=x onerror=alert(1)>",
    )
    queue = make_queue(engineer, reviewers)
    review = reserve(queue, reviewers[0])
    html = client_for(reviewers[0]).get(screen_url(review)).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html and "<b>The</b>" not in html
    assert "&lt;script&gt;alert(&#x27;instruction&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;rejected&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # The draft and the rejected text travel to the script as JSON that cannot close its tag.
    assert config(client_for(reviewers[0]).get(screen_url(review)))["rejected"].startswith(
        "<script>"
    )


def test_gold_pairs_look_like_any_other(client_for, engineer, reviewers, version):
    gold, plain = make_pair(version, 0), make_pair(version, 1)
    queue = make_queue(engineer, reviewers, gold_rate=1.0)
    services.review_gold_add(
        queue=queue, user=engineer, pair=gold, decision=Decision.REJECT, note="Gold note here"
    )
    c = client_for(reviewers[0])
    gold_review = Review.objects.get(pk=c.get(next_url(queue)).url.rstrip("/").split("/")[-1])
    assert gold_review.is_gold and gold_review.pair_id == gold.pk
    gold_page = c.get(screen_url(gold_review))
    c.post(submit_url(gold_review), {"decision": "accept"})
    plain_review = Review.objects.get(pk=c.get(next_url(queue)).url.rstrip("/").split("/")[-1])
    assert not plain_review.is_gold and plain_review.pair_id == plain.pk
    plain_page = c.get(screen_url(plain_review))
    for response in (gold_page, plain_page):
        assert response.status_code == 200
        assert "gold" not in response.content.decode().lower()
    # Gold pairs count among the pairs left like any other (the plain one is still to come),
    # so the count does not give them away.
    assert b'id="remaining">1 more pair for you' in gold_page.content
    assert b'id="remaining">0 more pairs for you' in plain_page.content
    # The same elements and the same script data, whichever the pair.
    ids = [re.findall(r'id="([^"]+)"', p.content.decode()) for p in (gold_page, plain_page)]
    assert ids[0] == ids[1]
    assert config(gold_page).keys() == config(plain_page).keys()
    # Submitted, it still says nothing about gold.
    html = c.get(screen_url(gold_review)).content.decode().lower()
    assert "gold" not in html and 'id="submitted-decision"' in html


# --- Decisions ------------------------------------------------------------------------------


def test_accept_flows_to_the_next_pair(client_for, queue, reviewers, pairs):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    response = c.post(submit_url(review), {"decision": "accept", "active_seconds": "0"})
    assert response.status_code == 302 and response.url == next_url(queue)
    review.refresh_from_db()
    assert review.state == ReviewState.SUBMITTED and review.decision == Decision.ACCEPT
    assert review.seconds_spent == 0
    follow = c.get(response.url)
    second = Review.objects.get(reviewer=reviewers[0], state=ReviewState.RESERVED)
    assert follow.url == screen_url(second) and second.pair_id == pairs[1].pk


def test_reject_without_a_reason_keeps_what_was_typed(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    response = c.post(
        submit_url(review),
        {"decision": "reject", "comment": "It <changes> the rhythm too", "active_seconds": "12"},
    )
    assert response.status_code == 400
    form = section(response.content, "decision")
    assert 'id="reasons-errors"' in form and "Give at least one reason to reject." in form
    assert ">\nIt &lt;changes&gt; the rhythm too</textarea>" in form
    assert 'class="panel open has-error"' in form  # the reasons are open, marked
    review.refresh_from_db()
    assert review.state == ReviewState.RESERVED
    assert review.draft["comment"] == "It <changes> the rhythm too"  # a reload keeps it too
    assert review.draft["decision"] == "reject"
    assert config(response)["draft"]["comment"] == "It <changes> the rhythm too"


def test_other_needs_a_comment_and_the_error_is_next_to_it(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    response = c.post(submit_url(review), {"decision": "reject", "reasons": ["other"]})
    assert response.status_code == 400
    comment_field = re.search(
        r'<div class="field has-error" id="comment-field">(.*?)</div>\s*</form>',
        response.content.decode(),
        re.S,
    )
    assert comment_field and 'id="comment-errors"' in comment_field.group(1)
    assert 'value="other" id="reason-other" data-key="6" aria-keyshortcuts="6" checked' in (
        response.content.decode()
    )


def test_reject_with_reasons(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    response = c.post(
        submit_url(review),
        {"decision": "reject", "reasons": ["not_broken", "other"], "comment": "Reads the same."},
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.decision == Decision.REJECT
    assert review.reasons == ["not_broken", "other"] and review.comment == "Reads the same."
    # Read-only now: the decision, the reasons and the way on; no form, no draft saving.
    page = c.get(screen_url(review))
    html = page.content.decode()
    assert 'id="review-form"' not in html and 'id="draft-status"' not in html
    assert "Does not break the principle" in section(page.content, "decision")
    assert f'id="next-pair" data-key="n" aria-keyshortcuts="n" href="{next_url(queue)}"' in html
    assert post_draft(c, review, {"comment": "late"}).status_code == 400
    # Submitting again changes nothing (the first decision stands).
    c.post(submit_url(review), {"decision": "accept"})
    review.refresh_from_db()
    assert review.decision == Decision.REJECT


def test_edit_and_accept_records_a_revision(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    same = c.post(submit_url(review), {"decision": "edit", "edited_rejected": REJECTED})
    assert same.status_code == 400
    assert "The edit is the same as the rejected response." in same.content.decode()
    edit = "The river ran swift under the moon, and the ferryman leaned on his oar."
    response = c.post(submit_url(review), {"decision": "edit", "edited_rejected": edit})
    assert response.status_code == 302
    revision = PairRevision.objects.get(review=review)
    assert revision.before == REJECTED and revision.after == edit
    assert revision.author == reviewers[0] and not revision.applied  # one of two reviews
    page = c.get(screen_url(review))
    submitted = section(page.content, "decision")
    assert re.findall(r"<ins[^>]*>(.*?)</ins>", submitted) == ["swift"]


def test_skip_moves_on(client_for, queue, reviewers, pairs):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    response = c.post(skip_url(review))
    assert response.status_code == 302 and response.url == next_url(queue)
    review.refresh_from_db()
    assert review.state == ReviewState.SKIPPED
    nxt = Review.objects.get(pk=c.get(next_url(queue)).url.rstrip("/").rsplit("/", 1)[-1])
    assert nxt.pair_id == pairs[1].pk
    page = c.get(screen_url(review))
    assert b'id="skipped-note"' in page.content and b'id="review-form"' not in page.content


def test_skipping_a_submitted_review_is_refused(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    c.post(submit_url(review), {"decision": "accept"})
    response = c.post(skip_url(review), follow=True)
    assert response.redirect_chain[0][0] == screen_url(review)
    assert b"already submitted" in response.content
    review.refresh_from_db()
    assert review.state == ReviewState.SUBMITTED


def test_expired_reservation_shows_a_note_and_can_still_be_submitted(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    Review.objects.filter(pk=review.pk).update(reserved_until=timezone.now() - timedelta(minutes=1))
    services.review_expire_stale(queue=queue)
    page = c.get(screen_url(review))
    assert b'id="expired-note"' in page.content and b'id="review-form"' in page.content
    assert c.post(submit_url(review), {"decision": "accept"}).status_code == 302
    review.refresh_from_db()
    assert review.state == ReviewState.SUBMITTED


# --- Drafts ---------------------------------------------------------------------------------


def test_draft_is_saved_and_restored(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    before = review.reserved_until
    body = {
        "decision": "reject",
        "reasons": ["changes_more", "chosen_poor"],
        "comment": "Half-way <thought>",
        "edited_rejected": "",
        "active_seconds": 42,
    }
    response = post_draft(c, review, body)
    assert response.status_code == 200
    data = response.json()
    assert data["saved"] is True
    review.refresh_from_db()
    assert data["reserved_until"] == review.reserved_until.isoformat()
    assert review.reserved_until >= before  # working on it keeps the reservation
    assert review.draft["reasons"] == ["changes_more", "chosen_poor"]
    page = c.get(screen_url(review))
    form = section(page.content, "decision")
    assert (
        'value="changes_more" id="reason-changes_more" data-key="2" aria-keyshortcuts="2" checked'
        in form
    )
    assert 'value="not_broken" id="reason-not_broken" data-key="1" aria-keyshortcuts="1">' in form
    assert ">\nHalf-way &lt;thought&gt;</textarea>" in form
    assert 'data-decision="reject"' in form
    assert 'id="reject-panel" data-panel="reject" class="panel open"' in form
    assert config(page)["draft"] == {**body, "active_seconds": 42.0}
    assert 'value="42.0"' in form  # the time goes on from where it was


def test_draft_with_an_edit_restores_the_edit(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    edit = "The river ran slow under the moon, and the ferryman leaned on his oar, humming."
    assert post_draft(c, review, {"decision": "edit", "edited_rejected": edit}).status_code == 200
    form = section(c.get(screen_url(review)).content, "decision")
    assert f">\n{edit}</textarea>" in form
    assert 'id="edit-panel" data-panel="edit" class="panel field open"' in form
    assert "<ins" in form  # the diff of the edit against the rejected response


def test_invalid_drafts_are_refused_with_field_errors(client_for, queue, reviewers):
    c = client_for(reviewers[0])
    review = reserve(queue, reviewers[0])
    bad = post_draft(c, review, {"reasons": ["nope"]})
    assert bad.status_code == 400 and "reasons" in bad.json()["errors"]
    unknown = post_draft(c, review, {"whatever": 1})
    assert unknown.status_code == 400 and "draft" in unknown.json()["errors"]
    not_json = c.post(draft_url(review), data="{nope", content_type="application/json")
    assert not_json.status_code == 400 and "draft" in not_json.json()["errors"]
    assert c.get(draft_url(review)).status_code == 405
    review.refresh_from_db()
    assert review.draft == {}


def test_drafts_need_the_csrf_token(queue, reviewers):
    review = reserve(queue, reviewers[0])
    c = Client(enforce_csrf_checks=True)
    c.force_login(reviewers[0])
    assert post_draft(c, review, {"comment": "x"}).status_code == 403
    c.get(screen_url(review))  # sets the CSRF cookie
    token = c.cookies["csrftoken"].value
    response = c.post(
        draft_url(review),
        data=json.dumps({"comment": "x"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200


def test_nobody_else_sees_a_draft(client_for, queue, reviewers, engineer, admin_user):
    mine = reserve(queue, reviewers[0])
    post_draft(client_for(reviewers[0]), mine, {"comment": "my private musing"})
    theirs = reserve(queue, reviewers[1])
    assert theirs.item_id == mine.item_id  # the same pair, the other slot
    other = client_for(reviewers[1]).get(screen_url(theirs))
    assert b"my private musing" not in other.content
    for user in (reviewers[1], admin_user):
        assert client_for(user).get(screen_url(mine)).status_code == 404
    assert Review.objects.get(pk=mine.pk).draft["comment"] == "my private musing"


def test_the_pair_is_decided_by_the_rule_after_both_reviews(client_for, queue, reviewers):
    for user in reviewers:
        review = reserve(queue, user)
        client_for(user).post(submit_url(review), {"decision": "accept"})
    pair = PreferencePair.objects.get(pk=review.pair_id)
    assert pair.status == "accepted"
