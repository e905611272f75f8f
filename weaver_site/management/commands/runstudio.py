"""Run the web server and one Celery worker per queue in the foreground; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

WORKERS = {
    # queue: extra worker arguments
    "default": ["--pool", "prefork", "--concurrency", "2"],
    "llm": ["--pool", "threads", "--concurrency", "8"],
    # One run at a time, in the worker's own process: it sees the worker's shutdown and hands
    # its run back (checkpoint saved), and its engine subprocess dies with it.
    "gpu": ["--pool", "solo", "--prefetch-multiplier", "1"],
}


def worker_command(queue: str, extra: list[str] | None = None, name: str = "") -> list[str]:
    """The worker for ``queue`` (comma-separated queues allowed), named ``name@host``."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "weaver_site",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name or queue}@%h",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        *(extra if extra is not None else WORKERS[queue]),
    ]


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and Celery workers for the default, llm and gpu queues."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("WEAVER_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2))
        )
        parser.add_argument(
            "--queues",
            default="default,llm,gpu",
            help="Comma-separated queues to run workers for; empty for none.",
        )
        parser.add_argument("--no-web", action="store_true", help="Run only the workers.")

    def handle(self, *args, bind, web_workers, queues, no_web, **options):
        commands: dict[str, list[str]] = {}
        if not no_web:
            commands["web"] = [
                sys.executable,
                "-m",
                "gunicorn",
                "weaver_site.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ]
        for queue in [q.strip() for q in queues.split(",") if q.strip()]:
            if queue not in WORKERS:
                self.stderr.write(f"Unknown queue {queue!r}; known: {', '.join(WORKERS)}.")
                sys.exit(2)
            commands[f"worker-{queue}"] = worker_command(queue)

        procs: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603
        if not no_web:
            self.stdout.write(self.style.SUCCESS(f"Weaver studio: http://{bind}/  (Ctrl-C stops)"))
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping all.")
                    exit_code = proc.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.stdout.write("Stopped.")
        sys.exit(exit_code)
