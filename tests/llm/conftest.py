import pytest

from weaver_site.llm import gateway
from weaver_site.llm.models import Endpoint

from ..fakes.llm_server import FakeLLMServer


@pytest.fixture(scope="session")
def llm_server_session():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm_server(llm_server_session):
    llm_server_session.reset()
    yield llm_server_session
    llm_server_session.reset()


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setattr(gateway, "BACKOFF_BASE", 0.01)


@pytest.fixture
def make_endpoint(transactional_db, llm_server):
    """Endpoints for gateway tests. The gateway works in its own threads (their own database
    connections), so these tests commit: ``transactional_db``."""

    def make(**fields):
        defaults = {
            "name": "fake",
            "base_url": llm_server.url,
            "model": "fake-model",
            "max_concurrency": 8,
            "timeout_seconds": 5,
            "max_attempts": 4,
        }
        defaults.update(fields)
        return Endpoint.objects.create(**defaults)

    return make
