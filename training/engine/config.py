"""A training run's configuration: what the engine needs, as plain data (no Django).

``RunConfig.from_dict`` checks every field and raises :class:`ConfigError` naming it, so a run
is refused before it is queued. Defaults for DPO are the Weaver method's: beta 0.1, learning
rate 5e-7, linear schedule with 5% warmup, 3 epochs, sigmoid loss.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

KINDS = ("sft", "dpo")
METHODS = ("full", "lora", "qlora")
DPO_LOSSES = ("sigmoid", "apo_zero", "ipo")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("linear", "cosine", "constant_with_warmup")


class ConfigError(ValueError):
    """A bad configuration value: ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass
class RunConfig:
    kind: str
    model: str  # a local path (or a Hugging Face id where the worker may download)
    train_file: str  # JSONL/Parquet file, or a ``save_to_disk`` folder
    output_dir: str
    eval_file: str = ""
    method: str = "full"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    learning_rate: float | None = None  # None: 5e-7 for DPO, 2e-5 for SFT
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.05
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 1024
    precision: str = "auto"  # bf16 on a GPU that has it, else fp32
    gradient_checkpointing: bool = False
    seed: int = 42
    beta: float = 0.1
    loss_type: str = "sigmoid"
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 3
    gpus: int = 0  # 0: CPU (or the single visible device), >1: ``accelerate launch``
    # For the model card.
    run_name: str = ""
    snapshot: str = ""
    snapshot_hash: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError("config", "expected an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], "unknown setting")
        for name in ("kind", "model", "train_file", "output_dir"):
            if not data.get(name):
                raise ConfigError(name, "required")
        config = cls(**data)
        config.check()
        return config

    def check(self) -> None:
        def one_of(name, allowed):
            if getattr(self, name) not in allowed:
                raise ConfigError(name, f"expected one of {', '.join(allowed)}")

        def number(name, low, high, *, integer=False):
            value = getattr(self, name)
            ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
            if isinstance(value, bool) or not ok_type or not low <= value <= high:
                raise ConfigError(name, f"expected a number from {low} to {high}")

        one_of("kind", KINDS)
        one_of("method", METHODS)
        one_of("precision", PRECISIONS)
        one_of("lr_scheduler", SCHEDULES)
        one_of("loss_type", DPO_LOSSES)
        if self.learning_rate is not None:
            number("learning_rate", 1e-9, 1.0)
        number("warmup_ratio", 0.0, 0.5)
        number("epochs", 0.01, 100.0)
        number("max_steps", -1, 10_000_000, integer=True)
        number("per_device_batch_size", 1, 4096, integer=True)
        number("gradient_accumulation", 1, 4096, integer=True)
        number("max_length", 16, 1_048_576, integer=True)
        number("seed", 0, 2**32 - 1, integer=True)
        number("beta", 1e-4, 100.0)
        number("logging_steps", 1, 1_000_000, integer=True)
        number("save_steps", 1, 10_000_000, integer=True)
        number("save_total_limit", 1, 1000, integer=True)
        number("gpus", 0, 64, integer=True)
        number("lora_r", 1, 1024, integer=True)
        number("lora_alpha", 1, 4096, integer=True)
        number("lora_dropout", 0.0, 0.9)
        if not isinstance(self.gradient_checkpointing, bool):
            raise ConfigError("gradient_checkpointing", "expected true or false")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 5e-7 if self.kind == "dpo" else 2e-5

    def resolved_precision(self, cuda: bool, bf16_supported: bool) -> str:
        """``auto`` made concrete for the device: bf16 where the GPU has it, else fp32."""
        if self.precision != "auto":
            return self.precision
        return "bf16" if cuda and bf16_supported else "fp32"

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)
