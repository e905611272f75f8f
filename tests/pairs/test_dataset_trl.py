"""Exports load in the tools engineers use, unchanged: ``datasets.load_from_disk`` and
``datasets.load_dataset("json", ...)``, then TRL's DPOTrainer and SFTTrainer for one step on a
tiny model on the CPU."""

from pathlib import Path

import datasets
import pytest
import trl

from pairs.datasets import services
from pairs.datasets.export import export_dir, hf_folder
from pairs.models import ExportStatus, PreferenceStatus

from ..factories import make_approved, make_instruction_pair, make_review_pairs
from ..tiny_model import build_tiny_causal_lm

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


@pytest.fixture
def exports_dir(settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"


def export(snapshot, engineer, **kwargs):
    e = services.dataset_export_create(snapshot=snapshot, created_by=engineer, **kwargs)
    services.dataset_export_run(export=e, worker="t")
    e.refresh_from_db()
    assert e.status == ExportStatus.DONE, e.error
    return e


def json_files(e) -> dict:
    return {f["split"]: str(export_dir(e) / f["name"]) for f in e.files if f.get("split")}


def load_both(snapshot, engineer, layout):
    """The snapshot exported as a datasets folder and as JSONL, each loaded back."""
    hf = export(snapshot, engineer, format="hf", layout=layout)
    jsonl = export(snapshot, engineer, format="jsonl", layout=layout)
    from_disk = datasets.load_from_disk(str(hf_folder(hf)))
    from_json = datasets.load_dataset(
        "json", data_files=json_files(jsonl), cache_dir=str(export_dir(jsonl) / ".hf-cache")
    )
    for ds in (from_disk, from_json):
        assert ds["train"].num_rows == snapshot.train_count
        assert ds["test"].num_rows == snapshot.test_count
    assert from_disk["train"].column_names == from_json["train"].column_names
    assert from_disk["train"][0] == from_json["train"][0]
    return from_disk, from_json


def tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def one_step(tmp_path, name, trainer_cls, config_cls, path, train, **config):
    args = config_cls(
        output_dir=str(tmp_path / name),
        max_steps=1,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        **config,
    )
    trainer = trainer_cls(
        model=model(path), args=args, train_dataset=train, processing_class=tokenizer(path)
    )
    result = trainer.train()
    assert result.global_step == 1
    assert result.training_loss > 0


@pytest.mark.parametrize("layout", ["standard", "conversational"])
def test_preference_export_trains_dpo(
    engineer, author, admin_user, exports_dir, tiny_path, tmp_path, layout
):
    version = make_approved(author, admin_user, task="content_writing").approved_version
    pairs = make_review_pairs(10, principle_version=version)
    pairs += make_review_pairs(
        2,
        principle_version=version,
        language="zh",
        instruction="写一个关于河流的短篇。",
        rejected="河水慢慢地流着，很美很美。",
    )
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    snapshot = services.dataset_snapshot_create(
        name="dpo", kind="dpo", created_by=engineer, test_fraction=0.25
    )
    assert snapshot.train_count >= 2 and snapshot.test_count >= 1
    from_disk, from_json = load_both(snapshot, engineer, layout)
    assert "principle_text" in from_disk["train"].column_names
    for k, ds in enumerate((from_disk, from_json)):
        one_step(tmp_path, f"dpo-{k}", trl.DPOTrainer, trl.DPOConfig, tiny_path, ds["train"])


@pytest.mark.parametrize("layout", ["standard", "conversational"])
def test_instruction_export_trains_sft(engineer, exports_dir, tiny_path, tmp_path, layout):
    for k in range(12):
        make_instruction_pair(
            instruction=f"Write line {k} about the sea.",
            context="The sea was grey." if k % 2 else "",
            response=f"Line {k}: the waves came in slow.",
            status="kept",
        )
    snapshot = services.dataset_snapshot_create(
        name="sft", kind="sft", created_by=engineer, test_fraction=0.25
    )
    assert snapshot.train_count >= 2 and snapshot.test_count >= 1
    from_disk, from_json = load_both(snapshot, engineer, layout)
    expected = "messages" if layout == "conversational" else "completion"
    assert expected in from_disk["train"].column_names
    for k, ds in enumerate((from_disk, from_json)):
        one_step(tmp_path, f"sft-{k}", trl.SFTTrainer, trl.SFTConfig, tiny_path, ds["train"])
