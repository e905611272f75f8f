"""Run one SFT or DPO training with TRL and report as it goes.

:func:`train` takes a :class:`RunConfig` and a ``report`` callback that receives plain dicts
(events): ``start`` (planned steps, resumed-from checkpoint), ``metrics`` at every logging step
(loss, learning rate, grad norm, DPO rewards and log-probabilities, tokens/s, GPU memory),
``checkpoint`` when one is saved, and ``done`` with the final model's folder. Only rank 0
reports. A run whose output folder already holds checkpoints resumes from the last one, so a
run picked up again after its worker died continues where it stopped.

No Django here: the Celery task adapts the events to the database; ``python -m
training.engine`` (or ``accelerate launch -m training.engine``) runs it from a JSON config.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .config import ConfigError, RunConfig

Report = Callable[[dict], None]

#: Set by :func:`request_stop` (the command line's SIGTERM handler): the run saves a checkpoint
#: at the end of the step under way and stops, without writing a final model.
_STOP = threading.Event()
LOCK_NAME = ".engine.lock"


def request_stop() -> None:
    _STOP.set()


def precision(config: RunConfig) -> str:
    """The run's precision for this machine (``auto``: bf16 on a GPU that has it, else fp32)."""
    import torch

    cuda = torch.cuda.is_available()
    return config.resolved_precision(cuda, cuda and torch.cuda.is_bf16_supported())


def load_split(path: str, cache_dir: str | None = None):
    """A ``datasets.Dataset`` from a JSONL/JSON or Parquet file, or a ``save_to_disk`` folder
    (a ``DatasetDict``'s ``train`` split, or a single dataset)."""
    import datasets

    p = Path(path)
    if p.is_dir():
        loaded = datasets.load_from_disk(str(p))
        if isinstance(loaded, datasets.DatasetDict):
            return loaded["train"]
        return loaded
    if p.suffix in (".jsonl", ".json"):
        builder = "json"
    elif p.suffix == ".parquet":
        builder = "parquet"
    else:
        raise ConfigError("train_file", f"unknown data format: {p.name}")
    return datasets.load_dataset(builder, data_files=str(p), split="train", cache_dir=cache_dir)


def _dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _peft_config(config: RunConfig):
    if config.method == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def load_model(config: RunConfig):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(config.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # A full fine-tune keeps fp32 master weights and trains under bf16/fp16 autocast (mixed
    # precision): in bf16 weights, AdamW's steps at DPO learning rates (5e-7) are below the
    # rounding step of most weights and are lost. LoRA's frozen base may stay in half
    # precision (PEFT keeps the adapters in fp32).
    weights = "fp32" if config.method == "full" else precision(config)
    kwargs: dict = {"dtype": _dtype(weights)}
    if config.method == "qlora":
        if not torch.cuda.is_available():
            raise ConfigError("method", "QLoRA needs a CUDA GPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=_dtype(
                "bf16" if precision(config) == "fp32" else precision(config)
            ),
        )
    model = AutoModelForCausalLM.from_pretrained(config.model, **kwargs)
    return model, tokenizer


def trainer_args(config: RunConfig):
    """The TRL config (DPOConfig or SFTConfig) for a run."""
    import torch
    from trl import DPOConfig, SFTConfig

    common = {
        "output_dir": config.output_dir,
        "learning_rate": config.lr,
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,  # a float in [0, 1): a share of the steps
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "max_length": config.max_length,
        "bf16": precision(config) == "bf16",
        "fp16": precision(config) == "fp16",
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": [],
        "use_cpu": not torch.cuda.is_available(),
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "all",
    }
    from transformers import TrainingArguments

    # transformers 5 renamed gradient checkpointing to activation checkpointing.
    if "activation_checkpointing" in TrainingArguments.__dataclass_fields__:
        common["activation_checkpointing"] = config.gradient_checkpointing
    else:
        common["gradient_checkpointing"] = config.gradient_checkpointing
    if config.kind == "dpo":
        return DPOConfig(beta=config.beta, loss_type=[config.loss_type], **common)
    return SFTConfig(**common)


COMPLETE_MARK = "weaver-complete"


def _checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """(step, folder) of every ``checkpoint-N`` folder, newest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if name.startswith("checkpoint-") and name[11:].isdigit() and os.path.isdir(path):
            found.append((int(name[11:]), path))
    return sorted(found, reverse=True)


def last_checkpoint(output_dir: str) -> str | None:
    """The newest *complete* checkpoint: one the trainer finished saving (the engine marks it
    then). A process killed while saving leaves a folder without the mark, never resumed."""
    for _step, path in _checkpoints(output_dir):
        if os.path.exists(os.path.join(path, COMPLETE_MARK)):
            return path
    return None


def drop_incomplete_checkpoints(output_dir: str) -> list[str]:
    """Remove the checkpoint folders newer than the last complete one (half-saved)."""
    import shutil

    dropped = []
    for _step, path in _checkpoints(output_dir):
        if os.path.exists(os.path.join(path, COMPLETE_MARK)):
            break
        shutil.rmtree(path, ignore_errors=True)
        dropped.append(path)
    return dropped


def _reporting_callback(report: Report):
    import torch
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        def __init__(self):
            self.last = (time.monotonic(), 0)

        def on_step_end(self, args, state, control, **kwargs):
            if _stop_everywhere():
                control.should_save = True
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            if "train_loss" in logs and "loss" not in logs:  # the closing summary
                summary = {k: v for k, v in logs.items() if isinstance(v, int | float)}
                report({"event": "summary", "step": state.global_step, **summary})
                return
            event = {"event": "metrics", "step": state.global_step, "max_steps": state.max_steps}
            event.update({k: v for k, v in logs.items() if isinstance(v, int | float)})
            now, seen = time.monotonic(), int(getattr(state, "num_input_tokens_seen", 0) or 0)
            then, seen_before = self.last
            if seen > seen_before and now > then:
                event["tokens_per_s"] = (seen - seen_before) / (now - then)
            self.last = (now, seen)
            if torch.cuda.is_available():
                event["gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
            report(event)

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
                Path(path, COMPLETE_MARK).write_text(str(state.global_step), encoding="utf-8")
                report({"event": "checkpoint", "step": state.global_step, "path": path})

    return Reporter()


def _stop_everywhere() -> bool:
    """Whether a stop was asked for, agreed by every process of a distributed run (so all
    ranks stop at the same step and none waits for the others in a collective)."""
    import torch.distributed as dist

    stop = _STOP.is_set()
    if dist.is_available() and dist.is_initialized():
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        flag = torch.tensor([1 if stop else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


@contextlib.contextmanager
def output_lock(output_dir: str, wait_seconds: float):
    """Hold an exclusive lock on the run's output folder while training, so two engines never
    train into the same folder: a second one waits (up to ``wait_seconds``) for the first to
    end, and the kernel releases the lock when a process dies. Only global rank 0 takes it."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    import fcntl

    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, LOCK_NAME), "a+") as fh:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"another process is training into {output_dir} (lock held)"
                    ) from None
                time.sleep(0.5)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def model_card(config: RunConfig, steps: int) -> str:
    """The README.md of the final model: what it was trained on and how."""
    settings = json.dumps(
        {k: v for k, v in config.as_dict().items() if k not in ("extra",)},
        ensure_ascii=False,
        indent=2,
    )
    return "\n".join(
        [
            "---",
            "library_name: transformers",
            f"tags: [weaver, {config.kind}, trl]",
            "---",
            f"# {config.run_name or 'Weaver run'}",
            "",
            f"{config.kind.upper()} of `{config.model}` ({config.method}) with TRL, {steps} steps.",
            "",
            f"- Dataset snapshot: {config.snapshot or 'unnamed'}",
            f"- Snapshot content hash: `{config.snapshot_hash or 'unknown'}`",
            "",
            "## Settings",
            "",
            "```json",
            settings,
            "```",
            "",
        ]
    )


def train(config: RunConfig, report: Report | None = None, *, lock_wait: float = 300) -> dict:
    """Train (or resume) the run; return ``{"steps", "final_dir", "resumed_from", "stopped"}``.

    A stop asked for while it trains (:func:`request_stop`) saves a checkpoint at the end of
    the step under way and returns with ``stopped`` true and no final model."""
    report = report or (lambda event: None)
    config.check()
    with output_lock(config.output_dir, lock_wait):
        return _train(config, report)


def _train(config: RunConfig, report: Report) -> dict:
    from transformers import set_seed
    from trl import DPOTrainer, SFTTrainer

    set_seed(config.seed)
    os.makedirs(config.output_dir, exist_ok=True)
    cache = os.path.join(config.output_dir, ".data-cache")
    train_data = load_split(config.train_file, cache)
    eval_data = load_split(config.eval_file, cache) if config.eval_file else None
    model, tokenizer = load_model(config)
    args = trainer_args(config)
    trainer_cls = DPOTrainer if config.kind == "dpo" else SFTTrainer
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=_peft_config(config),
        callbacks=[_reporting_callback(report)],
    )
    if trainer.is_world_process_zero():
        for path in drop_incomplete_checkpoints(config.output_dir):
            report({"event": "dropped", "path": path})
    resume = last_checkpoint(config.output_dir)
    if trainer.is_world_process_zero():
        report(
            {
                "event": "start",
                "resumed_from": resume or "",
                "rows": len(train_data),
                "pid": os.getpid(),
                "max_steps": _planned_steps(trainer, len(train_data), config),
                "precision": precision(config),
            }
        )
    result = trainer.train(resume_from_checkpoint=resume)
    if _STOP.is_set():
        if trainer.is_world_process_zero():
            report({"event": "stopped", "step": result.global_step})
        return {
            "steps": result.global_step,
            "final_dir": "",
            "resumed_from": resume or "",
            "stopped": True,
        }
    final = os.path.join(config.output_dir, "final")
    trainer.save_model(final)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(final)
        Path(final, "README.md").write_text(
            model_card(config, result.global_step), encoding="utf-8"
        )
        report(
            {
                "event": "done",
                "step": result.global_step,
                "final_dir": final,
                "train_loss": result.training_loss,
            }
        )
    return {
        "steps": result.global_step,
        "final_dir": final,
        "resumed_from": resume or "",
        "stopped": False,
    }


def _planned_steps(trainer, rows: int, config: RunConfig) -> int:
    """The optimiser steps the run will take (as the trainer will count them)."""
    import math

    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(rows / (config.per_device_batch_size * trainer.args.world_size))
    per_epoch = max(1, batches // config.gradient_accumulation)
    return math.ceil(per_epoch * config.epochs)
