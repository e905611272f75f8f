"""The new-run form: what a run trains on and from, and every hyperparameter the engine takes,
in fieldsets.

The form only types what was posted; every rule (a snapshot of the run's kind, a base model or
a finished base run, each number's range) is :func:`training.services.training_run_create`'s,
whose ``ValidationError`` is shown on the fields by
:func:`weaver_site.forms.form_add_service_errors`. A hyperparameter left empty takes the kind's
default (the learning rate differs: 5e-7 for DPO, 2e-5 for SFT).
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from pairs.models import DatasetSnapshot, SnapshotStatus

from .engine.config import DPO_LOSSES, PRECISIONS, SCHEDULES
from .models import RunKind, RunMethod, RunStatus, TrainingRun
from .services import HYPERPARAMETERS, LAYOUTS, MAX_GPUS, run_defaults

#: What each hyperparameter is called on the pages (the form, the config and compare tables).
HYPERPARAMETER_LABELS = {
    "learning_rate": _("Learning rate"),
    "lr_scheduler": _("Learning rate schedule"),
    "warmup_ratio": _("Warm-up ratio"),
    "epochs": _("Epochs"),
    "max_steps": _("Maximum steps"),
    "per_device_batch_size": _("Batch size per device"),
    "gradient_accumulation": _("Gradient accumulation steps"),
    "max_length": _("Maximum length (tokens)"),
    "precision": _("Precision"),
    "seed": _("Seed"),
    "beta": _("Beta"),
    "loss_type": _("DPO loss"),
    "logging_steps": _("Log every (steps)"),
    "save_steps": _("Checkpoint every (steps)"),
    "save_total_limit": _("Checkpoints kept"),
    "lora_r": _("LoRA rank (r)"),
    "lora_alpha": _("LoRA alpha"),
    "lora_dropout": _("LoRA dropout"),
    "gradient_checkpointing": _("Gradient checkpointing"),
    "layout": _("Data layout"),
}
LAYOUT_LABELS = {
    "conversational": _("Conversational (chat messages; the model's chat template applies)"),
    "standard": _("Standard (plain prompt and response text)"),
}
SCHEDULE_LABELS = {
    "linear": _("Linear"),
    "cosine": _("Cosine"),
    "constant_with_warmup": _("Constant after warm-up"),
}
PRECISION_LABELS = {
    "auto": _("Automatic (bf16 on a GPU that has it, else fp32)"),
    "fp32": "fp32",
    "bf16": "bf16",
    "fp16": "fp16",
}
LOSS_LABELS = {
    "sigmoid": _("Sigmoid (the DPO paper's)"),
    "apo_zero": "APO-zero",
    "ipo": "IPO",
}

#: The form's fieldsets: (id, legend, field names).
FIELDSETS = (
    ("basics", _("Basics"), ("name", "kind", "snapshot", "layout")),
    ("model", _("Model"), ("base_model", "base_run", "method", "gpus")),
    (
        "optimisation",
        _("Optimisation"),
        (
            "learning_rate",
            "lr_scheduler",
            "warmup_ratio",
            "epochs",
            "max_steps",
            "per_device_batch_size",
            "gradient_accumulation",
            "max_length",
            "precision",
            "seed",
            "gradient_checkpointing",
        ),
    ),
    ("dpo", _("DPO"), ("beta", "loss_type")),
    ("lora", _("LoRA"), ("lora_r", "lora_alpha", "lora_dropout")),
    ("checkpoints", _("Checkpoints"), ("logging_steps", "save_steps", "save_total_limit")),
)

_HELP = {
    "learning_rate": _("Empty: the kind's default (5e-7 for DPO, 2e-5 for SFT)."),
    "warmup_ratio": _("Share of the steps spent warming up (0 to 0.5)."),
    "epochs": _("Passes over the training rows (ignored when maximum steps is set)."),
    "max_steps": _("-1: as many as the epochs take."),
    "per_device_batch_size": _("Rows per step on each device."),
    "max_length": _("Longer rows are cut."),
    "beta": _("How far the model may move from the reference (the Weaver method: 0.1)."),
    "save_total_limit": _("Older checkpoints are removed from disk."),
    "gradient_checkpointing": _("Less memory, slower steps."),
}


class _SnapshotChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("%(label)s · %(kind)s · %(n)d training rows") % {
            "label": obj.label,
            "kind": obj.kind.upper(),
            "n": obj.train_count,
        }


class _RunChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"#{obj.pk} {obj.name} ({obj.get_kind_display()})"


def _number(name: str, *, integer: bool = False, required: bool = True):
    field = forms.IntegerField if integer else forms.FloatField
    return field(
        label=HYPERPARAMETER_LABELS[name],
        required=required,
        help_text=_HELP.get(name, ""),
        widget=forms.NumberInput(attrs={"step": "1" if integer else "any", "class": "num"}),
    )


def _choice(name: str, values, labels: dict):
    return forms.ChoiceField(
        label=HYPERPARAMETER_LABELS[name],
        choices=[(v, labels.get(v, v)) for v in values],
        help_text=_HELP.get(name, ""),
    )


def finished_base_runs():
    """Runs a new run may start from: done, with a final model."""
    return TrainingRun.objects.filter(status=RunStatus.DONE).exclude(final_dir="").order_by("-id")


class RunForm(forms.Form):
    """A new SFT or DPO run."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=RunKind.choices, initial=RunKind.DPO, widget=forms.RadioSelect
    )
    snapshot = _SnapshotChoice(
        label=_("Dataset snapshot"),
        queryset=DatasetSnapshot.objects.none(),
        help_text=_("A ready snapshot of the run's kind; the run trains on its train split."),
    )
    layout = forms.ChoiceField(
        label=HYPERPARAMETER_LABELS["layout"],
        choices=[(v, LAYOUT_LABELS[v]) for v in LAYOUTS],
        widget=forms.RadioSelect,
    )
    base_model = forms.CharField(
        label=_("Base model"),
        max_length=500,
        required=False,
        help_text=_("A local path on the GPU workers or a Hugging Face model id."),
    )
    base_run = _RunChoice(
        label=_("Or start from a run"),
        queryset=TrainingRun.objects.none(),
        required=False,
        empty_label=_("— none —"),
        help_text=_("The final model of a finished run (for DPO, usually an SFT run)."),
    )
    method = forms.ChoiceField(label=_("Method"), choices=RunMethod.choices)
    gpus = forms.IntegerField(
        label=_("GPUs"),
        initial=1,
        min_value=0,
        max_value=MAX_GPUS,
        widget=forms.NumberInput(attrs={"step": "1", "class": "num"}),
        help_text=_("0: train on the CPU. More than 1: one process per GPU."),
    )

    learning_rate = _number("learning_rate", required=False)
    lr_scheduler = _choice("lr_scheduler", SCHEDULES, SCHEDULE_LABELS)
    warmup_ratio = _number("warmup_ratio")
    epochs = _number("epochs")
    max_steps = _number("max_steps", integer=True)
    per_device_batch_size = _number("per_device_batch_size", integer=True)
    gradient_accumulation = _number("gradient_accumulation", integer=True)
    max_length = _number("max_length", integer=True)
    precision = _choice("precision", PRECISIONS, PRECISION_LABELS)
    seed = _number("seed", integer=True)
    gradient_checkpointing = forms.BooleanField(
        label=HYPERPARAMETER_LABELS["gradient_checkpointing"],
        required=False,
        help_text=_HELP["gradient_checkpointing"],
    )
    beta = _number("beta")
    loss_type = _choice("loss_type", DPO_LOSSES, LOSS_LABELS)
    lora_r = _number("lora_r", integer=True)
    lora_alpha = _number("lora_alpha", integer=True)
    lora_dropout = _number("lora_dropout")
    logging_steps = _number("logging_steps", integer=True)
    save_steps = _number("save_steps", integer=True)
    save_total_limit = _number("save_total_limit", integer=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = DatasetSnapshot.objects.filter(
            status=SnapshotStatus.READY
        ).order_by("name", "-version")
        self.fields["base_run"].queryset = finished_base_runs()
        for name, value in run_defaults(RunKind.DPO).items():
            self.fields[name].initial = value

    def fieldsets(self) -> list[dict]:
        return [
            {"id": key, "legend": legend, "fields": [self[name] for name in names]}
            for key, legend, names in FIELDSETS
        ]

    def service_kwargs(self) -> dict:
        """The arguments of :func:`training.services.training_run_create` (after
        ``is_valid``); an empty learning rate is left out, so the kind's default applies."""
        d = self.cleaned_data
        hyperparameters = {
            name: d[name] for name in (*HYPERPARAMETERS, "layout") if d.get(name) is not None
        }
        return {
            "name": d["name"],
            "kind": d["kind"],
            "snapshot": d["snapshot"],
            "base_model": d["base_model"],
            "base_run": d["base_run"],
            "method": d["method"],
            "gpus": d["gpus"],
            "hyperparameters": hyperparameters,
        }


def kind_learning_rates() -> dict[str, float]:
    """Each kind's default learning rate (the form's script swaps them when the kind changes)."""
    return {kind: run_defaults(kind)["learning_rate"] for kind in RunKind.values}
