import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

from weaver_site.infra import database_url, filesystem_broker_options
from weaver_site.management.commands.runstudio import worker_command

from .factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parent.parent
# The shared sample corpus sits beside the checkout (``../shared/corpus``), as on CI.
SHARED_CORPUS = next(
    (p for p in (ROOT.parent / "shared" / "corpus", Path("/work/shared/corpus")) if p.exists()),
    ROOT.parent / "shared" / "corpus",
)
# How the sample corpus's fields map onto a corpus text (see ../shared/corpus/README.md).
SHARED_CORPUS_MAPPING = {
    "text": "text",
    "title": "title",
    "author": "author",
    "language": "lang",
    "domain": "domain",
    "licence": "license",
    "source": "source",
    "external_id": "id",
}
CHROMIUM = os.environ.get("WEAVER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session", autouse=True)
def _private_broker(tmp_path_factory):
    """With the embedded broker, tests publish to and their workers read from a private
    folder, never the studio's own ``var/broker``."""
    from django.conf import settings

    if settings.REDIS_URL:
        yield None
        return
    from weaver_site.celery import app

    folder = tmp_path_factory.mktemp("broker")
    options = filesystem_broker_options(folder)
    saved = (settings.BROKER_DIR, settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    settings.BROKER_DIR, settings.CELERY_BROKER_TRANSPORT_OPTIONS = folder, options
    app.conf.broker_transport_options = options
    if app._pool is not None:  # connections made before this point used the old folder
        app._pool.force_close_all()
        app._pool = None
    yield folder
    settings.BROKER_DIR, settings.CELERY_BROKER_TRANSPORT_OPTIONS = saved


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reference_data(transactional_db):
    """Roles and taxonomy for tests that commit: a flush after each such test removes what the
    data migrations made, so put it back (idempotent)."""
    from django.contrib.auth.models import Group

    from principles.models import Domain, Subdomain, Task
    from principles.taxonomy import seed_taxonomy
    from weaver_site.roles import ALL_ROLES

    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    seed_taxonomy(Domain, Subdomain, Task)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def author(db):
    return UserFactory(username="alice", roles=["Author"])


@pytest.fixture
def author2(db):
    return UserFactory(username="bob", roles=["Author"])


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rita", roles=["Reviewer"])


@pytest.fixture
def engineer(db):
    return UserFactory(username="ed", roles=["Engineer"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", roles=["Admin"])


@pytest.fixture
def norole(db):
    return UserFactory(username="nora", roles=[])


@pytest.fixture
def client_for(client):
    """A fresh logged-in test client per user: ``client_for(user)``."""
    from django.test import Client

    def make(user, **kwargs):
        c = Client(**kwargs)
        c.force_login(user)
        return c

    return make


def database_url_for_subprocess() -> str:
    """The URL of the database this test uses, for worker processes the test starts."""
    return database_url(connection.vendor, connection.settings_dict)


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for a process that must share this test's database and broker."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_for_subprocess()
    env["WEAVER_HEARTBEAT_SECONDS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if not env.get("REDIS_URL"):
        from django.conf import settings

        env["WEAVER_BROKER_DIR"] = str(settings.BROKER_DIR)
    return env


@pytest.fixture
def celery_worker_process(reference_data, subprocess_env, tmp_path):
    """Start a real Celery worker process; yields a function that starts one per call."""
    procs = []

    _purge_broker()  # messages that earlier tests queued without a worker are not for this one

    def start(queues="default,llm,gpu", name="test"):
        log = open(tmp_path / f"worker-{name}.log", "w")  # noqa: SIM115
        command = worker_command(queues, ["--pool", "solo"], name=name)
        proc = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=subprocess_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = tmp_path / f"worker-{name}.log"
        procs.append((proc, log))
        return proc

    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _purge_broker() -> None:
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).delete(*settings.WEAVER_QUEUES)
        return
    for message in (settings.BROKER_DIR / "queue").glob("*.msg"):
        message.unlink(missing_ok=True)


def wait_for(predicate, timeout=30.0, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


# --- Training -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Llama with its tokenizer, built once for the session (nothing is
    downloaded)."""
    from .tiny_model import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


@pytest.fixture
def training_dir(settings, tmp_path) -> Path:
    settings.WEAVER_TRAINING_DIR = tmp_path / "runs"
    return settings.WEAVER_TRAINING_DIR


@pytest.fixture
def worker_env(subprocess_env, training_dir):
    """The environment of a training worker started by a test: this test's training folder,
    a short lease and quick polling, so a lost worker's run is taken over in seconds."""
    subprocess_env.update(
        WEAVER_TRAINING_DIR=str(training_dir),
        WEAVER_TRAINING_LEASE_SECONDS="6",
        WEAVER_TRAINING_POLL_SECONDS="0.3",
        WEAVER_TRAINING_STOP_GRACE_SECONDS="30",
    )
    return subprocess_env
