"""Dataset export: a million preference pairs from PostgreSQL to JSON Lines and to Parquet.

What it does
------------
1. Uses its own PostgreSQL database, ``weaver_bench_export``: made, migrated and filled on the
   first run and kept for the next ones (``--reseed`` makes it again; ``--drop`` drops it at
   the end). The fill: five approved principles with descriptions of some 240 characters,
   ``--positives`` instruction pairs (default 200,000) over the four seeded domains, their
   subdomains and the eight tasks, a quarter of them Chinese, with instructions, contexts (for
   the tasks that have one) and responses of a few hundred characters (words drawn with Zipf
   weights from 5,000, Chinese characters from 3,000, so that they compress about as prose
   does: some 3x), then ``--pairs`` accepted preference pairs (default 1,000,000: five per
   positive, one per principle) with one ``INSERT ... SELECT ... FROM generate_series``
   (``harness.insert_pairs_sql``, as ``review_queue.py`` does): the chosen response is the
   positive's, the rejected one the same with a sentence that tells. No reviews are seeded.
   A row comes to some 2 KB of JSON (1.9 GB of JSONL for a million).
2. Freezes one DPO snapshot of all accepted pairs (the default filters) with the real service
   (``dataset_snapshot_create``, frozen at once) and prints its rate; earlier snapshots are
   removed first. ``--reuse-snapshot`` keeps a ready one of the same size instead. Then
   ``VACUUM ANALYZE`` and ``CHECKPOINT``, so that neither autovacuum nor a checkpoint of the
   freeze's writes lands in the middle of an export.
3. Baseline, in a child process: what a first attempt would write, the pairs as ORM instances
   with ``select_related`` and one ``json.dumps`` per pair into a file, over the first
   ``--baseline-pairs`` (default 50,000) pairs; its rate is extrapolated. It does less than the
   export (no review counts, no split, no content hash), so the ratio flatters the baseline.
4. JSONL, then Parquet, each in a child process of its own: ``dataset_export_run`` on a new
   export of the snapshot (standard layout with metadata columns, the default) into a
   temporary export folder: files per split, dataset card, SHA-256 of each file, as a worker
   does it. The child reports its wall time and its peak resident memory (``VmHWM``, the whole
   process: Python, Django and, for Parquet, Arrow included) and the memory it started from.

It prints pairs/s, seconds, file sizes and peak memory of each, and the ratio of each rate to
the baseline's. Goal: JSONL at least 50,000 pairs/s with a peak under 500 MB. Parquet has no goal.

Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python \\
        benchmarks/export.py [--pairs 1000000] [--baseline-pairs 50000] [--reseed] \\
        [--reuse-snapshot] [--formats jsonl,parquet] [--drop]

Exit status: 0 when the goal is met, 1 when it is not (or an export failed), 2 when the
database is not PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

BENCH_DB = "weaver_bench_export"
GOAL_RATE = 50_000
GOAL_MB = 500
SNAPSHOT_NAME = "bench export"
FORMATS = ("jsonl", "parquet")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="preference pairs")
    parser.add_argument(
        "--positives", type=int, default=200_000, help="instruction pairs the pairs come from"
    )
    parser.add_argument(
        "--baseline-pairs", type=int, default=50_000, help="pairs the naive baseline writes"
    )
    parser.add_argument("--reseed", action="store_true", help="make the database again")
    parser.add_argument(
        "--reuse-snapshot",
        action="store_true",
        help="export the last frozen snapshot when it has --pairs rows, instead of freezing",
    )
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help="comma-separated: jsonl, parquet"
    )
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--keep-files", action="store_true", help="keep the exported files")
    # Internal: run one measurement in this (child) process.
    parser.add_argument("--child", choices=("baseline", *FORMATS), help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if any(f not in FORMATS for f in args.formats):
        parser.error(f"--formats: expected some of {', '.join(FORMATS)}")
    if args.pairs < 1 or args.positives < 1 or args.baseline_pairs < 1:
        parser.error("--pairs, --positives and --baseline-pairs must be positive")
    return args


def log(message: str = "") -> None:
    print(message, flush=True)


@contextlib.contextmanager
def timed(label: str):
    start = time.perf_counter()
    yield
    log(f"  {label:<52} {time.perf_counter() - start:8.1f} s")


def memory_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


# --- The database ---------------------------------------------------------------------------


def _seeded(pairs: int, positives: int) -> bool:
    """Whether the benchmark database holds exactly ``pairs`` accepted pairs (and no others)
    made from ``positives`` instruction pairs."""
    if not harness.database_exists(BENCH_DB):
        return False
    harness.use_database(BENCH_DB)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'accepted'), "
                "count(DISTINCT positive_id) FROM pairs_preferencepair"
            )
            total, accepted, made_from = cursor.fetchone()
    except Exception:  # noqa: BLE001 - a half-made database: make it again
        return False
    finally:
        connections.close_all()
    if total != pairs or accepted != pairs or made_from != min(positives, pairs):
        log(
            f"{BENCH_DB} holds {total:,} pairs ({accepted:,} accepted) from {made_from:,} "
            f"positives, not {pairs:,} from {min(positives, pairs):,}: filling it again"
        )
        return False
    return True


@contextlib.contextmanager
def bench_database(args):
    """Switch to the benchmark database, made and filled unless it already holds the pairs
    (``--reseed``: always made again); yield whether it was reused."""
    original = settings.DATABASES["default"]["NAME"]
    reuse = not args.reseed and _seeded(args.pairs, args.positives)
    harness.use_database(original)
    if not reuse:
        harness.drop_database(BENCH_DB)
        harness.create_database(BENCH_DB)
    harness.use_database(BENCH_DB)
    try:
        with timed("migrate"):
            call_command("migrate", verbosity=0, interactive=False)
        yield reuse
    finally:
        harness.use_database(original)
        if args.drop:
            harness.drop_database(BENCH_DB)
            log(f"dropped database {BENCH_DB}")
        else:
            log(f"kept database {BENCH_DB} (--drop drops it; --reseed makes it again)")


# --- Data -----------------------------------------------------------------------------------

#: The most common English words, first in the vocabulary the texts draw from.
COMMON = " ".join(
    [
        "the of and to a in was he that it his her with as had for she on at by not be but",
        "from they this which you one were all we an there so would what if their no up out",
        "when me or who said more into could been then time now over like little after river",
    ]
).split()
#: Syllables of the made-up words that fill the rest of the vocabulary.
SYLLABLES = [c + v for c in "bcdfghklmnprstvw" for v in "aeiou"]
INSTRUCTIONS = {
    "content_writing": "Write a short piece ({k}) about {topic}, in a calm third-person voice.",
    "outlining": "Outline an article ({k}) about {topic} in five short sections.",
    "polishing": "Polish the following text ({k}) without changing what it says.",
    "style_transfer": "Rewrite the following text ({k}) in the style of a newspaper column.",
    "expanding": "Expand the following text ({k}) to about twice its length.",
    "summarizing": "Summarise the following text ({k}) in two sentences.",
    "brainstorming": "Brainstorm ideas ({k}) for a story about {topic}.",
    "reviewing": "Write a short review ({k}) of the following passage.",
}
INSTRUCTIONS_ZH = {
    "content_writing": "以平静的第三人称写一篇关于{topic}的短文（{k}）。",
    "outlining": "为一篇关于{topic}的文章列一个五部分的提纲（{k}）。",
    "polishing": "润色下面的文字（{k}），不要改变原意。",
    "style_transfer": "把下面的文字（{k}）改写成报纸专栏的风格。",
    "expanding": "把下面的文字（{k}）扩写到大约两倍长。",
    "summarizing": "用两句话概括下面的文字（{k}）。",
    "brainstorming": "为一个关于{topic}的故事想一些点子（{k}）。",
    "reviewing": "为下面的段落写一篇短评（{k}）。",
}
TOPICS = ["a river at night", "a market at dawn", "an empty hotel", "a letter never sent"]
TOPICS_ZH = ["夜晚的河流", "黎明的集市", "空荡荡的旅馆", "一封没有寄出的信"]
WITH_CONTEXT = {"polishing", "style_transfer", "expanding", "summarizing", "reviewing"}
PRINCIPLE_TEXT = (
    "{title}: principle {i} of the benchmark. Good writing lets the reader see and infer; the "
    "rejected response breaks this by stating outright what the chosen one shows, and by "
    "nothing else, so that the pair differs in this one respect."
)
#: The rejected response: the chosen one with a sentence that names a feeling.
REJECTED_SQL = (
    "pos.response || CASE WHEN pos.language = 'zh' THEN '她心里非常非常难过。' "
    "ELSE ' She felt very, very sad about all of it.' END || ' (' || g || ')'"
)


def _positives(count: int, rng: random.Random) -> None:
    from pairs.models import InstructionPair, PairOrigin, PairStatus
    from principles.models import Domain, Subdomain, Task

    domains = list(Domain.objects.order_by("pk"))
    subdomains = {d.pk: list(Subdomain.objects.filter(domain=d).order_by("pk")) for d in domains}
    tasks = list(Task.objects.order_by("pk"))

    # Words (English) and characters (Chinese) drawn with Zipf weights from vocabularies of
    # 5,000 and 3,000, so that the texts compress about as much as prose does (some 3x with
    # zstd) rather than as much as a few repeated sentences would.
    words = list(COMMON)
    while len(words) < 5000:
        word = "".join(rng.choices(SYLLABLES, k=rng.randint(1, 3)))
        if word not in words[-50:]:
            words.append(word)
    hanzi = [chr(0x4E00 + i) for i in rng.sample(range(20_000), 3000)]

    def zipf(n: int) -> list[float]:
        return list(itertools.accumulate(1 / (r + 1) for r in range(n)))

    en_weights, zh_weights = zipf(len(words)), zipf(len(hanzi))

    def text(zh: bool, low: int, high: int) -> str:
        sentences = []
        for _ in range(rng.randint(low, high)):
            if zh:
                chars = rng.choices(hanzi, cum_weights=zh_weights, k=rng.randint(12, 24))
                chars.insert(len(chars) // 2, "，")
                sentences.append("".join(chars) + "。")
            else:
                sentence = rng.choices(words, cum_weights=en_weights, k=rng.randint(8, 16))
                sentences.append(" ".join(sentence).capitalize() + ".")
        return ("" if zh else " ").join(sentences)

    rows = []
    for k in range(count):
        domain = rng.choice(domains)
        task = rng.choice(tasks)
        zh = rng.random() < 0.25
        if zh:
            instruction = INSTRUCTIONS_ZH.get(task.slug, "写一段文字（{k}）。")
            instruction = instruction.format(k=k, topic=rng.choice(TOPICS_ZH))
            context = text(True, 4, 6) if task.slug in WITH_CONTEXT else ""
            response = text(True, 10, 14)
        else:
            instruction = INSTRUCTIONS.get(task.slug, "Write a paragraph ({k}).")
            instruction = instruction.format(k=k, topic=rng.choice(TOPICS))
            context = text(False, 2, 4) if task.slug in WITH_CONTEXT else ""
            response = text(False, 5, 8)
        rows.append(
            InstructionPair(
                origin=PairOrigin.BACKTRANSLATION,
                status=PairStatus.KEPT,
                task=task,
                domain=domain,
                subdomain=rng.choice(subdomains[domain.pk] or [None]),
                language="zh" if zh else "en",
                instruction=instruction,
                context=context,
                response=response,
                recipe_version=harness.PROMPT_VERSION,
            )
        )
    InstructionPair.objects.bulk_create(rows, batch_size=2000)


def seed(args) -> None:
    log(f"seeding {args.pairs:,} accepted preference pairs")
    admin = harness.bench_user("bench_admin", ["Author", "Admin"])
    with timed("principles"):
        versions = harness.principle_versions(admin, description=PRINCIPLE_TEXT)
    positives = min(args.positives, args.pairs)
    with timed(f"{positives:,} instruction pairs (bulk_create)"):
        _positives(positives, random.Random(8))
    sql, params = harness.insert_pairs_sql(
        args.pairs,
        positives,
        versions,
        values={
            "status": "'accepted'",
            "rejected": REJECTED_SQL,
            "flagged": "(mod(g, 50) = 0)",
            "judge_verdict": "CASE WHEN mod(g, 7) = 0 THEN 'agree' ELSE '' END",
        },
    )
    with timed(f"{args.pairs:,} preference pairs (INSERT ... SELECT)"), connection.cursor() as c:
        c.execute(sql, params)
    with timed("VACUUM ANALYZE preference pairs"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE pairs_preferencepair")


def freeze(args) -> tuple[int, float | None]:
    """The snapshot to export: frozen now (its rate returned), or the kept one."""
    from pairs.datasets import services
    from pairs.models import DatasetExport, DatasetRow, DatasetSnapshot, SnapshotStatus

    if args.reuse_snapshot:
        kept = DatasetSnapshot.objects.filter(
            name=SNAPSHOT_NAME, status=SnapshotStatus.READY, row_count=args.pairs
        ).first()
        if kept is not None:
            log(f"reusing snapshot #{kept.pk} ({kept.row_count:,} rows)")
            return kept.pk, None
        log("no frozen snapshot of that size to reuse: freezing one")
    tables = ", ".join(
        connection.ops.quote_name(m._meta.db_table)
        for m in (DatasetRow, DatasetExport, DatasetSnapshot)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
    engineer = harness.bench_user("bench_engineer", ["Engineer"])
    settings.WEAVER_DATASET_SYNC_FREEZE_MAX = args.pairs + 1  # freeze now, in this process
    started = time.perf_counter()
    snapshot = services.dataset_snapshot_create(
        name=SNAPSHOT_NAME, kind="dpo", created_by=engineer, filters={}, test_fraction=0.1
    )
    seconds = time.perf_counter() - started
    if snapshot.status != SnapshotStatus.READY or snapshot.row_count != args.pairs:
        raise SystemExit(
            f"the snapshot froze {snapshot.row_count:,} rows ({snapshot.status}) {snapshot.error}"
        )
    rate = snapshot.row_count / seconds
    log(
        f"  froze snapshot #{snapshot.pk}: {snapshot.row_count:,} rows (train "
        f"{snapshot.train_count:,}, test {snapshot.test_count:,}) in {seconds:.1f} s = "
        f"{rate:,.0f} pairs/s"
    )
    return snapshot.pk, rate


def settle() -> None:
    """VACUUM ANALYZE and CHECKPOINT, so that neither lands in the middle of a measurement."""
    with timed("VACUUM ANALYZE + CHECKPOINT"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE pairs_datasetrow")
        cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT pg_total_relation_size('pairs_datasetrow'), "
            "pg_total_relation_size('pairs_preferencepair')"
        )
        rows, pairs = cursor.fetchone()
    log(
        f"  table sizes: dataset rows {rows / 2**20:,.0f} MB, preference pairs {pairs / 2**20:,.0f} MB"
    )


# --- Child processes ------------------------------------------------------------------------


def baseline_export(limit: int, out: Path) -> int:
    """The naive export: ORM instances with their related objects, one json.dumps a pair."""
    from pairs.models import PreferencePair, PreferenceStatus

    pairs = (
        PreferencePair.objects.filter(status=PreferenceStatus.ACCEPTED)
        .exclude(rejected="")
        .select_related(
            "domain",
            "subdomain",
            "task",
            "principle_version__principle",
            "endpoint",
            "positive__source_text",
        )
        .order_by("pk")[:limit]
    )
    written = 0
    with out.open("w", encoding="utf-8") as fh:
        for p in pairs:
            version = p.principle_version
            metrics = p.metrics or {}
            text = p.positive.source_text if p.positive else None
            row = {
                "prompt": f"{p.instruction}\n\n{p.context}" if p.context else p.instruction,
                "chosen": p.chosen,
                "rejected": p.rejected,
                "pair_id": p.pk,
                "language": p.language,
                "domain": p.domain.slug if p.domain else "",
                "subdomain": p.subdomain.slug if p.subdomain else "",
                "task": p.task.slug if p.task else "",
                "principle_id": version.principle_id if version else None,
                "principle_version": version.number if version else None,
                "principle_title": version.title if version else "",
                "principle_text": version.description if version else "",
                "generator": {
                    "model": p.model,
                    "endpoint": p.endpoint.name if p.endpoint else "",
                    "prompt_version": p.prompt_version,
                    "mode": p.mode,
                    "job_id": p.job_id,
                },
                "metrics": {
                    "char_similarity": metrics.get("char_similarity"),
                    "edit_ratio": metrics.get("edit_ratio"),
                    "sentences_changed": metrics.get("sentences_changed"),
                    "length_ratio": metrics.get("length_ratio"),
                    "identical": bool(metrics.get("identical")),
                },
                "review": {"status": p.status, "judge": p.judge_verdict, "flagged": p.flagged},
                "source": {
                    "instruction_pair_id": p.positive_id,
                    "text_id": text.pk if text else None,
                    "title": text.title if text else "",
                    "author": text.author if text else "",
                    "source": text.source if text else "",
                    "licence": text.licence if text else "",
                },
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    return written


def child(args) -> int:
    """Run one measurement; print its result as JSON on the last line."""
    from pairs.datasets.services import dataset_export_run
    from pairs.models import DatasetExport, ExportStatus

    start_rss, _ = memory_mb()
    result: dict = {"mode": args.child, "start_mb": start_rss}
    started = time.perf_counter()
    if args.child == "baseline":
        out = Path(args.out) / "baseline.jsonl"
        result["rows"] = baseline_export(args.baseline_pairs, out)
        result["files"] = [{"name": out.name, "bytes": out.stat().st_size, "rows": result["rows"]}]
    else:
        export = DatasetExport.objects.create(snapshot_id=args.snapshot, format=args.child)
        export = dataset_export_run(export=export, worker="bench")
        if export.status != ExportStatus.DONE:
            result["error"] = export.error or export.status
        result["rows"] = export.rows_written
        result["files"] = export.files
    result["seconds"] = time.perf_counter() - started
    result["peak_mb"] = memory_mb()[1]
    print(json.dumps(result), flush=True)
    return 0


def run_child(mode: str, args, snapshot_id: int | None, folder: Path) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = harness.database_url()
    env["WEAVER_EXPORT_DIR"] = str(folder / "exports")
    env.setdefault("WEAVER_LOG_LEVEL", "WARNING")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--baseline-pairs",
        str(args.baseline_pairs),
        "--out",
        str(folder),
    ]
    if snapshot_id is not None:
        command += ["--snapshot", str(snapshot_id)]
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {mode} child failed with exit status {proc.returncode}")
    for line in lines[:-1]:
        log(f"    {line}")
    return json.loads(lines[-1])


def report(label: str, result: dict, baseline_rate: float | None) -> float:
    rate = result["rows"] / result["seconds"] if result["seconds"] else 0.0
    ratio = f"{rate / baseline_rate:5.1f}x" if baseline_rate else "    -"
    data = [f for f in result.get("files", []) if f.get("rows") is not None]
    size = sum(f["bytes"] for f in data) / 2**20
    log(
        f"{label:<10} {result['rows']:>10,} {result['seconds']:>8.1f} {rate:>10,.0f} {ratio:>8} "
        f"{size:>9,.0f} {result['peak_mb']:>8,.0f} {result['start_mb']:>8,.0f}"
    )
    if result.get("error"):
        log(f"  error: {result['error']}")
    return rate


# --- Main -----------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    if connection.vendor != "postgresql":
        print(
            f"This benchmark needs PostgreSQL, but the database is {connection.vendor}. Set "
            "DATABASE_URL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test.",
            file=sys.stderr,
        )
        return 2
    log(
        f"export benchmark: {args.pairs:,} preference pairs, baseline {args.baseline_pairs:,}, "
        f"{os.cpu_count()} CPUs, database {BENCH_DB} on "
        f"{settings.DATABASES['default'].get('HOST') or 'local socket'}; CPU speed "
        f"{harness.cpu_speed():.1f} M loop steps/s"
    )
    folder = Path(tempfile.mkdtemp(prefix="weaver-bench-export-"))
    results: dict[str, dict] = {}
    freeze_rate = None
    try:
        with bench_database(args) as reused:
            if reused:
                log(f"reusing {BENCH_DB}: {args.pairs:,} accepted pairs")
            else:
                seed(args)
            snapshot_id, freeze_rate = freeze(args)
            settle()
            connections.close_all()
            with timed(f"baseline: naive ORM export of {args.baseline_pairs:,} pairs"):
                results["baseline"] = run_child("baseline", args, None, folder)
            for fmt in args.formats:
                with timed(f"{fmt}: dataset_export_run"):
                    results[fmt] = run_child(fmt, args, snapshot_id, folder)
                if not args.keep_files:
                    shutil.rmtree(folder / "exports", ignore_errors=True)
    finally:
        if args.keep_files:
            log(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    log(
        f"\n{'':<10} {'pairs':>10} {'seconds':>8} {'pairs/s':>10} {'ratio':>8} "
        f"{'file MB':>9} {'peak MB':>8} {'start MB':>8}"
    )
    baseline_rate = report("baseline", results["baseline"], None)
    rates = {fmt: report(fmt, results[fmt], baseline_rate) for fmt in args.formats}
    if freeze_rate:
        log(f"freeze (dataset_snapshot_create): {freeze_rate:,.0f} pairs/s")
    log(
        "peak MB: the child's peak resident memory (VmHWM), interpreter and Django included; "
        "start MB: its resident memory before the export began"
    )
    failed = [fmt for fmt in args.formats if results[fmt].get("error")]
    failed += [
        fmt
        for fmt in args.formats
        if not results[fmt].get("error") and results[fmt]["rows"] != args.pairs
    ]
    if "jsonl" not in results:
        log("\nJSONL not measured: no goal to check")
        return 1 if failed else 0
    jsonl = results["jsonl"]
    met = rates["jsonl"] >= GOAL_RATE and jsonl["peak_mb"] < GOAL_MB and not failed
    log(
        f"\ngoal: JSONL >= {GOAL_RATE:,} pairs/s with peak memory < {GOAL_MB} MB: "
        f"{rates['jsonl']:,.0f} pairs/s, {jsonl['peak_mb']:,.0f} MB -> "
        f"{'met' if met else 'not met'}" + (f" (failed: {', '.join(failed)})" if failed else "")
    )
    return 0 if met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
