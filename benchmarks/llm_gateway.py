"""Throughput of the LLM gateway's batch interface against the test LLM server.

The test server (``tests/fakes/llm_server.py``, in its own process) answers every request after
``--latency`` seconds (default 0.2). An endpoint allows ``--concurrency`` simultaneous requests
(default 64), so no client can beat ``concurrency / latency`` calls per second: 320/s by
default, the *ideal*.

1. Gateway: ``--calls`` distinct requests (default 2,000) through ``gateway.batch`` in this
   process, with everything a real job has: cache look-up, budget reservation, the shared
   concurrency limit, ledger rows and cached responses written to the database.
2. Baseline: the same calls made one per Celery task (``bench.plain_openai_call``) by a worker
   with default settings and a plain ``openai`` client, as a first attempt would do it.

It prints both rates, the gateway's share of the ideal (goal: at least 90%), and the ratio of
the two. Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/llm_gateway.py [--calls 2000] [--baseline-calls 2000]

The baseline is slow by nature (a default worker runs one task per CPU core, each waiting for
its answer): ``--baseline-calls 200`` gives the same rate in a tenth of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import harness  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402

ROOT = harness.ROOT


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--baseline-calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--allow-sqlite", action="store_true")
    return parser.parse_args(argv)


@contextmanager
def fake_server(latency: float, *, schema_answers: bool = False):
    """The test server in its own process; ``schema_answers``: JSON valid for each request's
    schema instead of a fixed text."""
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.fakes.llm_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--content",
            "A short answer from the test server.",
            *(["--schema-answers"] if schema_answers else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("URL "):
            raise RuntimeError(f"the test server did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def stats(url: str) -> dict:
    root = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/stats", timeout=5) as response:  # noqa: S310
        return json.load(response)


def reset(url: str) -> None:
    root = url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(f"{root}/stats/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310


def run_gateway(url: str, args) -> float:
    from weaver_site.llm.gateway import LLMRequest, batch
    from weaver_site.llm.models import Endpoint

    endpoint = Endpoint.objects.create(
        name="bench",
        base_url=url,
        model="fake-model",
        max_concurrency=args.concurrency,
        timeout_seconds=30,
    )
    requests = [
        LLMRequest(messages=[{"role": "user", "content": f"Benchmark prompt {i}"}], key=i)
        for i in range(args.calls)
    ]
    reset(url)
    started = time.perf_counter()
    ok = sum(1 for result in batch(endpoint, requests) if result.ok)
    elapsed = time.perf_counter() - started
    if ok != args.calls:
        raise SystemExit(f"only {ok} of {args.calls} gateway calls succeeded")
    peak = stats(url)["peak_concurrency"]
    print(
        f"gateway   {args.calls:5d} calls in {elapsed:6.2f} s  {args.calls / elapsed:7.1f} calls/s"
        f"  peak concurrency {peak}"
    )
    return args.calls / elapsed


def run_baseline(url: str, args) -> float:
    from celery import Celery

    env = dict(os.environ, DATABASE_URL=harness.database_url(), PYTHONUNBUFFERED="1")
    if not settings.REDIS_URL:
        env["WEAVER_BROKER_DIR"] = str(settings.BROKER_DIR)
    from weaver_site.management.commands.runstudio import worker_command

    command = worker_command("bench", ["--include", "llm_gateway_tasks"])  # default pool
    command[command.index("--loglevel") + 1] = "WARNING"
    worker = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT / "benchmarks",
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from weaver_site.celery import app

        app: Celery
        time.sleep(5)  # let the worker start before the clock does
        reset(url)
        started = time.perf_counter()
        for i in range(args.baseline_calls):
            app.send_task(
                "bench.plain_openai_call", args=[url, f"Benchmark prompt {i}"], queue="bench"
            )
        while True:
            s = stats(url)
            if s["chat_completions"] >= args.baseline_calls and s["in_flight"] == 0:
                break
            if worker.poll() is not None:
                raise SystemExit("the baseline worker died")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    rate = args.baseline_calls / elapsed
    print(
        f"baseline  {args.baseline_calls:5d} calls in {elapsed:6.2f} s  {rate:7.1f} calls/s"
        "  (one Celery task per call, plain openai client, default worker)"
    )
    return rate


def main(argv=None) -> int:
    args = parse_args(argv)
    if not harness.require_postgresql(args.allow_sqlite):
        return 2
    ideal = args.concurrency / args.latency
    print(
        f"test server latency {args.latency * 1000:.0f} ms, {args.concurrency} concurrent "
        f"requests allowed: ideal {ideal:.0f} calls/s; broker "
        f"{'redis' if settings.REDIS_URL else 'embedded filesystem'}, database "
        f"{harness.connection.vendor}"
    )
    with harness.throwaway_database(), fake_server(args.latency) as url:
        gateway = run_gateway(url, args)
        baseline = run_baseline(url, args) if args.baseline_calls else None
    share = gateway / ideal
    print(f"gateway / ideal    = {share:6.1%}  (goal: at least 90%)")
    if baseline:
        print(f"gateway / baseline = {gateway / baseline:6.1f}x")
    return 0 if share >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
