"""``python -m training.engine --config run.json --events events.jsonl`` (or under
``accelerate launch -m training.engine …`` for several GPUs): train, appending one JSON line
per event to the events file (rank 0 only), which the studio's task follows.

SIGTERM (or SIGINT) asks the run to stop: it saves a checkpoint at the end of the step under way
and exits 0 after a ``stopped`` event; a second signal exits at once. When the environment names
``WEAVER_ENGINE_PARENT_PID`` (the worker's task process), the engine exits as soon as that
process is gone, so a killed worker never leaves a trainer behind. Exit status 2: a bad config.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

from .config import ConfigError, RunConfig
from .run import request_stop, train

REPEAT_EXITS_AFTER = 5.0  # seconds: a signal repeated sooner is the same request


def _on_signal(signum, frame) -> None:
    """The first SIGTERM/SIGINT asks for a clean stop. Under ``accelerate launch`` the
    launcher forwards the signal its group already got, so a repeat within a few seconds is
    the same request; a later one (a person pressing Ctrl-C again) exits at once."""
    first = getattr(_on_signal, "first", None)
    if first is not None:
        if time.monotonic() - first >= REPEAT_EXITS_AFTER:
            os._exit(128 + signum)
        return
    _on_signal.first = time.monotonic()
    print(f"signal {signum}: stopping after this step (checkpoint kept)", file=sys.stderr)
    request_stop()


def _watch_parent(pid: int, interval: float = 0.5) -> None:
    """Exit when process ``pid`` (the task that started this engine) no longer exists."""

    def watch():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(137)
            except PermissionError:
                pass
            time.sleep(interval)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.engine")
    parser.add_argument("--config", required=True, help="the run's JSON config")
    parser.add_argument("--events", required=True, help="JSON lines file to append events to")
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=300,
        help="seconds to wait for another engine to leave the output folder",
    )
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        try:
            config = RunConfig.from_dict(json.load(fh))
        except (ConfigError, json.JSONDecodeError, TypeError) as exc:
            print(f"bad config {args.config}: {exc}", file=sys.stderr)
            return 2
    parent = os.environ.get("WEAVER_ENGINE_PARENT_PID", "")
    if parent.isdigit():
        _watch_parent(int(parent))
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    with open(args.events, "a", encoding="utf-8") as events:

        def report(event: dict) -> None:
            if not rank0:
                return
            event.setdefault("time", time.time())
            events.write(json.dumps(event, ensure_ascii=False) + "\n")
            events.flush()

        train(config, report, lock_wait=args.lock_wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
