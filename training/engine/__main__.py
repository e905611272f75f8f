"""``python -m training.engine --config run.json --events events.jsonl`` (or under
``accelerate launch -m training.engine …`` for several GPUs): train, appending one JSON line
per event to the events file (rank 0 only), which the studio's task follows."""

from __future__ import annotations

import argparse
import json
import sys

from .config import ConfigError, RunConfig
from .run import train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.engine")
    parser.add_argument("--config", required=True, help="the run's JSON config")
    parser.add_argument("--events", required=True, help="JSON lines file to append events to")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        try:
            config = RunConfig.from_dict(json.load(fh))
        except (ConfigError, json.JSONDecodeError) as exc:
            print(f"bad config {args.config}: {exc}", file=sys.stderr)
            return 2
    with open(args.events, "a", encoding="utf-8") as events:

        def report(event: dict) -> None:
            events.write(json.dumps(event, ensure_ascii=False) + "\n")
            events.flush()

        train(config, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
