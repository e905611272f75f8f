"""Review queue under load: "next pair" and "submit" over HTTP with a million pairs.

What it does
------------
1. Creates its own PostgreSQL database (``weaver_bench_review``; any database of that name is
   dropped first), migrates it (the migrations seed the roles and taxonomy) and fills it:
   a few approved principles, ``--positives`` instruction pairs (``bulk_create``) and then
   ``--pairs`` preference pairs (default 1,000,000) with one ``INSERT ... SELECT ... FROM
   generate_series``, distinct per positive x principle version x prompt version x sample.
   Every column is filled from the model (its default where the benchmark does not care).
2. Makes a queue with N = 2 over all of them through ``services.review_queue_create`` (one
   ``INSERT ... SELECT`` of the review items, and the pairs marked "in review"), timed, then
   ``VACUUM ANALYZE``. ``--reviewers`` reviewer users (default 20) get API tokens and are
   assigned to the queue.
3. Starts the real web server (gunicorn, ``weaver_site.wsgi``, sync workers: ``--workers 6
   --threads 1`` by default, the best of 4/6/8/12 sync workers and 2x4/3x2 threaded ones on
   2 cores; threads lose to the GIL here) on a free port of 127.0.0.1 with the benchmark
   database in its environment, persistent database connections for the whole run and no
   access log (``--access-log`` turns it on).
4. Runs ``--reviewers`` simulated reviewers at once (aiohttp, one event loop) for
   ``--seconds`` (default 60) after ``--warmup`` seconds (default 5; requests that start in the
   warm-up are not counted), each in a loop: ``POST /api/review-queues/{id}/next/`` then
   ``POST /api/reviews/{rid}/submit/`` (accept, or reject with a reason), pausing
   ``--think-ms`` (default 500 ms, drawn between half and one and a half times that so the
   reviewers do not move in step) after each answer: a reviewer who decides a pair a second,
   some 30 times faster than a person reads one. That phase decides the goal. Then a stress
   phase of ``--stress-seconds`` (default 30; 0 leaves it out) with no pause at all measures
   what the machine saturates at; it is printed for information and is not the goal (on
   2 cores even a trivial API read has a p95 near the goal at that load, see the floor).
   It prints p50 / p95 / p99 latency, throughput and errors
   per endpoint, measured by the client, and the CPU the web server, the PostgreSQL backends
   and the client used per request (from ``/proc``). Then, for ``--floor-seconds`` (default
   5), the same reviewers read ``GET /api/tasks/`` (token, roles, one small query): the
   latency of the framework alone at that concurrency, for comparison.
5. Counts the SQL queries per request in this process (Django's test ``Client`` with the same
   token header, ``CaptureQueriesContext``) on ``--samples`` next and submit requests against
   the same database.
6. With ``--explain``, or when the goal is missed: the mean time of each query shape, and
   ``EXPLAIN ANALYZE`` of the claim's candidate query as it is and with the first 30% of the
   queue decided before the statistics are refreshed (in a transaction rolled back).

The last line says whether p95 of both endpoints is under the goal (150 ms). The database is
dropped and the server stopped at the end, on errors and on Ctrl-C too; ``--keep-db`` keeps
the database and reuses it on the next run with the same ``--pairs`` (its reviews are cleared
first). The first line gives a CPU speed figure: shared virtual machines vary by tens of
percent from one run to the next, so compare runs with it in mind.

Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python \\
        benchmarks/review_queue.py [--pairs 1000000] [--reviewers 20] [--seconds 60] \\
        [--workers 6 --threads 1] [--think-ms 500] [--stress-seconds 30] [--keep-db] \
        [--explain]

Exit status: 0 when the goal is met, 1 when it is not (or requests failed), 2 when the
database is not PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict

import harness  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from harness import bench_user as _user  # noqa: E402
from harness import cpu_speed  # noqa: E402
from harness import database_exists as _database_exists  # noqa: E402
from harness import drop_database as _drop_database  # noqa: E402
from harness import insert_pairs_sql as _insert_pairs_sql  # noqa: E402
from harness import principle_versions as _principle_versions  # noqa: E402
from harness import use_database as _use_database  # noqa: E402

BENCH_DB = "weaver_bench_review"
GOAL_MS = 150.0
QUEUE_NAME = "bench review queue"
PROMPT_VERSION = "bench-v1"
PRINCIPLES = 5
#: Share of the queue decided for the second EXPLAIN ANALYZE (--explain).
PROGRESS_SHARE = 0.3
REJECT_REASONS = ["not_broken", "changes_more", "rejected_better", "chosen_poor"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="preference pairs")
    parser.add_argument(
        "--positives", type=int, default=20_000, help="instruction pairs the pairs come from"
    )
    parser.add_argument("--reviewers", type=int, default=20, help="simulated reviewers")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured load duration")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured load first")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=500.0,
        help="mean pause after each answer (drawn from 0.5x to 1.5x); the goal's phase",
    )
    parser.add_argument(
        "--stress-seconds",
        type=float,
        default=30.0,
        help="then this long with no pause at all, for information (0: none)",
    )
    parser.add_argument("--workers", type=int, default=6, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--access-log", action="store_true", help="gunicorn access log on")
    parser.add_argument("--samples", type=int, default=30, help="requests for query counts")
    parser.add_argument(
        "--floor-seconds",
        type=float,
        default=5.0,
        help="then time a trivial API read for this long (0: not)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep (and reuse) the database")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the claim query"
    )
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.reviewers < 1 or args.seconds <= 0 or args.positives < 1:
        parser.error("--pairs, --reviewers, --positives and --seconds must be positive")
    return args


def log(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def timed(label: str):
    start = time.perf_counter()
    yield
    log(f"  {label:<44} {time.perf_counter() - start:8.1f} s")


# --- The database ---------------------------------------------------------------------------


def _kept_database_fits(pairs: int) -> bool:
    """Whether the kept benchmark database holds a filled queue over ``pairs`` pairs."""
    if not _database_exists(BENCH_DB):
        return False
    _use_database(BENCH_DB)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM pairs_preferencepair), "
                "(SELECT count(*) FROM pairs_reviewqueue WHERE name = %s)",
                [QUEUE_NAME],
            )
            count, queues = cursor.fetchone()
    except Exception:  # noqa: BLE001 - a half-made database: make it again
        return False
    finally:
        connections.close_all()
    if count != pairs or queues != 1:
        log(f"the kept {BENCH_DB} holds {count:,} pairs, not {pairs:,}: making it again")
        return False
    return True


@contextlib.contextmanager
def bench_database(*, keep: bool, pairs: int):
    """Switch to the benchmark database (created, or reused with ``keep`` when it holds the
    same number of pairs); yield whether it was reused; drop it at the end unless ``keep``."""
    original = settings.DATABASES["default"]["NAME"]
    reuse = keep and _kept_database_fits(pairs)
    _use_database(original)
    if not reuse:
        _drop_database(BENCH_DB)
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    _use_database(BENCH_DB)
    try:
        with timed("migrate"):
            call_command("migrate", verbosity=0, interactive=False)
        yield reuse
    finally:
        _use_database(original)
        if not keep:
            _drop_database(BENCH_DB)
            log(f"dropped database {BENCH_DB}")
        else:
            log(f"kept database {BENCH_DB} (--keep-db)")


# --- Data -----------------------------------------------------------------------------------


def _positives(count: int) -> None:
    from pairs.models import InstructionPair, PairOrigin, PairStatus
    from principles.models import Domain, Task

    fiction = Domain.objects.get(slug="fiction")
    writing = Task.objects.get(slug="content_writing")
    body = (
        "The river ran slow under the moon, and the ferryman leaned on his oar. On the far "
        "bank a lamp went out, then another, until only the stars were left on the water. "
        "He counted the strokes the way his father had, under his breath, and did not look "
        "back at the town."
    )
    rows = [
        InstructionPair(
            origin=PairOrigin.BACKTRANSLATION,
            status=PairStatus.KEPT,
            task=writing,
            domain=fiction,
            language="en",
            instruction=f"Write a short scene ({k}) on a river at night, in the third person.",
            response=f"{body} ({k})",
            recipe_version=PROMPT_VERSION,
        )
        for k in range(count)
    ]
    InstructionPair.objects.bulk_create(rows, batch_size=2000)


def seed(args) -> tuple[int, list[int], dict[int, str]]:
    """Fill the database; return the queue id, the reviewer ids and their tokens."""
    from rest_framework.authtoken.models import Token

    from pairs.models import PreferencePair, ReviewItem
    from pairs.review import services

    log(f"seeding {args.pairs:,} preference pairs")
    admin = _user("bench_admin", ["Author", "Admin"])
    engineer = _user("bench_engineer", ["Engineer"])
    with timed("principles"):
        versions = _principle_versions(admin)
    positives = min(args.positives, args.pairs)
    with timed(f"{positives:,} instruction pairs (bulk_create)"):
        _positives(positives)
    sql, params = _insert_pairs_sql(args.pairs, positives, versions)
    label = f"{args.pairs:,} preference pairs (INSERT ... SELECT)"
    with timed(label), connection.cursor() as cursor:
        cursor.execute(sql, params)
    with timed("ANALYZE preference pairs"), connection.cursor() as cursor:
        cursor.execute("ANALYZE pairs_preferencepair")
    reviewers = [_user(f"bench_reviewer{k:02d}", ["Reviewer"]) for k in range(args.reviewers)]
    probe = _user("bench_probe", ["Reviewer"])
    # Filled here, in the request's way, so the fill is timed (the studio hands a queue this
    # large to a worker: WEAVER_REVIEW_SYNC_FILL_MAX).
    settings.WEAVER_REVIEW_SYNC_FILL_MAX = args.pairs + 1
    with timed("review_queue_create (N = 2, all pairs)"):
        queue = services.review_queue_create(
            name=QUEUE_NAME,
            created_by=engineer,
            reviewers=[*reviewers, probe],
            reviews_required=2,
            reservation_minutes=20,
        )
    items = ReviewItem.objects.filter(queue=queue).count()
    log(f"  queue #{queue.pk}: {items:,} review items")
    assert items == PreferencePair.objects.count() == args.pairs, "the queue missed pairs"
    vacuum()
    tokens = {u.pk: Token.objects.get_or_create(user=u)[0].key for u in reviewers}
    return queue.pk, [u.pk for u in reviewers], tokens


def vacuum() -> None:
    with timed("VACUUM ANALYZE"), connection.cursor() as cursor:
        for table in (
            "pairs_preferencepair",
            "pairs_reviewitem",
            "pairs_review",
            "pairs_pairrevision",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def reuse(args) -> tuple[int, list[int], dict[int, str]]:
    """The kept database: clear the reviews of the last run and make missing reviewers."""
    from rest_framework.authtoken.models import Token

    from pairs.models import (
        PairRevision,
        PreferencePair,
        PreferenceStatus,
        Review,
        ReviewItem,
        ReviewQueue,
    )

    queue = ReviewQueue.objects.filter(name=QUEUE_NAME).order_by("pk").first()
    count = PreferencePair.objects.count()
    if queue is None or count != args.pairs:
        raise SystemExit(f"The kept database {BENCH_DB} does not fit; run without --keep-db.")
    log(f"reusing {BENCH_DB}: {count:,} pairs, queue #{queue.pk}")
    with timed("clear last run's reviews"):
        touched = list(Review.objects.values_list("pair_id", flat=True).distinct())
        PairRevision.objects.all().delete()
        Review.objects.all().delete()
        ReviewItem.objects.exclude(status="open", taken=0, submitted=0).update(
            status="open", taken=0, submitted=0, final_decision="", decided_at=None
        )
        PreferencePair.objects.filter(pk__in=touched).update(
            status=PreferenceStatus.IN_REVIEW, reviewed_by=None
        )
    reviewers = [_user(f"bench_reviewer{k:02d}", ["Reviewer"]) for k in range(args.reviewers)]
    probe = _user("bench_probe", ["Reviewer"])
    queue.reviewers.add(*reviewers, probe)
    vacuum()
    tokens = {u.pk: Token.objects.get_or_create(user=u)[0].key for u in reviewers}
    return queue.pk, [u.pk for u in reviewers], tokens


# --- The server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(args):
    port = _free_port()
    env = dict(os.environ)
    env["DATABASE_URL"] = harness.database_url()
    env.setdefault("WEAVER_LOG_LEVEL", "WARNING")
    env["DEBUG"] = "0"
    # Persistent connections for the whole run (the default is 60 s), so that the CPU of the
    # database backends can be told apart; reconnecting once a minute costs next to nothing.
    env["DATABASE_CONN_MAX_AGE"] = str(
        int(args.warmup + args.seconds + args.floor_seconds + args.stress_seconds + 120)
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "weaver_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        "--backlog",
        "256",
    ]
    if args.access_log:
        command += ["--access-logfile", "-"]
    log(f"gunicorn: --workers {args.workers} --threads {args.threads} on 127.0.0.1:{port}")
    proc = subprocess.Popen(command, cwd=harness.ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start in 60 s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log("gunicorn stopped")


# --- CPU accounting -------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_sample(server_pid: int) -> dict:
    """CPU seconds used so far per process of the web server (master and workers) and of the
    PostgreSQL backends of the benchmark database, by this process, and by the machine."""
    server: dict[str, float] = {}
    database: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _proc_stat(pid)
        if stat is None:
            continue
        parent, seconds = stat
        if int(pid) == server_pid or parent == server_pid:
            server[pid] = seconds
        elif int(pid) != os.getpid() and BENCH_DB in _cmdline(pid):
            database[pid] = seconds
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait
    return {
        "server": server,
        "database": database,
        "client": time.process_time(),
        "machine": busy,
    }


def _used(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds the processes alive at the end used since ``before`` (a process that
    started meanwhile counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def report_cpu(before: dict, after: dict, elapsed: float, requests: int) -> None:
    used = {
        "server": _used(before["server"], after["server"]),
        "database": _used(before["database"], after["database"]),
        "client": after["client"] - before["client"],
        "machine": after["machine"] - before["machine"],
    }
    other = max(0.0, used["machine"] - used["server"] - used["database"] - used["client"])
    cores = os.cpu_count() or 1
    log(
        f"CPU over the run ({cores} cores = {100 * cores}%): web server "
        f"{100 * used['server'] / elapsed:.0f}%, PostgreSQL {100 * used['database'] / elapsed:.0f}%, "
        f"load client {100 * used['client'] / elapsed:.0f}%, everything else "
        f"{100 * other / elapsed:.0f}%"
    )
    if requests:
        log(
            f"CPU per request: web server {1000 * used['server'] / requests:.1f} ms, "
            f"PostgreSQL {1000 * used['database'] / requests:.1f} ms, client "
            f"{1000 * used['client'] / requests:.1f} ms"
        )


# --- The load -------------------------------------------------------------------------------


def _decision(rng: random.Random) -> dict:
    if rng.random() < 0.7:
        return {"decision": "accept", "active_seconds": round(rng.uniform(5, 60), 1)}
    return {
        "decision": "reject",
        "reasons": [rng.choice(REJECT_REASONS)],
        "comment": "Benchmark rejection.",
        "active_seconds": round(rng.uniform(5, 60), 1),
    }


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.samples: dict[str, str] = {}
        self.since = math.inf  # perf_counter() when the measured part began
        self.cpu: tuple[dict, dict] | None = None
        self.floor: list[float] = []
        self.floor_seconds = 0.0

    def add(self, endpoint: str, t0: float, status: int, body: str = "") -> None:
        """Record a request that started at ``t0`` and ended now; requests that started
        during the warm-up (each worker's first requests load the URLconf) are left out."""
        if t0 < self.since:
            return
        seconds = time.perf_counter() - t0
        if status >= 400 or status == 0:
            self.errors[endpoint, status] += 1
            self.samples.setdefault(f"{endpoint} {status}", body[:300])
            return
        self.latency[endpoint].append(seconds * 1000)


async def reviewer(session, base, queue_id, token, stats: Stats, stop_at, think, seed):
    import aiohttp

    rng = random.Random(seed)
    headers = {"Authorization": f"Token {token}"}
    nxt = f"{base}/api/review-queues/{queue_id}/next/"
    while time.monotonic() < stop_at():
        t0 = time.perf_counter()
        try:
            async with session.post(nxt, headers=headers) as response:
                status = response.status
                body = await response.json() if status == 200 else await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            stats.add("next", t0, 0, repr(exc))
            continue
        stats.add("next", t0, status, "" if status < 400 else str(body))
        if status == 204:
            return  # the queue holds nothing more for this reviewer
        if status != 200:
            await asyncio.sleep(0.05)
            continue
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        url = f"{base}/api/reviews/{body['id']}/submit/"
        t0 = time.perf_counter()
        try:
            async with session.post(url, json=_decision(rng), headers=headers) as response:
                status = response.status
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            stats.add("submit", t0, 0, repr(exc))
            continue
        stats.add("submit", t0, status, "" if status < 400 else text)
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def load(base, server_pid, queue_id, tokens: list[str], args) -> tuple[Stats, float]:
    import aiohttp

    stats = Stats()
    phase = {"end": math.inf}  # set when the warm-up is over

    def stop_at():
        return phase["end"]

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        think = args.think_ms / 1000
        tasks = [
            asyncio.create_task(
                reviewer(session, base, queue_id, tok, stats, stop_at, think, 1000 + k)
            )
            for k, tok in enumerate(tokens)
        ]
        await asyncio.sleep(args.warmup)
        stats.since = time.perf_counter()
        started = time.monotonic()
        cpu_before = cpu_sample(server_pid)
        phase["end"] = started + args.seconds
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        stats.cpu = (cpu_before, cpu_sample(server_pid))
        if args.floor_seconds > 0:
            stats.floor = await floor(session, base, tokens, args.floor_seconds)
            stats.floor_seconds = args.floor_seconds
    return stats, elapsed


async def floor(session, base, tokens: list[str], seconds: float) -> list[float]:
    """Latencies of a trivial authenticated API read (``GET /api/tasks/``: token, roles, one
    small query) at the same concurrency: what the framework alone costs on this machine."""
    latencies: list[float] = []
    end = time.monotonic() + seconds

    async def loop(token):
        headers = {"Authorization": f"Token {token}"}
        while time.monotonic() < end:
            t0 = time.perf_counter()
            async with session.get(f"{base}/api/tasks/", headers=headers) as response:
                await response.read()
                if response.status == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(loop(t) for t in tokens))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def report_load(stats: Stats, elapsed: float) -> dict[str, float]:
    log(
        f"\n{'endpoint':<8} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'mean ms':>8} {'max ms':>8} {'errors':>7}"
    )
    p95 = {}
    for endpoint in ("next", "submit"):
        values = stats.latency.get(endpoint, [])
        errors = sum(n for (e, _s), n in stats.errors.items() if e == endpoint)
        p95[endpoint] = percentile(values, 95)
        log(
            f"{endpoint:<8} {len(values):>9,} {len(values) / elapsed:>7.1f} "
            f"{percentile(values, 50):>8.1f} {p95[endpoint]:>8.1f} "
            f"{percentile(values, 99):>8.1f} "
            f"{statistics.fmean(values) if values else math.nan:>8.1f} "
            f"{max(values, default=math.nan):>8.1f} {errors:>7}"
        )
    reviews = len(stats.latency.get("submit", []))
    log(f"reviews submitted: {reviews:,} in {elapsed:.1f} s = {reviews / elapsed:.1f} per second")
    for (endpoint, status), n in sorted(stats.errors.items()):
        log(f"  errors: {endpoint} status {status or 'connection'} x {n}")
    for key, sample in stats.samples.items():
        log(f"  e.g. {key}: {sample}")
    if stats.cpu:
        requests = sum(len(v) for v in stats.latency.values())
        report_cpu(*stats.cpu, elapsed, requests)
    if stats.floor:
        log(
            f"framework floor, GET /api/tasks/ at the same concurrency: p50 "
            f"{percentile(stats.floor, 50):.1f} ms, p95 {percentile(stats.floor, 95):.1f} ms, "
            f"{len(stats.floor) / stats.floor_seconds:.0f} req/s"
        )
    return p95


# --- Queries per request --------------------------------------------------------------------


def count_queries(queue_id: int, samples: int) -> dict:
    """Queries per request for next and submit, measured in this process."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from pairs.models import ReviewQueue

    probe = _user("bench_probe", ["Reviewer"])
    ReviewQueue.objects.get(pk=queue_id).reviewers.add(probe)
    token = Token.objects.get_or_create(user=probe)[0].key
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    rng = random.Random(7)
    counts: dict[str, list[int]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    per_query: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    timings: list[tuple[str, float]] = []

    def timer(execute, sql, params, many, context):
        # CaptureQueriesContext rounds times to the millisecond; this does not.
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((sql, (time.perf_counter() - t0) * 1000))

    def request(endpoint: str, url: str, **kwargs):
        timings.clear()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.post(url, **kwargs)
            took = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"{endpoint} answered {response.status_code}: {response.content[:300]!r}"
            )
        return response, len(ctx.captured_queries), took, list(timings)

    for k in range(samples + 2):
        response, *next_result = request("next", f"/api/review-queues/{queue_id}/next/")
        rid = response.json()["id"]
        _response, *submit_result = request(
            "submit",
            f"/api/reviews/{rid}/submit/",
            data=_decision(rng),
            content_type="application/json",
        )
        if k < 2:
            continue  # warm-up
        for endpoint, (count, took, queries) in (("next", next_result), ("submit", submit_result)):
            counts[endpoint].append(count)
            times[endpoint].append(took)
            for sql, ms in queries:
                per_query[endpoint][_shape(sql)].append(ms)
    log(f"\nqueries per request ({samples} requests each, in-process test client, one at a time)")
    for endpoint in ("next", "submit"):
        c = counts[endpoint]
        log(
            f"  {endpoint:<7} mean {statistics.fmean(c):5.1f}  max {max(c):3d}  "
            f"(in-process time p50 {statistics.median(times[endpoint]):.1f} ms)"
        )
    return {"counts": counts, "per_query": per_query, "requests": samples}


def _shape(sql: str) -> str:
    """A query without its literals, short enough to print."""
    import re

    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"\s+", " ", sql)[:150]


def print_query_times(per_query, requests: int) -> None:
    for endpoint in ("next", "submit"):
        log(f"\n  {endpoint}: mean ms per query shape (calls per request)")
        rows = per_query[endpoint]
        for shape, values in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
            log(f"    {statistics.fmean(values):6.2f} ms x{len(values) / requests:4.1f}  {shape}")


def explain_claim(queue_id: int, reviewer_id: int) -> None:
    """EXPLAIN ANALYZE of the candidate query ``review_next`` runs."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Max, Min

    from pairs.models import ItemStatus, ReviewItem, ReviewQueue
    from pairs.review import services

    not_seen_by = getattr(services, "not_seen_by", None) or services._not_seen_by

    queue = ReviewQueue.objects.get(pk=queue_id)
    reviewer = get_user_model().objects.get(pk=reviewer_id)
    qs = (
        ReviewItem.objects.filter(
            queue=queue, is_gold=False, status=ItemStatus.OPEN, taken__lt=queue.reviews_required
        )
        .filter(not_seen_by(reviewer))
        .order_by("id")
        .values_list("pk", "pair_id")[: services.CLAIM_CANDIDATES]
    )
    log("\nEXPLAIN ANALYZE of the claim's candidate query:")
    log(qs.explain(analyze=True, buffers=True))
    # The same once a good part of the queue is done: the items decided so far are the first
    # ones (oldest first), and the statistics still say "all open" until the next ANALYZE.
    # Done in a transaction that is rolled back.
    low, high = (
        ReviewItem.objects.filter(queue=queue).aggregate(low=Min("id"), high=Max("id")).values()
    )
    cut = low + int(PROGRESS_SHARE * (high - low))
    with transaction.atomic():
        started = time.perf_counter()
        done = ReviewItem.objects.filter(queue=queue, status=ItemStatus.OPEN, id__lte=cut).update(
            status=ItemStatus.DECIDED, taken=queue.reviews_required, final_decision="accept"
        )
        log(
            f"\n... and with the first {done:,} items decided ({PROGRESS_SHARE:.0%} of the queue; "
            f"set up in {time.perf_counter() - started:.0f} s, rolled back), statistics not "
            "yet refreshed, as between two autovacuum runs:"
        )
        for _ in range(2):
            log(qs.explain(analyze=True))
        transaction.set_rollback(True)


# --- Main -----------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if connection.vendor != "postgresql":
        print(
            f"This benchmark needs PostgreSQL, but the database is {connection.vendor}. Set "
            "DATABASE_URL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test.",
            file=sys.stderr,
        )
        return 2

    def interrupted(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    log(
        f"review queue benchmark: {args.pairs:,} pairs, {args.reviewers} reviewers, "
        f"{args.seconds:.0f} s (+{args.warmup:.0f} s warm-up), think time {args.think_ms:g} ms, "
        f"stress {args.stress_seconds:g} s, "
        f"{os.cpu_count()} CPUs, database {BENCH_DB} on "
        f"{settings.DATABASES['default'].get('HOST') or 'local socket'}; CPU speed "
        f"{cpu_speed():.1f} M loop steps/s"
    )
    started = time.perf_counter()
    with bench_database(keep=args.keep_db, pairs=args.pairs) as reused:
        queue_id, reviewer_ids, tokens = reuse(args) if reused else seed(args)
        log(f"set-up done in {time.perf_counter() - started:.0f} s")
        connections.close_all()
        reviewer_tokens = [tokens[pk] for pk in reviewer_ids]
        with gunicorn(args) as (base, server_pid):
            log(
                f"\n{args.reviewers} reviewers, pausing {args.think_ms:g} ms on average after each answer:"
            )
            stats, elapsed = asyncio.run(load(base, server_pid, queue_id, reviewer_tokens, args))
            p95 = report_load(stats, elapsed)
            if args.stress_seconds > 0:
                stress = argparse.Namespace(
                    **{
                        **vars(args),
                        "think_ms": 0.0,
                        "seconds": args.stress_seconds,
                        "warmup": 2.0,
                        "floor_seconds": 0.0,
                    }
                )
                log(f"\nstress, for information: {args.reviewers} reviewers with no pause at all:")
                stress_stats, stress_elapsed = asyncio.run(
                    load(base, server_pid, queue_id, reviewer_tokens, stress)
                )
                report_load(stress_stats, stress_elapsed)
        measured = count_queries(queue_id, args.samples)
        if args.explain or not all(v < GOAL_MS for v in p95.values()):
            print_query_times(measured["per_query"], measured["requests"])
            explain_claim(queue_id, reviewer_ids[0])
        failed = sum(stats.errors.values())
        met = all(v < GOAL_MS for v in p95.values()) and not failed
        log(
            f"\ngoal p95 < {GOAL_MS:.0f} ms with {args.reviewers} reviewers pausing "
            f"{args.think_ms:g} ms: next {p95['next']:.1f} ms, submit "
            f"{p95['submit']:.1f} ms -> {'met' if met else 'not met'}"
            + (f" ({failed} failed requests)" if failed else "")
        )
    return 0 if met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
