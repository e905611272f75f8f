"""The rows of a snapshot: their canonical JSON, the prompt-hash split, and export layouts.

A row is a flat JSON object whose first columns are what trainers read (``prompt``,
``chosen``, ``rejected`` for DPO; ``prompt``, ``completion`` for SFT) and whose other columns
are the metadata: pair id, language, domain, subdomain, task, principle (DPO), generator,
metrics, review outcome and source provenance. Every row of a kind has the same keys, and
nested objects the same fields, so JSON and Parquet readers infer one schema.

Plain Python, no database access: the services feed it pair values and store what it returns.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable

DPO_CORE = ("prompt", "chosen", "rejected")
SFT_CORE = ("prompt", "completion")
METRIC_FIELDS = ("char_similarity", "edit_ratio", "sentences_changed", "length_ratio", "identical")


def prompt_text(instruction: str, context: str) -> str:
    """The prompt a model is given: the instruction, then the text it works on, if any."""
    instruction, context = instruction.strip(), (context or "").strip()
    return f"{instruction}\n\n{context}" if context else instruction


def normalise_prompt(text: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed: prompts differing only so are one."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def prompt_key(text: str, seed: str = "") -> str:
    """A 128-bit hex hash of the normalised prompt, salted with the split seed."""
    data = f"{seed}\x00{normalise_prompt(text)}".encode()
    return hashlib.sha256(data).hexdigest()[:32]


def key_fraction(key: str) -> float:
    """Where a prompt key falls in [0, 1): uniform over prompts."""
    return int(key[:16], 16) / 2**64


def is_test(key: str, test_fraction: float) -> bool:
    return key_fraction(key) < test_fraction


def stratified_test_keys(keys_by_group: dict[str, set[str]], test_fraction: float) -> set[str]:
    """Per group, the ``round(test_fraction x prompts)`` prompts with the lowest keys: each
    group gets its share of test prompts, and a prompt is in one split only."""
    test: set[str] = set()
    for keys in keys_by_group.values():
        n = round(test_fraction * len(keys))
        test.update(sorted(keys)[:n])
    return test


def dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:32]


def hash_line(split: str, line: str) -> bytes:
    """What the content hash takes of a row: its split and its canonical JSON."""
    return f"{split}\t{line}\n".encode()


def _float(value):
    return None if value is None else float(value)


def _source(p: dict) -> dict:
    return {
        "instruction_pair_id": p.get("positive_id"),
        "text_id": p.get("text_id"),
        "title": p.get("text_title") or "",
        "author": p.get("text_author") or "",
        "source": p.get("text_source") or "",
        "licence": p.get("text_licence") or "",
    }


def preference_row(p: dict, review: dict | None = None) -> dict:
    """The canonical row of a preference pair, from its values (see ``PREFERENCE_VALUES``)."""
    metrics = p.get("metrics") or {}
    review = review or {}
    reviews = review.get("reviews", 0)
    accepts = review.get("accepts", 0)
    return {
        "prompt": prompt_text(p["instruction"], p["context"]),
        "chosen": p["chosen"],
        "rejected": p["rejected"],
        "pair_id": p["id"],
        "language": p["language"],
        "domain": p.get("domain_slug") or "",
        "subdomain": p.get("subdomain_slug") or "",
        "task": p.get("task_slug") or "",
        "principle_id": p.get("principle_id"),
        "principle_version": p.get("principle_number"),
        "principle_title": p.get("principle_title") or "",
        "principle_text": p.get("principle_text") or "",
        "generator": {
            "model": p.get("model") or "",
            "endpoint": p.get("endpoint_name") or "",
            "prompt_version": p.get("prompt_version") or "",
            "mode": p.get("mode") or "",
            "job_id": p.get("job_id"),
        },
        "metrics": {
            "char_similarity": _float(metrics.get("char_similarity")),
            "edit_ratio": _float(metrics.get("edit_ratio")),
            "sentences_changed": (
                None
                if metrics.get("sentences_changed") is None
                else int(metrics["sentences_changed"])
            ),
            "length_ratio": _float(metrics.get("length_ratio")),
            "identical": bool(metrics.get("identical", False)),
        },
        "review": {
            "status": p["status"],
            "reviews": reviews,
            "accepts": accepts,
            "rejects": reviews - accepts,
            "agreement": (max(accepts, reviews - accepts) / reviews) if reviews else None,
            "edited": bool(review.get("edited", False)),
            "judge": p.get("judge_verdict") or "",
            "flagged": bool(p.get("flagged", False)),
        },
        "source": _source(p),
    }


def instruction_row(p: dict) -> dict:
    """The canonical row of an instruction pair, from its values (see ``INSTRUCTION_VALUES``)."""
    return {
        "prompt": prompt_text(p["instruction"], p["context"]),
        "completion": p["response"],
        "pair_id": p["id"],
        "language": p["language"],
        "domain": p.get("domain_slug") or "",
        "subdomain": p.get("subdomain_slug") or "",
        "task": p.get("task_slug") or "",
        "generator": {
            "origin": p.get("origin") or "",
            "model": p.get("model") or "",
            "endpoint": p.get("endpoint_name") or "",
            "recipe_version": p.get("recipe_version") or "",
            "job_id": p.get("job_id"),
        },
        "metrics": {"curation_score": p.get("curation_score")},
        "review": {"status": p["status"], "mark": p.get("mark") or ""},
        "source": _source({**p, "positive_id": None}),
    }


def core_columns(kind: str) -> tuple[str, ...]:
    return DPO_CORE if kind == "dpo" else SFT_CORE


def to_layout(row: dict, *, kind: str, layout: str, metadata: bool) -> dict:
    """A canonical row in an export layout: ``standard`` keeps text columns (TRL's standard
    preference / prompt-completion formats); ``conversational`` gives chat messages (TRL's
    conversational preference format; ``messages`` for SFT). Without ``metadata`` only the
    columns a trainer reads are kept."""
    core = core_columns(kind)
    if layout == "conversational":
        if kind == "dpo":
            out = {
                "prompt": [{"role": "user", "content": row["prompt"]}],
                "chosen": [{"role": "assistant", "content": row["chosen"]}],
                "rejected": [{"role": "assistant", "content": row["rejected"]}],
            }
        else:
            out = {
                "messages": [
                    {"role": "user", "content": row["prompt"]},
                    {"role": "assistant", "content": row["completion"]},
                ]
            }
    else:
        out = {name: row[name] for name in core}
    if metadata:
        out.update((k, v) for k, v in row.items() if k not in core)
    return out


def columns(kind: str, layout: str, metadata: bool) -> list[str]:
    """The column names of an export, in order."""
    sample = preference_row(_SAMPLE_DPO) if kind == "dpo" else instruction_row(_SAMPLE_SFT)
    return list(to_layout(sample, kind=kind, layout=layout, metadata=metadata))


_SAMPLE_DPO = {
    "id": 0,
    "instruction": "",
    "context": "",
    "chosen": "",
    "rejected": "",
    "language": "",
    "status": "",
}
_SAMPLE_SFT = {
    "id": 0,
    "instruction": "",
    "context": "",
    "response": "",
    "language": "",
    "status": "",
}


def merge_counts(total: dict, part: Iterable[tuple[str, str]]) -> None:
    for group, value in part:
        bucket = total.setdefault(group, {})
        bucket[value] = bucket.get(value, 0) + 1
