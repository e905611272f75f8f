"""The arena's pages with the Django test client: who may use them, the home list with
progress, the comparison page (escaped texts, the form's fields, labels and legends, and no
model, endpoint, model name, contestant or response id anywhere in the HTML), the submit flow
without script, refused answers shown again with their errors, a double submit, another
evaluator's token, closed evaluations, and the home page sending an Evaluator to the arena."""

import re
import uuid

import pytest
from django.urls import reverse

from training.evaluation import arena
from training.models import ArenaAssignment, EvalResponse, HumanComparison

from ..factories import UserFactory
from .eval_factories import make_evaluation_with_responses

pytestmark = pytest.mark.django_db

HOME = reverse("arena:home")
THREE = ("Model Alpha", "Model Beta", "Model Gamma")
XSS = "<script>alert(1)</script>"


def compare_url(evaluation):
    return reverse("arena:compare", args=[evaluation.pk])


def submit_url(evaluation):
    return reverse("arena:submit", args=[evaluation.pk])


@pytest.fixture
def evaluator():
    return UserFactory(username="eva", roles=["Evaluator"])


@pytest.fixture
def evaluation():
    evaluation = make_evaluation_with_responses(THREE, n=2)
    evaluation.name = "Spring stories"
    evaluation.save()
    return evaluation


def secrets_of(evaluation) -> list[str]:
    """Everything that would unblind a comparison: names of the contestants, their endpoints,
    the endpoints' models, the models recorded on the responses."""
    out = set()
    for c in evaluation.contestants.select_related("endpoint"):
        out.update({c.name, c.endpoint.name, c.endpoint.model})
    out.update(
        EvalResponse.objects.filter(item__benchmark=evaluation.benchmark).values_list(
            "model_name", flat=True
        )
    )
    return sorted(out)


def assert_blind(html: str, evaluation) -> None:
    lowered = html.lower()
    for secret in secrets_of(evaluation):
        assert secret.lower() not in lowered, secret
    for word in ("contestant", "model_name", "response_a", "response_b", "endpoint"):
        assert word not in lowered, word


def form_inputs(html: str) -> dict[str, set[str]]:
    form = re.search(r'<form[^>]*id="arena-form".*?</form>', html, re.S).group(0)
    inputs: dict[str, set[str]] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag)
        inputs.setdefault(name, set()).add(value.group(1) if value else "")
    return inputs


def test_roles(client_for, client, evaluation, evaluator, admin_user, engineer, reviewer, author):
    assignment_owner = UserFactory(username="owner", roles=["Evaluator"])
    assignment = arena.arena_next(evaluation=evaluation, evaluator=assignment_owner)
    pages = [HOME, compare_url(evaluation)]
    for user in (engineer, reviewer, author, UserFactory(username="nobody", roles=[])):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 403, (user, page)
        response = c.post(submit_url(evaluation), {"token": str(assignment.token)})
        assert response.status_code == 403, user
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(submit_url(evaluation), {"token": str(assignment.token)})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for user in (evaluator, admin_user):
        c = client_for(user)
        for page in pages:
            assert c.get(page).status_code == 200, (user, page)
    assert HumanComparison.objects.count() == 0


def test_home_redirects_an_evaluator_to_the_arena(client_for, evaluator, engineer):
    response = client_for(evaluator).get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == HOME
    both = UserFactory(username="both", roles=["Evaluator", "Reviewer"])
    assert client_for(both).get(reverse("home")).status_code == 200
    assert client_for(engineer).get(reverse("home")).status_code == 200
    html = client_for(evaluator).get(HOME).content.decode()
    assert 'id="nav-arena"' in html and 'id="nav-evaluation"' not in html


def test_home_lists_open_evaluations_with_progress(client_for, evaluation, evaluator):
    closed = make_evaluation_with_responses(("Model Iota", "Model Kappa"), n=1)
    closed.name, closed.arena_open = "Closed one", False
    closed.save()
    named = make_evaluation_with_responses(("Model Mu", "Model Nu"), n=1)  # name has models
    c = client_for(evaluator)
    answer = arena.arena_next(evaluation=evaluation, evaluator=evaluator)
    arena.arena_submit(
        token=answer.token, evaluator=evaluator, criteria=dict.fromkeys(arena.CRITERIA, "tie")
    )
    html = c.get(HOME).content.decode()
    assert "Spring stories" in html and "Closed one" not in html
    row = re.search(rf'id="arena-evaluation-{evaluation.pk}".*?</tr>', html, re.S).group(0)
    assert "1 / 6" in row and compare_url(evaluation) in row and "Continue" in row
    row = re.search(rf'id="arena-evaluation-{named.pk}".*?</tr>', html, re.S).group(0)
    assert f"Evaluation #{named.pk}" in row and "Start" in row
    assert_blind(html, evaluation)
    assert_blind(html, named)


def test_the_comparison_page_is_blind_and_accessible(client_for, evaluation, evaluator):
    item = evaluation.benchmark.items.first()
    item.instruction = f"Line one {XSS}\nLine two"
    item.save()
    EvalResponse.objects.filter(item=item).update(text=f"Answer {XSS}\n\nsecond paragraph")
    # Open the pairs of the other item first, so the one on the page is this item's.
    c = client_for(evaluator)
    while True:
        response = c.get(compare_url(evaluation))
        assert response.status_code == 200
        assignment = ArenaAssignment.objects.get(evaluator=evaluator)
        if assignment.response_a.item_id == item.pk:
            break
        arena.arena_submit(
            token=assignment.token,
            evaluator=evaluator,
            criteria=dict.fromkeys(arena.CRITERIA, "tie"),
        )
    html = response.content.decode()
    assert_blind(html, evaluation)
    # Escaped, line breaks kept as text (pre-wrap), never run.
    assert XSS not in html
    assert "Line one &lt;script&gt;alert(1)&lt;/script&gt;\nLine two" in html
    assert html.count("Answer &lt;script&gt;alert(1)&lt;/script&gt;\n\nsecond paragraph") == 2
    assert "white-space: pre-wrap" in html
    assert "Response 1" in html and "Response 2" in html
    # The form posts the token and the four answers, nothing that identifies a response.
    inputs = form_inputs(html)
    assert set(inputs) == {"csrfmiddlewaretoken", "token", "seconds", *arena.CRITERIA}
    assert inputs["token"] == {str(assignment.token)}
    for criterion in arena.CRITERIA:
        assert inputs[criterion] == {"left", "right", "tie"}
        fieldset = re.search(rf'<fieldset[^>]*id="criterion-{criterion}".*?</fieldset>', html, re.S)
        assert fieldset and "<legend>" in fieldset.group(0)
        for value in ("left", "right", "tie"):
            assert f'<label class="radio" for="id_{criterion}_{value}">' in fieldset.group(0)
            assert f'id="id_{criterion}_{value}"' in fieldset.group(0)
    ids = {str(assignment.response_a_id), str(assignment.response_b_id)}
    assert not ids & inputs["token"]
    for attr in re.findall(r'data-[a-z-]+="([^"]*)"', html):
        assert attr not in ids or attr in {"1", "2", "3"}  # the choice keys only
    # The shortcuts are on the page, the script is local.
    assert 'id="shortcut-list"' in html and "<kbd>Enter</kbd>" in html
    assert "/static/evaluation/arena.js" in html and "http" not in re.sub(
        r'href="http[^"]*"', "", re.search(r"<head>.*?</head>", html, re.S).group(0)
    )
    # A reload shows the same comparison.
    again = c.get(compare_url(evaluation)).content.decode()
    assert form_inputs(again)["token"] == {str(assignment.token)}


def test_submit_without_script_then_the_next_comparison(client_for, evaluation, evaluator):
    c = client_for(evaluator)
    seen = []
    for n in range(6):
        html = c.get(compare_url(evaluation)).content.decode()
        assert_blind(html, evaluation)
        assert f"{n} / 6 compared" in html
        assignment = ArenaAssignment.objects.get(evaluator=evaluator)
        seen.append((assignment.response_a_id, assignment.response_b_id))
        data = {
            "token": str(assignment.token),
            "seconds": "",
            **dict.fromkeys(arena.CRITERIA, "left"),
        }
        response = c.post(submit_url(evaluation), data)
        assert response.status_code == 302 and response["Location"] == compare_url(evaluation)
        comparison = HumanComparison.objects.get(
            evaluator=evaluator,
            response_a_id=assignment.response_a_id,
            response_b_id=assignment.response_b_id,
        )
        expected = "a" if assignment.a_on_left else "b"
        assert comparison.outcome == expected
        assert comparison.criteria == dict.fromkeys(arena.CRITERIA, expected)
    assert len(set(seen)) == 6
    response = c.get(compare_url(evaluation))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="arena-done"' in html
    assert "6 of the 6 pairs" in html and 'id="arena-form"' not in html


def test_a_refused_answer_shows_the_same_comparison_with_errors(client_for, evaluation, evaluator):
    c = client_for(evaluator)
    c.get(compare_url(evaluation))
    assignment = ArenaAssignment.objects.get(evaluator=evaluator)
    data = {"token": str(assignment.token), "creativity": "right", "style": "sideways"}
    response = c.post(submit_url(evaluation), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert_blind(html, evaluation)
    assert form_inputs(html)["token"] == {str(assignment.token)}
    assert 'id="criterion-style-errors"' in html and "sideways" in html
    assert 'id="criterion-relevance-errors"' in html and "Relevance" in html
    assert 'id="criterion-fluency-errors"' in html
    assert 'id="criterion-creativity-errors"' not in html
    assert re.search(r'id="id_creativity_right"[^>]*checked', html)
    assert HumanComparison.objects.count() == 0


def test_a_double_submit_is_refused_with_a_message(client_for, evaluation, evaluator):
    c = client_for(evaluator)
    c.get(compare_url(evaluation))
    assignment = ArenaAssignment.objects.get(evaluator=evaluator)
    data = {"token": str(assignment.token), **dict.fromkeys(arena.CRITERIA, "tie")}
    assert c.post(submit_url(evaluation), data).status_code == 302
    response = c.post(submit_url(evaluation), data, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "already submitted" in html
    assert HumanComparison.objects.count() == 1
    # Garbage tokens: the same message, nothing written.
    for token in ("", "nope", str(uuid.uuid4())):
        response = c.post(submit_url(evaluation), {**data, "token": token})
        assert response.status_code == 302
    assert HumanComparison.objects.count() == 1


def test_another_evaluators_token_is_forbidden(client_for, evaluation, evaluator):
    other = UserFactory(username="otto", roles=["Evaluator"])
    assignment = arena.arena_next(evaluation=evaluation, evaluator=other)
    data = {"token": str(assignment.token), **dict.fromkeys(arena.CRITERIA, "tie")}
    assert client_for(evaluator).post(submit_url(evaluation), data).status_code == 403
    assert HumanComparison.objects.count() == 0
    assert ArenaAssignment.objects.filter(pk=assignment.pk).exists()


def test_a_closed_or_unknown_evaluation_is_not_found(client_for, evaluation, evaluator):
    c = client_for(evaluator)
    c.get(compare_url(evaluation))
    assignment = ArenaAssignment.objects.get(evaluator=evaluator)
    evaluation.arena_open = False
    evaluation.save()
    assert c.get(compare_url(evaluation)).status_code == 404
    data = {"token": str(assignment.token), **dict.fromkeys(arena.CRITERIA, "tie")}
    assert c.post(submit_url(evaluation), data).status_code == 404
    assert c.get(reverse("arena:compare", args=[evaluation.pk + 1000])).status_code == 404
    assert HumanComparison.objects.count() == 0
    assert "Spring stories" not in c.get(HOME).content.decode()
