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

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from .config import ConfigError, RunConfig

Report = Callable[[dict], None]


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
    kwargs: dict = {"dtype": _dtype(config.precision)}
    if config.method == "qlora":
        if not torch.cuda.is_available():
            raise ConfigError("method", "QLoRA needs a CUDA GPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=_dtype(
                "bf16" if config.precision == "fp32" else config.precision
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
        "bf16": config.precision == "bf16",
        "fp16": config.precision == "fp16",
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
    if config.kind == "dpo":
        return DPOConfig(beta=config.beta, loss_type=[config.loss_type], **common)
    return SFTConfig(**common)


def last_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not os.path.isdir(output_dir):
        return None
    return get_last_checkpoint(output_dir)


def _reporting_callback(report: Report):
    import torch
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        def __init__(self):
            self.last = (time.monotonic(), 0)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
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
                report({"event": "checkpoint", "step": state.global_step, "path": path})

    return Reporter()


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


def train(config: RunConfig, report: Report | None = None) -> dict:
    """Train (or resume) the run; return ``{"steps", "final_dir", "resumed_from"}``."""
    from transformers import set_seed
    from trl import DPOTrainer, SFTTrainer

    report = report or (lambda event: None)
    config.check()
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
    resume = last_checkpoint(config.output_dir)
    if trainer.is_world_process_zero():
        report({"event": "start", "resumed_from": resume or "", "rows": len(train_data)})
    result = trainer.train(resume_from_checkpoint=resume)
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
    return {"steps": result.global_step, "final_dir": final, "resumed_from": resume or ""}
