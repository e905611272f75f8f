"""DPO on a GPU: the training engine against TRL's ``DPOTrainer`` with its default settings.

What it measures
----------------
1. Builds, offline, in a temporary folder: a byte-level BPE tokenizer trained in code on a
   made-up vocabulary (words of one to three syllables drawn with Zipf weights, so that most
   words are one token), and a Llama-shaped model with random weights, saved in bfloat16 as
   hub checkpoints usually are. Full size: hidden 2048, 22 layers, 32 heads, 4 KV heads,
   intermediate 5632, vocabulary 32000 (about 1.1B parameters, TinyLlama's shape); the model's
   vocabulary is 32000 whatever the tokenizer's size. ``--small``: hidden 64, 2 layers,
   vocabulary 1000, for a check on a CPU in a minute or two.
2. Writes ``--pairs`` (default 1,024; 64 with ``--small``) seeded random preference pairs as
   JSON Lines in the standard layout (``prompt``, ``chosen``, ``rejected``): prompts of 16 to
   256 tokens, chosen responses of 32 to 512 (uniform), and a rejected response that is the
   chosen one with about one word in ten replaced (a minimal edit, as in Constitutional DPO),
   also at most 512 tokens. Token counts are exact: texts are built word by word from each
   word's token count and checked with the tokenizer.
3. Trains, each in a child process of its own (so that peak memory is the run's alone), for
   one epoch over the pairs (or ``--steps`` optimiser steps), batch ``--batch-size`` (default
   4, the engine's), with the same seed:

   - ``engine``: ``training.engine.run.train(RunConfig(...))`` as the studio runs it on a GPU
     (precision ``auto``: a full fine-tune keeps fp32 master weights under bf16 autocast;
     logging every step; gradient checkpointing off, the engine's default);
   - ``engine-gc``: the same with ``gradient_checkpointing`` on;
   - ``trl``: ``DPOTrainer(model=<path>, args=DPOConfig(...))`` with TRL's defaults: only
     ``output_dir``, ``report_to=[]``, ``save_strategy="no"``, ``num_train_epochs``/``max_steps``
     and ``per_device_train_batch_size`` are set (plus ``use_cpu`` on a machine without CUDA,
     where TRL refuses to start otherwise). Given a path, TRL loads the model in float32
     (mixed precision with bf16 autocast) and checkpoints activations;
   - ``trl-no-gc`` (only when named in ``--variants``): the same with gradient checkpointing
     off, to tell its cost from that of the float32 weights.

   The engine saves no checkpoint inside the timed window (``save_steps`` past the end; it
   still saves its last checkpoint and final model after the last step, untimed); ``--save-steps
   50`` restores its default cadence.

Only the training loop is timed: from the end of step ``--warmup-steps`` (default 2: CUDA
kernels and the allocator settle) to the end of the last step, with the device synchronised at
each step end (a callback on the trainer; model loading, tokenisation and the final saves are
outside). It prints, per run: pairs/s, tokens/s (the tokens the model is fed, without padding:
prompt+chosen and prompt+rejected, TRL's own ``num_tokens`` count), the peak memory (on a GPU
``torch.cuda.max_memory_allocated``, on a CPU the process's peak resident memory), the share
of weights that differ from the initial ones after training (a check that training really
happened: bf16 weights could not hold an update far below their rounding step, such as the
Weaver learning rate of 5e-7 times Adam's unit-sized step, which is why the engine keeps fp32
master weights), the last logged loss and the timed seconds; then each engine run's ratios
to TRL (pairs/s, tokens/s, peak memory).

Running it
----------
::

    .venv/bin/python benchmarks/dpo_gpu.py                  # a GPU machine, full size
    .venv/bin/python benchmarks/dpo_gpu.py --small          # any machine, a minute or two
    .venv/bin/python benchmarks/dpo_gpu.py --pairs 256 --variants engine,trl

It needs the ``train`` extra (torch, transformers, TRL, datasets) and no Django, database or
network: nothing is downloaded. At full size without CUDA it stops with exit status 2 unless
``--allow-cpu`` is given (a 1.1B DPO run on a CPU takes hours and some 40 GB of memory).
``--prepare-only`` builds the model and the data, prints their sizes and stops. ``--keep``
keeps the temporary folder (model, data, logs of each run). Exit status 1 when a run failed.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FULL = {
    "name": "Llama 1.1B",
    "hidden": 2048,
    "layers": 22,
    "heads": 32,
    "kv_heads": 4,
    "intermediate": 5632,
    "vocab": 32000,
    "max_positions": 2048,
    "pairs": 1024,
    "prompt_tokens": (16, 256),
    "response_tokens": (32, 512),
    "words": 8000,
}
SMALL = {
    "name": "tiny Llama",
    "hidden": 64,
    "layers": 2,
    "heads": 4,
    "kv_heads": 2,
    "intermediate": 128,
    "vocab": 1000,
    "max_positions": 512,
    "pairs": 64,
    "prompt_tokens": (4, 32),
    "response_tokens": (8, 64),
    "words": 300,
}
VARIANTS = ("engine", "engine-gc", "trl")
#: Not run by default: TRL's defaults with gradient checkpointing off (fp32 master weights and
#: bf16 autocast, no recomputation): the engine's default configuration, run by TRL.
EXTRA_VARIANTS = ("trl-no-gc",)
LABELS = {
    "engine": "engine (fp32 weights, bf16)",
    "engine-gc": "engine (fp32 weights, bf16, grad. ckpt)",
    "trl": "TRL DPOTrainer defaults",
    "trl-no-gc": "TRL defaults, no grad. ckpt",
}
CPU_LABELS = {
    "engine": "engine (fp32)",
    "engine-gc": "engine (fp32, grad. ckpt)",
    "trl": "TRL DPOTrainer defaults",
    "trl-no-gc": "TRL defaults, no grad. ckpt",
}
NEVER = 10_000_000  # save_steps past any run: no checkpoint inside the timed window


def say(message: str) -> None:
    print(message, flush=True)


# --- the model, the tokenizer and the data (child process "prepare") -------------------------


def make_words(n: int, rng: random.Random) -> list[str]:
    onsets = [*"bcdfghjklmnprstvwz", "br", "cr", "dr", "fr", "gr", "pl", "st", "tr", "sh", "ch"]
    vowels = [*"aeiou", "ai", "ea", "ou", "io"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    words: set[str] = set()
    while len(words) < n:
        syllables = rng.choice((1, 2, 2, 2, 3))
        words.add(
            "".join(
                rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                for _ in range(syllables)
            )
        )
    return sorted(words)


def build_tokenizer(words: list[str], weights: list[float], vocab_size: int, folder: Path):
    """A byte-level BPE trained on the word list (frequent words first), saved to ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from tests.tiny_model import SPECIAL_TOKENS, fast_tokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    top = max(weights)
    corpus = []
    for word, weight in zip(words, weights, strict=True):
        # Both forms of each word: at the start of a text and after a space.
        corpus.append(" ".join([word] * (2 + int(50 * weight / top))))
    backend.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    tokenizer = fast_tokenizer(backend, model_max_length=4096)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model(spec: dict, tokenizer, folder: Path, seed: int, dtype_name: str) -> int:
    """The random Llama, saved to ``folder`` (built on the GPU when there is one: fast)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from tests.tiny_model import BOS, IM_END, PAD

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (BOS, IM_END, PAD)}
    if max(ids.values()) >= spec["vocab"] or len(tokenizer) > spec["vocab"]:
        raise SystemExit(f"tokenizer of {len(tokenizer)} tokens exceeds the model's vocabulary")
    config = LlamaConfig(
        vocab_size=spec["vocab"],
        hidden_size=spec["hidden"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv_heads"],
        intermediate_size=spec["intermediate"],
        max_position_embeddings=spec["max_positions"],
        bos_token_id=ids[BOS],
        eos_token_id=ids[IM_END],
        pad_token_id=ids[PAD],
        tie_word_embeddings=False,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(getattr(torch, dtype_name))
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=ids[IM_END], pad_token_id=ids[PAD]
    )
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    return params


def make_pairs(spec: dict, tokenizer, words, weights, n: int, path: Path, seed: int) -> dict:
    """``n`` preference pairs with exact token lengths, as JSON Lines; returns length stats."""
    rng = random.Random(seed)
    # Each word's token count, after a space (inside a text) and at the start of a text: the
    # byte-level pre-tokeniser splits before each space, so a text's count is the sum.
    inner = [
        len(x) for x in tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    ]
    first = [len(x) for x in tokenizer(words, add_special_tokens=False)["input_ids"]]
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)

    def draw() -> int:
        return min(bisect.bisect(cumulative, rng.random() * total), len(words) - 1)

    def length(idx: list[int]) -> int:
        return first[idx[0]] + sum(inner[i] for i in idx[1:]) if idx else 0

    def text_of(target: int) -> list[int]:
        idx, count = [], 0
        misses = 0
        while count < target and misses < 20:
            i = draw()
            c = first[i] if not idx else inner[i]
            if count + c > target:
                misses += 1
                continue
            idx.append(i)
            count += c
        return idx

    def render(idx: list[int]) -> str:
        return " ".join(words[i] for i in idx)

    lo_p, hi_p = spec["prompt_tokens"]
    lo_r, hi_r = spec["response_tokens"]
    rows = []
    for _ in range(n):
        prompt = text_of(rng.randint(lo_p, hi_p))
        chosen = text_of(rng.randint(lo_r, hi_r))
        rejected = list(chosen)
        for _edit in range(1 + len(rejected) // 10):
            rejected[rng.randrange(len(rejected))] = draw()
        while length(rejected) > hi_r:
            rejected.pop()
        rows.append(
            {"prompt": render(prompt), "chosen": render(chosen), "rejected": render(rejected)}
        )
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    # Check with the tokenizer itself.
    counts = {}
    for key in ("prompt", "chosen", "rejected"):
        ids = tokenizer([r[key] for r in rows], add_special_tokens=False)["input_ids"]
        counts[key] = [len(x) for x in ids]
    if max(counts["prompt"]) > hi_p or max(counts["chosen"] + counts["rejected"]) > hi_r:
        raise SystemExit("generated texts are longer than asked for")
    return {
        key: {
            "min": min(v),
            "mean": sum(v) / len(v),
            "max": max(v),
            "total": sum(v),
        }
        for key, v in counts.items()
    }


def prepare(spec: dict, work: Path, seed: int, dtype_name: str) -> dict:
    rng = random.Random(seed)
    words = make_words(spec["words"], rng)
    rng.shuffle(words)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(words))]
    model_dir = work / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokenizer = build_tokenizer(words, weights, spec["vocab"], model_dir)
    stats = make_pairs(spec, tokenizer, words, weights, spec["pairs"], work / "train.jsonl", seed)
    params = build_model(spec, tokenizer, model_dir, seed, dtype_name)
    single = sum(
        1
        for x in tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
        if len(x) == 1
    )
    return {
        "params": params,
        "tokenizer_size": len(tokenizer),
        "single_token_words": single / len(words),
        "lengths": stats,
        "seconds": time.perf_counter() - started,
    }


# --- one training run (child process "train") ---------------------------------------------


def changed_share(model, model_dir: Path) -> float | None:
    """The share of weight elements that differ from the saved initial ones."""
    import torch
    from safetensors import safe_open

    params = dict(model.named_parameters())
    changed = total = 0
    with torch.no_grad():
        for file in sorted(model_dir.glob("*.safetensors")):
            with safe_open(str(file), framework="pt", device="cpu") as fh:
                for key in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                    p = params.get(key)
                    if p is None:
                        continue
                    initial = fh.get_tensor(key).to(p.device)
                    changed += int((p.detach().float() != initial.float()).sum().item())
                    total += initial.numel()
    return changed / total if total else None


def train_child(job: dict) -> dict:
    import torch
    import trl
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()
    variant, work = job["variant"], Path(job["work"])
    model_dir, data = work / "model", work / "train.jsonl"
    out = work / f"out-{variant}"
    marks: list[tuple[int, float, int | None]] = []
    trainers: list = []

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            sync()
            marks.append((0, time.perf_counter(), 0))

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            tokens = getattr(trainers[0], "_total_train_tokens", None) if trainers else None
            marks.append((state.global_step, time.perf_counter(), tokens))

    base = trl.DPOTrainer

    class TimedDPOTrainer(base):  # only adds the clock; the training is TRL's
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)
            self.add_callback(Clock())

    if variant.startswith("trl"):
        import datasets
        from transformers import AutoTokenizer
        from trl import DPOConfig

        settings = {
            "output_dir": str(out),
            "report_to": [],
            "save_strategy": "no",
            "num_train_epochs": 1,
            "max_steps": job["steps"] if job["steps"] > 0 else -1,
            "per_device_train_batch_size": job["batch_size"],
        }
        if variant == "trl-no-gc":
            settings["gradient_checkpointing"] = False
        if not cuda:
            settings["use_cpu"] = True  # TRL's bf16 default refuses a machine without CUDA else
        args = DPOConfig(**settings)
        train_data = datasets.load_dataset(
            "json", data_files=str(data), split="train", cache_dir=str(work / "cache-trl")
        )
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        trainer = TimedDPOTrainer(
            model=str(model_dir), args=args, train_dataset=train_data, processing_class=tokenizer
        )
        trainer.train()
        precision = "fp32 weights, bf16 autocast" if args.bf16 else "fp32"
        checkpointing = bool(args.gradient_checkpointing)
    else:
        from training.engine.config import RunConfig
        from training.engine.run import precision as engine_precision
        from training.engine.run import train

        trl.DPOTrainer = TimedDPOTrainer  # the engine does ``from trl import DPOTrainer``
        config = RunConfig(
            kind="dpo",
            model=str(model_dir),
            train_file=str(data),
            output_dir=str(out),
            epochs=1.0,
            max_steps=job["steps"] if job["steps"] > 0 else -1,
            per_device_batch_size=job["batch_size"],
            save_steps=job["save_steps"] or NEVER,
            gradient_checkpointing=variant == "engine-gc",
            run_name="dpo_gpu benchmark",
        )
        train(config, lambda event: None, lock_wait=10)
        trainer = trainers[0]
        precision = engine_precision(config)
        checkpointing = config.gradient_checkpointing
    peak_allocated = torch.cuda.max_memory_allocated() if cuda else None
    peak_reserved = torch.cuda.max_memory_reserved() if cuda else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "variant": variant,
        "marks": marks,
        "steps": trainer.state.global_step,
        "rows": len(trainer.train_dataset),
        "batch": trainer.args.per_device_train_batch_size
        * trainer.args.gradient_accumulation_steps
        * trainer.args.world_size,
        "peak_allocated": peak_allocated,
        "peak_reserved": peak_reserved,
        "peak_rss": rss,
        "changed": changed_share(trainer.model, model_dir),
        "last_loss": losses[-1] if losses else None,
        "precision": precision,
        "checkpointing": checkpointing,
        "learning_rate": trainer.args.learning_rate,
        "device": torch.cuda.get_device_name() if cuda else "CPU",
    }


def summarise(result: dict, warmup: int) -> dict:
    """Rates over the steps after ``warmup`` (all steps when there are too few)."""
    marks = [m for m in result["marks"] if m[0] > 0]
    begin = result["marks"][0]
    start = marks[warmup - 1] if 0 < warmup < len(marks) - 1 else begin
    end = marks[-1]
    seconds = end[1] - start[1]
    rows, batch = result["rows"], result["batch"]
    pairs = _epoch_pairs(end[0], batch, rows) - _epoch_pairs(start[0], batch, rows)
    tokens = None
    if end[2] is not None and start[2] is not None:
        tokens = end[2] - start[2]
    return {
        "first_step": start[0] + 1,
        "last_step": end[0],
        "seconds": seconds,
        "pairs": pairs,
        "tokens": tokens,
        "pairs_s": pairs / seconds if seconds > 0 else None,
        "tokens_s": tokens / seconds if tokens is not None and seconds > 0 else None,
        "memory": result["peak_allocated"]
        if result["peak_allocated"] is not None
        else result["peak_rss"],
    }


def _epoch_pairs(steps: int, batch: int, rows: int) -> int:
    """Pairs seen after ``steps`` steps, epochs of ``rows`` pairs in batches of ``batch`` (the
    last batch of an epoch may be short)."""
    per_epoch = -(-rows // batch)
    epochs, rest = divmod(steps, per_epoch)
    return epochs * rows + min(rest * batch, rows)


# --- the parent -------------------------------------------------------------------------------


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return env


def run_child(kind: str, job: dict, work: Path) -> tuple[dict | None, float, Path]:
    """Run this script as a child doing ``kind``; return its result, wall seconds and log."""
    name = job.get("variant", kind)
    job_path, result_path, log_path = (
        work / f"{name}.job.json",
        work / f"{name}.result.json",
        work / f"{name}.log",
    )
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = child_env()
    env["HF_HOME"] = str(work / "hf-home")
    started = time.perf_counter()
    with log_path.open("wb") as log:
        code = subprocess.call(
            [sys.executable, __file__, "--child", kind, str(job_path), str(result_path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wall = time.perf_counter() - started
    if code != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        say(f"  {name} failed (exit {code}); the end of its log ({log_path}):")
        for line in tail:
            say(f"    {line}")
        return None, wall, log_path
    return json.loads(result_path.read_text(encoding="utf-8")), wall, log_path


def child_main(kind: str, job_path: str, result_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    if kind == "prepare":
        result = prepare(job["spec"], Path(job["work"]), job["seed"], job["dtype"])
    else:
        result = train_child(job)
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


def size(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.2f}M"


def gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f} GiB"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a tiny model, 64 pairs: any machine")
    parser.add_argument("--pairs", type=int, help="preference pairs (default 1024; 64 small)")
    parser.add_argument("--steps", type=int, default=0, help="optimiser steps (default 1 epoch)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step (default 4)")
    parser.add_argument("--warmup-steps", type=int, default=2, help="steps left out of the timing")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"runs, of {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--save-steps", type=int, default=0, help="the engine's save_steps (default: none timed)"
    )
    parser.add_argument(
        "--checkpoint-dtype",
        choices=("bfloat16", "float32"),
        default="bfloat16",
        help="dtype of the saved random model (default bfloat16, as hub checkpoints are)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--allow-cpu", action="store_true", help="run full size without CUDA")
    parser.add_argument("--prepare-only", action="store_true", help="build model and data, stop")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(*args.child)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.small and not args.allow_cpu and not args.prepare_only:
        print(
            "No CUDA GPU is visible: the full-size benchmark (a 1.1B model, 1,024 pairs) is "
            "meant for a GPU. Run it on a GPU machine, use --small for a quick check on this "
            "machine, or pass --allow-cpu to run it here anyway (hours, some 40 GB of memory).",
            file=sys.stderr,
        )
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS) - set(EXTRA_VARIANTS))
    if unknown or not variants:
        parser.error(f"unknown variant {unknown[0] if unknown else ''!r}; known: {VARIANTS}")
    spec = dict(SMALL if args.small else FULL)
    if args.pairs:
        spec["pairs"] = args.pairs
    if args.batch_size < 1 or spec["pairs"] < args.batch_size:
        parser.error("--batch-size must be from 1 to the number of pairs")

    work = Path(tempfile.mkdtemp(prefix="weaver-dpo-bench-"))
    say(
        f"{spec['name']}: hidden {spec['hidden']}, {spec['layers']} layers, {spec['heads']} "
        f"heads ({spec['kv_heads']} KV), intermediate {spec['intermediate']}, vocabulary "
        f"{spec['vocab']}; {spec['pairs']:,} pairs; in {work}"
    )
    say(f"device: {torch.cuda.get_device_name() if cuda else 'CPU (no CUDA)'}")
    failed = False
    try:
        say("building the tokenizer, the data and the model …")
        prep, wall, _log = run_child(
            "prepare",
            {"spec": spec, "work": str(work), "seed": args.seed, "dtype": args.checkpoint_dtype},
            work,
        )
        if prep is None:
            return 1
        lengths = prep["lengths"]
        say(
            f"  {prep['params']:,} parameters ({args.checkpoint_dtype}); tokenizer of "
            f"{prep['tokenizer_size']:,} tokens ({prep['single_token_words']:.0%} of words one "
            f"token); {wall:.0f} s"
        )
        for key in ("prompt", "chosen", "rejected"):
            s = lengths[key]
            say(
                f"  {key:>8}: {s['min']}-{s['max']} tokens, mean {s['mean']:.0f}, "
                f"{s['total']:,} in all"
            )
        if args.prepare_only:
            return 0

        results = {}
        for variant in variants:
            say(f"training: {variant} …")
            job = {
                "variant": variant,
                "work": str(work),
                "steps": args.steps,
                "batch_size": args.batch_size,
                "save_steps": args.save_steps,
            }
            result, wall, _log = run_child("train", job, work)
            shutil.rmtree(work / f"out-{variant}", ignore_errors=True)
            if result is None:
                failed = True
                continue
            result["wall"] = wall
            result["summary"] = summarise(result, args.warmup_steps)
            results[variant] = result
            s = result["summary"]
            say(
                f"  {result['steps']} steps; timed steps {s['first_step']}-{s['last_step']}: "
                f"{s['seconds']:.1f} s, {fmt(s['pairs_s'], '.2f')} pairs/s, "
                f"{fmt(s['tokens_s'], '.0f')} tokens/s, peak {gib(s['memory'])}, weights changed "
                f"{'-' if result['changed'] is None else format(result['changed'], '.2%')}; "
                f"whole child process {wall:.0f} s"
            )
        if not results:
            return 1
        memory_name = "peak GPU memory" if cuda else "peak RSS"
        labels = LABELS if cuda else CPU_LABELS
        say("")
        say(
            f"DPO, {spec['name']} ({size(prep['params'])} parameters) on "
            f"{next(iter(results.values()))['device']}, {spec['pairs']:,} pairs, batch "
            f"{args.batch_size}; tokens = prompt+chosen and prompt+rejected fed to the model"
        )
        header = (
            f"{'run':<27} {'pairs/s':>9} {'tokens/s':>10} {memory_name:>16} "
            f"{'weights changed':>16} {'last loss':>10} {'timed s':>8}"
        )
        say(header)
        say("-" * len(header))
        for variant, result in results.items():
            s = result["summary"]
            changed = result["changed"]
            say(
                f"{labels[variant]:<27} {fmt(s['pairs_s'], '9.2f')} {fmt(s['tokens_s'], '10.0f')} "
                f"{gib(s['memory']):>16} "
                f"{'-' if changed is None else f'{changed:.2%}':>16} "
                f"{fmt(result['last_loss'], '10.4f')} {s['seconds']:8.1f}"
            )
        for variant, result in results.items():
            say(
                f"  {variant}: {result['precision']}, gradient checkpointing "
                f"{'on' if result['checkpointing'] else 'off'}, learning rate "
                f"{result['learning_rate']:g}"
            )
        base = results.get("trl")
        if base is not None:
            b = base["summary"]
            say("")
            say("ratio to TRL's defaults (engine / TRL; above 1 is faster, below 1 is lighter)")
            for variant, result in results.items():
                if variant.startswith("trl"):
                    continue
                s = result["summary"]

                def ratio(a, z):
                    return "-" if a is None or not z else f"{a / z:.2f}x"

                say(
                    f"  {labels[variant]:<27} pairs/s {ratio(s['pairs_s'], b['pairs_s'])}, "
                    f"tokens/s {ratio(s['tokens_s'], b['tokens_s'])}, "
                    f"{memory_name} {ratio(s['memory'], b['memory'])}"
                )
        return 1 if failed else 0
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
