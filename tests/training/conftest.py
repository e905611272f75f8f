"""Fixtures of the training tests: the tiny model, snapshots to train on, a training folder."""

from pathlib import Path

import pytest

from ..tiny_model import build_tiny_causal_lm


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Llama with its tokenizer, built once for the session (nothing is
    downloaded)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


@pytest.fixture
def training_dir(settings, tmp_path) -> Path:
    settings.WEAVER_TRAINING_DIR = tmp_path / "runs"
    return settings.WEAVER_TRAINING_DIR


def dpo_snapshot(engineer, author, admin_user, n: int = 32, name: str = "dpo-train"):
    """A ready DPO snapshot of ``n`` accepted preference pairs, all in the train split."""
    from pairs.datasets import services
    from pairs.models import PreferencePair, PreferenceStatus

    from ..factories import make_approved, make_review_pairs

    version = make_approved(author, admin_user, task="content_writing").approved_version
    pairs = make_review_pairs(n, principle_version=version)
    PreferencePair.objects.filter(pk__in=[p.pk for p in pairs]).update(
        status=PreferenceStatus.ACCEPTED
    )
    return services.dataset_snapshot_create(
        name=name, kind="dpo", created_by=engineer, test_fraction=0
    )


def sft_snapshot(engineer, n: int = 16, name: str = "sft-train"):
    from pairs.datasets import services

    from ..factories import make_instruction_pair

    for k in range(n):
        make_instruction_pair(
            instruction=f"Write line {k} about the sea.",
            response=f"Line {k}: the waves came in slow.",
            status="kept",
        )
    return services.dataset_snapshot_create(
        name=name, kind="sft", created_by=engineer, test_fraction=0
    )


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
