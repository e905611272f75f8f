"""The Evaluator role sees the arena and nothing else of the studio: blind judging means no
model names, no training data, no leaderboards."""

import pytest
from rest_framework.test import APIClient

from .factories import UserFactory

STUDIO_PAGES = [
    "/principles/",
    "/principles/fewshot/",
    "/corpus/",
    "/pairs/",
    "/pairs/preferences/",
    "/review/",
    "/datasets/",
    "/training/",
    "/evaluation/",
    "/evaluation/benchmarks/",
    "/evaluation/models/",
    "/health/",
]
STUDIO_API = [
    "/api/principles/",
    "/api/datasets/",
    "/api/training-runs/",
    "/api/benchmarks/",
    "/api/contestants/",
    "/api/evaluations/",
]


@pytest.fixture
def evaluator(db):
    return UserFactory(username="eva", roles=["Evaluator"])


def test_an_evaluator_is_refused_every_studio_page(evaluator, client_for):
    c = client_for(evaluator)
    for url in STUDIO_PAGES:
        response = c.get(url)
        assert response.status_code in (403, 404), (url, response.status_code)


def test_an_evaluator_is_refused_the_studio_api(evaluator):
    api = APIClient()
    api.force_authenticate(evaluator)
    for url in STUDIO_API:
        assert api.get(url).status_code == 403, url


def test_an_evaluator_lands_in_the_arena_and_sees_only_its_link(evaluator, client_for):
    c = client_for(evaluator)
    home = c.get("/")
    assert home.status_code == 302 and home["Location"].startswith("/arena/")
    arena = c.get("/arena/")
    assert arena.status_code == 200
    html = arena.content.decode()
    assert 'id="nav-arena"' in html
    for link in ('href="/principles/"', 'href="/training/"', 'href="/evaluation/"'):
        assert link not in html


def test_other_roles_do_not_see_the_arena(client_for, engineer, reviewer, author):
    for user in (engineer, reviewer, author):
        assert client_for(user).get("/arena/").status_code == 403
    html = client_for(engineer).get("/training/").content.decode()
    assert 'id="nav-evaluation"' in html and 'id="nav-arena"' not in html
