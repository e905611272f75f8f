"""An evaluator completes 10 blind comparisons from the keyboard, and no model name appears in
the page source while judging.

In Chromium, with the keyboard alone: for each criterion 1 (left better), 2 (right better) or
3/0/t (tie); the next criterion is highlighted; Backspace goes back to change an answer; Enter
with a criterion left open does not submit; Enter submits and the next comparison loads. At
every step the page source holds no contestant name, endpoint name, endpoint model or recorded
model name. At the end: 10 comparisons stored for the evaluator, all of distinct pairs, with
left/right turned into a/b by the side each response was shown on."""

import re

from playwright.sync_api import expect

from training.evaluation import arena
from training.models import ArenaAssignment, EvalResponse, HumanComparison

from ..factories import UserFactory
from ..training.eval_factories import make_evaluation_with_responses

NAMES = ("Quill Seven", "Ink Falcon", "Paper Lion")
# Answers per comparison, as keys: creativity, style, relevance, fluency.
PLANS = [
    ("1", "1", "2", "3"),
    ("2", "2", "2", "1"),
    ("3", "0", "t", "3"),
    ("1", "2", "1", "2"),
    ("2", "1", "1", "1"),
]
KEY_CHOICE = {"1": "left", "2": "right", "3": "tie", "0": "tie", "t": "tie"}


def secrets_of(evaluation) -> list[str]:
    out = set()
    for c in evaluation.contestants.select_related("endpoint"):
        out.update({c.name, c.endpoint.name, c.endpoint.model})
    out.update(
        EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).values_list(
            "model_name", flat=True
        )
    )
    return sorted(out)


def assert_blind(page, secrets):
    source = page.content().lower()
    for secret in secrets:
        assert secret.lower() not in source, f"{secret!r} in the page source"


def ready(page, done):
    expect(page.locator("#arena-progress")).to_have_attribute("data-done", str(done))
    expect(page.locator("html")).to_have_attribute("data-arena-ready", "1")
    expect(page.locator("#criterion-creativity")).to_be_focused()


def test_an_evaluator_completes_ten_blind_comparisons_from_the_keyboard(
    page, login, live_server, reference_data
):
    evaluator = UserFactory(username="evelyn", roles=["Evaluator"])
    evaluation = make_evaluation_with_responses(NAMES, n=5)
    evaluation.name = "Lantern stories"
    evaluation.save()
    # Make the two responses of a pair tell apart; one of them names its own model (masked).
    for r in EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).select_related(
        "contestant", "item"
    ):
        r.text = f"Answer {r.pk} to {r.item.key}.\nAs {r.contestant.name}, I <em>glow</em>."
        r.save()
    secrets = secrets_of(evaluation)
    assert len(arena.arena_pairs(evaluation=evaluation)) == 15

    # Log in: an Evaluator lands on the arena, then opens the evaluation.
    login(evaluator)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/arena/$"))
    row = page.locator(f"#arena-evaluation-{evaluation.pk}")
    expect(row).to_contain_text("0 / 15")
    assert_blind(page, secrets)
    page.goto(f"/arena/{evaluation.pk}/")

    expected = {}
    for n in range(10):
        ready(page, n)
        expect(page.locator("#arena-progress")).to_contain_text(f"{n} / 15 compared")
        assert_blind(page, secrets)
        expect(page.locator("#response-left-text")).to_contain_text("I <em>glow</em>.")
        token = page.locator("input[name=token]").input_value()
        assignment = ArenaAssignment.objects.get(token=token)
        assert assignment.evaluator_id == evaluator.pk
        plan = PLANS[n % len(PLANS)]

        if n == 0:
            # The keys are shown; "?" hides and shows them again.
            expect(page.locator("#shortcut-list")).to_be_visible()
            page.keyboard.press("?")
            expect(page.locator("#shortcut-list")).to_be_hidden()
            page.keyboard.press("?")
            expect(page.locator("#shortcut-list")).to_be_visible()
            # A reload shows the same comparison.
            page.reload()
            ready(page, 0)
            assert page.locator("input[name=token]").input_value() == token

        # Answer the first three, go back with Backspace and change the third.
        for key in plan[:2]:
            page.keyboard.press(key)
        page.keyboard.press("2" if plan[2] != "2" else "1")
        expect(page.locator("#criterion-fluency")).to_be_focused()
        page.keyboard.press("Backspace")
        expect(page.locator("#criterion-relevance")).to_be_focused()
        page.keyboard.press(plan[2])
        expect(page.locator("#criterion-fluency")).to_be_focused()
        if n == 1:
            # Enter with fluency open submits nothing and says what is missing.
            page.keyboard.press("Enter")
            expect(page.locator("#arena-status")).to_contain_text("Fluency")
            expect(page.locator("#criterion-fluency")).to_be_focused()
            assert HumanComparison.objects.filter(evaluator=evaluator).count() == 1
            # Arrows move between criteria too.
            page.keyboard.press("ArrowUp")
            expect(page.locator("#criterion-relevance")).to_be_focused()
            page.keyboard.press("ArrowDown")
            expect(page.locator("#criterion-fluency")).to_be_focused()
        page.keyboard.press(plan[3])
        for criterion, key in zip(arena.CRITERIA, plan, strict=True):
            value = KEY_CHOICE[key]
            expect(page.locator(f"#id_{criterion}_{value}")).to_be_checked()
        assert_blind(page, secrets)
        page.keyboard.press("Enter")

        choices = {c: KEY_CHOICE[k] for c, k in zip(arena.CRITERIA, plan, strict=True)}
        flip = {"left": "a", "right": "b", "tie": "tie"}
        if not assignment.a_on_left:
            flip = {"left": "b", "right": "a", "tie": "tie"}
        expected[(assignment.response_a_id, assignment.response_b_id)] = {
            c: flip[v] for c, v in choices.items()
        }

    ready(page, 10)
    expect(page.locator("#arena-progress")).to_contain_text("10 / 15 compared")
    assert_blind(page, secrets)

    rows = HumanComparison.objects.filter(evaluator=evaluator, evaluation=evaluation)
    assert rows.count() == 10
    pairs = {(r.response_a_id, r.response_b_id) for r in rows}
    assert len(pairs) == 10
    assert pairs == set(expected)
    for r in rows:
        assert r.criteria == expected[(r.response_a_id, r.response_b_id)]
        assert r.response_a.item_id == r.response_b.item_id == r.item_id
        assert r.response_a.contestant_id < r.response_b.contestant_id
    # The page now shows the eleventh, a pair not compared yet.
    current = ArenaAssignment.objects.get(evaluator=evaluator)
    assert (current.response_a_id, current.response_b_id) not in pairs
