"""Benchmark of the corpus import: texts per second and peak memory.

What it measures
----------------
It writes ``--texts`` generated texts (default 1,000,000; about 4 in 5 Chinese, the rest
English; 300 to 3,000 characters each, made of sentences drawn from a small vocabulary with
enough randomness that every text has its own hash) as JSON Lines to a temporary file,
streaming them to disk (never holding them in memory). Then it imports the file with
``corpus_import_run`` directly (no Celery), mapping ``text``, ``title``, ``lang``, ``domain``,
``id`` and a numeric ``likes`` signal, in batches of ``--batch`` rows (default: the importer's).

Only the import is timed: counting lines for the progress bar, reading, parsing, hashing,
mapping, COPY into PostgreSQL and the ``INSERT ... ON CONFLICT`` that skips duplicates. It
prints texts per second, the process's peak resident memory during the import (sampled from
``/proc/self/status`` every 50 ms), and ``ru_maxrss`` before generation, after generation and
after the import, and compares them with the goals of the issue: at least 10,000 texts/s and
under 500 MB. (PostgreSQL's own memory is another process and is not counted.)

The data
--------
The configured database is never touched: the import goes into a throwaway test database
(``test_<NAME>``, created, migrated and dropped). The JSONL file is deleted at the end.

Running it
----------
::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python \\
        benchmarks/corpus_import.py [-n 1000000] [--batch 2000] [--seed 1]

Exit status: 0 when both goals are met, 1 when one is missed or the import did not finish,
2 when the database is not PostgreSQL (and ``--allow-sqlite`` was not given).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness  # noqa: E402  (sets up Django)

GOAL_RATE = 10_000
GOAL_MB = 500


def _words(s: str) -> list[str]:
    return s.split()


ZH_WORDS = _words(
    "春天 秋风 月光 河水 小城 老人 孩子 母亲 父亲 朋友 先生 姑娘 窗外 街上 山间 田野 故乡 "
    "灯火 夜色 清晨 黄昏 雨声 雪花 桥头 船上 院子 屋檐 门口 书桌 茶馆 集市 车站 码头 树下 "
    "慢慢地 忽然 仿佛 似乎 终于 依旧 竟然 只是 默默地 静静地 远远地 轻轻地 "
    "走过 想起 看见 听到 记得 忘却 等待 回来 离开 说话 沉默 微笑 哭泣 点头 叹气 抬头 "
    "寂寞的 温暖的 明亮的 遥远的 熟悉的 陌生的 安静的 热闹的 古老的 年轻的 苍白的 金黄的"
)
ZH_PUNCT = ["，", "，", "，", "。", "。", "；", "！", "？", "、"]
EN_WORDS = _words(
    "the a an old young quiet bright distant familiar strange warm cold river town street "
    "window garden evening morning rain snow lamp bridge harbour market station letter "
    "mother father friend child stranger teacher woman man dog house road field hill sea "
    "walked remembered watched heard waited returned left smiled nodded sighed whispered "
    "slowly suddenly softly again never always still only almost perhaps and but while "
    "when because though under over beside through across into toward of in on with"
)
DOMAINS = ["fiction", "creative_nonfiction", "poetry"]


def zh_sentence(rng: random.Random) -> str:
    words = rng.choices(ZH_WORDS, k=rng.randint(4, 12))
    return "".join(words) + rng.choice(ZH_PUNCT)


def en_sentence(rng: random.Random) -> str:
    words = rng.choices(EN_WORDS, k=rng.randint(6, 18))
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!", ";"]) + " "


def make_pool(rng: random.Random, maker, n: int) -> list[str]:
    return [maker(rng) for _ in range(n)]


def generate(path: Path, n: int, seed: int) -> int:
    """Stream ``n`` JSONL records to ``path``; return the bytes written."""
    rng = random.Random(seed)
    zh_pool = make_pool(rng, zh_sentence, 20_000)
    en_pool = make_pool(rng, en_sentence, 20_000)
    zh_avg = sum(map(len, zh_pool)) / len(zh_pool)
    en_avg = sum(map(len, en_pool)) / len(en_pool)
    dumps = json.dumps
    choices = rng.choices
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        for i in range(n):
            target = rng.randint(300, 3_000)
            if rng.random() < 0.8:
                lang, pool, sep, avg = "zh", zh_pool, "\n", zh_avg
            else:
                lang, pool, sep, avg = "en", en_pool, "\n\n", en_avg
            k = max(2, int(target / avg) + 1)
            sentences = choices(pool, k=k)
            paragraphs = ["".join(sentences[j : j + 6]).strip() for j in range(0, k, 6)]
            text = sep.join(paragraphs)[:target]
            record = {
                "id": f"gen-{i}",
                "lang": lang,
                "domain": DOMAINS[i % 3],
                "title": f"{lang} text {i}",
                "likes": i % 997,
                "text": text,
            }
            out.write(dumps(record, ensure_ascii=False))
            out.write("\n")
    return path.stat().st_size


class PeakRSS:
    """Samples this process's resident memory every ``interval`` seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current_kb() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.current_kb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak_kb = self.current_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self.current_kb())


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--texts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=None, help="rows per transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--allow-sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the import (slower)")
    args = parser.parse_args()
    if not harness.require_postgresql(args.allow_sqlite):
        return 2

    from pairs.corpus.importer import BATCH, corpus_import_run
    from pairs.models import CorpusImport, CorpusText, ImportStatus

    batch = args.batch or BATCH
    rss_start = maxrss_mb()
    workdir = Path(tempfile.mkdtemp(prefix="weaver-import-bench-"))
    try:
        path = workdir / "generated.jsonl"
        t0 = time.perf_counter()
        size = generate(path, args.texts, args.seed)
        gen_s = time.perf_counter() - t0
        rss_generated = maxrss_mb()
        print(
            f"generated {args.texts:,} texts, {size / 1024**2:,.0f} MiB of JSONL in {gen_s:.1f} s"
        )
        with harness.throwaway_database():
            imp = CorpusImport.objects.create(
                name="benchmark",
                format="jsonl",
                path=str(path),
                original_name=path.name,
                size_bytes=size,
                status=ImportStatus.QUEUED,
                mapping={
                    "text": "text",
                    "title": "title",
                    "language": "lang",
                    "domain": "domain",
                    "external_id": "id",
                    "signals": ["likes"],
                },
                defaults={"licence": "generated"},
            )
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            with PeakRSS() as sampler:
                t0 = time.perf_counter()
                imp = corpus_import_run(corpus_import=imp, batch_size=batch)
                elapsed = time.perf_counter() - t0
            if profiler is not None:
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            stored = CorpusText.objects.count()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rate = imp.imported / elapsed if elapsed else 0.0
    peak_mb = sampler.peak_kb / 1024
    print(
        f"import: status={imp.status} imported={imp.imported:,} duplicates={imp.duplicates:,} "
        f"errors={imp.errors:,} stored={stored:,} batch={batch:,}"
    )
    print(f"time: {elapsed:.1f} s   rate: {rate:,.0f} texts/s (goal >= {GOAL_RATE:,})")
    print(
        f"peak RSS during the import: {peak_mb:,.0f} MB (goal < {GOAL_MB}); ru_maxrss: "
        f"start {rss_start:,.0f} MB, after generation {rss_generated:,.0f} MB, "
        f"after the import {maxrss_mb():,.0f} MB"
    )
    ok = imp.status == ImportStatus.DONE and imp.imported + imp.duplicates == args.texts
    rate_ok, mem_ok = rate >= GOAL_RATE, peak_mb < GOAL_MB
    print(
        f"goals: rate {'met' if rate_ok else 'MISSED'} ({rate / GOAL_RATE:.2f}x), "
        f"memory {'met' if mem_ok else 'MISSED'} ({peak_mb / GOAL_MB:.2f}x of the limit)"
    )
    if not ok:
        print(f"the import did not finish cleanly: {imp.error}", file=sys.stderr)
    sys.stdout.flush()
    return 0 if ok and rate_ok and mem_ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
