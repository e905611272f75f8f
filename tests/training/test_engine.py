"""The training engine alone (no Django): DPO and SFT with TRL on a tiny random model on the
CPU, metrics and checkpoints reported, resume after an interruption, SFT then DPO."""

import json
from pathlib import Path

import pytest
from trl import DPOConfig, DPOTrainer

from training.engine.config import ConfigError, RunConfig
from training.engine.run import last_checkpoint, load_model, load_split, train

from ..tiny_model import build_tiny_causal_lm

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


def preference_file(path: Path, n: int = 32) -> Path:
    """``n`` rows in the studio's export layout (standard, with metadata columns)."""
    with path.open("w", encoding="utf-8") as fh:
        for k in range(n):
            row = {
                "prompt": f"Write line {k} about the river.",
                "chosen": f"The river ran slow under the moon, line {k}.",
                "rejected": f"The river was very nice and slow, line {k}.",
                "pair_id": k,
                "language": "en",
                "principle_id": 1 + k % 3,
                "metrics": {"edit_ratio": 0.2, "identical": False},
                "review": {"status": "accepted", "agreement": None},
            }
            fh.write(json.dumps(row) + "\n")
    return path


def sft_file(path: Path, n: int = 16) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for k in range(n):
            fh.write(json.dumps({"prompt": f"Write {k}.", "completion": f"Line {k}."}) + "\n")
    return path


def config(tmp_path, tiny_path, **kwargs) -> RunConfig:
    values = {
        "kind": "dpo",
        "model": str(tiny_path),
        "train_file": str(preference_file(tmp_path / "train.jsonl")),
        "output_dir": str(tmp_path / "run"),
        "max_steps": 4,
        "per_device_batch_size": 2,
        "save_steps": 2,
        "learning_rate": 1e-4,
        "seed": 7,
        "snapshot": "writing-dpo v1",
        "snapshot_hash": "ab" * 32,
    }
    values.update(kwargs)
    return RunConfig.from_dict(values)


def test_dpo_run_reports_metrics_checkpoints_and_matches_trl(tmp_path, tiny_path):
    cfg = config(tmp_path, tiny_path)
    events = []
    result = train(cfg, events.append)
    assert result["steps"] == 4
    metrics = [e for e in events if e["event"] == "metrics" and "loss" in e]
    assert [e["step"] for e in metrics] == [1, 2, 3, 4]
    for name in ("loss", "learning_rate", "grad_norm", "rewards/chosen", "rewards/accuracies"):
        assert name in metrics[0], name
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4]
    assert last_checkpoint(cfg.output_dir).endswith("checkpoint-4")
    card = (Path(result["final_dir"]) / "README.md").read_text()
    assert "writing-dpo v1" in card and "ab" * 32 in card

    # TRL's DPOTrainer run directly on the same data and seed.
    model, tokenizer = load_model(cfg)
    args = DPOConfig(
        output_dir=str(tmp_path / "direct"),
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=1e-4,
        seed=7,
        data_seed=7,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        max_length=cfg.max_length,
        warmup_steps=cfg.warmup_ratio,
        bf16=False,  # DPOConfig's default; the run is fp32
    )
    direct = DPOTrainer(
        model=model,
        args=args,
        train_dataset=load_split(cfg.train_file),
        processing_class=tokenizer,
    )
    direct.train()
    losses = [h["loss"] for h in direct.state.log_history if "loss" in h]
    # Step 1 (policy = reference: log 2) and the steps after the first updates.
    assert len(losses) == 4
    for theirs, ours in zip(losses, metrics, strict=True):
        assert abs(theirs - ours["loss"]) < 1e-4
    assert abs(losses[-1] - losses[0]) > 1e-6  # training moved the loss


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, tiny_path):
    cfg = config(tmp_path, tiny_path)

    class Killed(Exception):
        pass

    def die_at_step_3(event):
        if event["event"] == "metrics" and event["step"] == 3:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, die_at_step_3)
    assert last_checkpoint(cfg.output_dir).endswith("checkpoint-2")
    events = []
    result = train(cfg, events.append)
    assert result["resumed_from"].endswith("checkpoint-2")
    assert result["steps"] == 4
    assert [e["step"] for e in events if e["event"] == "metrics" and "loss" in e] == [3, 4]


def test_sft_then_dpo_from_its_output(tmp_path, tiny_path):
    sft = config(
        tmp_path,
        tiny_path,
        kind="sft",
        train_file=str(sft_file(tmp_path / "sft.jsonl")),
        output_dir=str(tmp_path / "sft"),
        max_steps=2,
    )
    first = train(sft)
    dpo = config(tmp_path, tiny_path, model=first["final_dir"], output_dir=str(tmp_path / "dpo"))
    second = train(dpo)
    assert second["steps"] == 4
    assert (Path(second["final_dir"]) / "model.safetensors").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kind": "rl"}, "kind"),
        ({"beta": 0}, "beta"),
        ({"loss_type": "hinge2"}, "loss_type"),
        ({"per_device_batch_size": 0}, "per_device_batch_size"),
        ({"colour": "red"}, "colour"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_settings_name_the_field(tmp_path, change, field):
    values = {"kind": "dpo", "model": "m", "train_file": "t.jsonl", "output_dir": "o"}
    values.update(change)
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict(values)
    assert e.value.field == field


def test_command_line_appends_events_and_refuses_a_bad_config(tmp_path, tiny_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    cfg = config(tmp_path, tiny_path, max_steps=2)
    (tmp_path / "run.json").write_text(cfg.to_json())
    events = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "training.engine", "--config", str(tmp_path / "run.json")]
    done = subprocess.run([*command, "--events", str(events)], cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    kinds = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("checkpoint") == 1
    (tmp_path / "bad.json").write_text(json.dumps({**cfg.as_dict(), "beta": -1}))
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.engine",
            "--config",
            str(tmp_path / "bad.json"),
            "--events",
            str(tmp_path / "bad.jsonl"),
        ],
        cwd=root,
        capture_output=True,
    )
    assert bad.returncode == 2 and b"beta" in bad.stderr


@pytest.mark.parametrize(("method", "dtype"), [("full", "float32"), ("lora", "bfloat16")])
def test_a_full_fine_tune_keeps_fp32_weights_under_bf16(tmp_path, tiny_path, method, dtype):
    """Mixed precision: bf16 autocast over fp32 master weights (bf16 weights would lose the
    small steps of DPO learning rates); a LoRA base stays in bf16."""
    cfg = config(tmp_path, tiny_path, precision="bf16", method=method)
    model, _tokenizer = load_model(cfg)
    assert str(next(model.parameters()).dtype) == f"torch.{dtype}"


def test_two_processes_report_once_and_stop_together(tmp_path, tiny_path):
    """Data parallel on the CPU (two ranks over gloo under torch's launcher, as ``accelerate
    launch`` runs several GPUs): only rank 0 writes events, each step once; SIGTERM to the
    ranks the supervisor finds (``engine_ranks``) stops both at the same step with a
    checkpoint, and the launcher exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = config(tmp_path, tiny_path, max_steps=100_000, save_steps=1000)
    config_path = tmp_path / "run.json"
    config_path.write_text(cfg.to_json())
    events = tmp_path / "events.jsonl"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        + ["-m", "training.engine", "--config", str(config_path), "--events", str(events)],
        cwd=root,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if events.exists() and events.read_text().count('"metrics"') >= 3:
                break
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        from training.supervisor import engine_ranks

        ranks = engine_ranks(proc.pid)
        assert len(ranks) == 2
        os.kill(ranks[0], signal.SIGTERM)  # one rank asked: the other agrees at the step's end
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-3000:]
    assert output.count("stopping after this step") == 1
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    steps = [e["step"] for e in lines if e["event"] == "metrics"]
    assert steps == list(range(1, len(steps) + 1))  # one writer: every step once
    assert [e["event"] for e in lines].count("start") == 1
    stopped = next(e for e in lines if e["event"] == "stopped")["step"]
    assert last_checkpoint(cfg.output_dir).endswith(f"checkpoint-{stopped}")
    assert not (Path(cfg.output_dir) / "final").exists()
