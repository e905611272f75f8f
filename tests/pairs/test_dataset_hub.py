"""Pushing an export to a Hugging Face Hub repository (a Hub served on 127.0.0.1)."""

import io
import logging

import pyarrow.parquet as pq
import pytest

from pairs.datasets import services
from pairs.datasets.export import export_dir
from pairs.models import ExportStatus, PreferenceStatus

from ..factories import make_approved, make_review_pairs
from ..fakes.hf_hub import FakeHub

TOKEN = "hf_test_secret_token_123"


@pytest.fixture
def snapshot(author, admin_user, engineer, settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"
    version = make_approved(author, admin_user, task="content_writing").approved_version
    for p in make_review_pairs(8, principle_version=version):
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return services.dataset_snapshot_create(
        name="writing-dpo", kind="dpo", created_by=engineer, test_fraction=0.25
    )


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_export_is_pushed_to_the_hub(snapshot, engineer, settings, fmt, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeHub(TOKEN) as hub:
        settings.WEAVER_HF_TOKEN, settings.WEAVER_HF_ENDPOINT = TOKEN, hub.url
        export = services.dataset_export_create(
            snapshot=snapshot, created_by=engineer, format=fmt, hub_repo="team/writing-dpo"
        )
        services.dataset_export_run(export=export, worker="t")
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE, export.error
    repo = hub.repos["team/writing-dpo"]
    assert repo["private"] is True and repo["type"] == "dataset"
    files = repo["files"]
    assert set(files) == {
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    }
    train = pq.read_table(io.BytesIO(files["data/train-00000-of-00001.parquet"]))
    assert train.num_rows == snapshot.train_count
    card = files["README.md"].decode()
    assert "configs:" in card and "path: data/train-00000-of-00001.parquet" in card
    assert snapshot.content_hash in card
    assert export.hub_url.endswith("/datasets/team/writing-dpo")
    assert not (export_dir(export) / "hub").exists()
    assert TOKEN not in caplog.text


def test_a_refused_token_fails_the_export_without_showing_it(snapshot, engineer, settings):
    with FakeHub("another-token") as hub:
        settings.WEAVER_HF_TOKEN, settings.WEAVER_HF_ENDPOINT = TOKEN, hub.url
        export = services.dataset_export_create(
            snapshot=snapshot, created_by=engineer, format="parquet", hub_repo="team/x"
        )
        services.dataset_export_run(export=export, worker="t")
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert export.error and TOKEN not in export.error
    assert not export_dir(export).exists()


def test_hub_push_needs_a_token_a_repo_id_and_a_columnar_format(snapshot, engineer, settings):
    from django.core.exceptions import ValidationError

    settings.WEAVER_HF_TOKEN = ""
    with pytest.raises(ValidationError) as e:
        services.dataset_export_create(
            snapshot=snapshot, created_by=engineer, format="parquet", hub_repo="team/x"
        )
    assert "hub_repo" in e.value.message_dict
    settings.WEAVER_HF_TOKEN = TOKEN
    for repo, fmt in (("no-slash", "parquet"), ("team/../x", "parquet"), ("team/x", "jsonl")):
        with pytest.raises(ValidationError) as e:
            services.dataset_export_create(
                snapshot=snapshot, created_by=engineer, format=fmt, hub_repo=repo
            )
        assert "hub_repo" in e.value.message_dict
