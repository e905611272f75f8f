"""Benchmark of the principle list: the HTML page and the API, with time and query counts.

What it measures
----------------
With a logged-in Admin (``Client.force_login``) against a generated library of principles:

* ``page``: ``GET /principles/?domain=fiction&language=zh&page_size=25`` (``PrincipleListView``),
  and the same with a ``q=`` search;
* ``api``: ``GET /api/principles/?domain=fiction&language=zh&page_size=25``
  (``PrincipleViewSet.list``).

Each is requested 3 times to warm up, then ``--repeat`` times (default 30). The script prints
the median and 95th-percentile wall time per request in milliseconds and the number of SQL
queries per request (``CaptureQueriesContext``); every response must be 200.

It then requests the same filtered list with ``page_size`` 10, 25 and 100 on the page and the
API and prints the query count of each. A list that loads its related rows with joins runs the
same number of queries whatever the page size; if the count at 100 is larger than at 10 (an
N+1 query), the script says so and exits with status 1.

The data
--------
The script never reads or writes the data of the configured database. It creates a throwaway
test database (``test_<NAME>``, as ``manage.py test`` does, so an existing database of that name
is dropped), runs the migrations (which seed the taxonomy and the roles), fills it and drops it
at the end. It creates an Admin and a few Authors with ``user_create_with_roles``, then
``--principles`` principles (default 500) with ``--versions`` versions each (default 5), spread
over domains, tasks (some for all tasks), languages (zh and en) and statuses, with a fixed
random seed (``--seed``). Rows are written with ``bulk_create``/``bulk_update`` for speed, in the
states the services leave them in: versions numbered 1..N, ``latest_version`` is the last one,
an approved principle's last version is ``approved`` and in use, a version replaced by a newer
one is ``superseded``, except the approved version still in use while a newer one is a draft or
in review; retired principles keep their versions as they were.

Running it
----------
PostgreSQL is the database the numbers mean something for; the script refuses any other
database unless ``--allow-sqlite`` is given::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python \\
        benchmarks/principles_list.py [--principles 500] [--versions 5] [--repeat 30]

Exit status: 0 when all is well, 1 when the query count grows with the page size or a request
fails, 2 when the database is not PostgreSQL (and ``--allow-sqlite`` was not given).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from datetime import timedelta

import harness  # noqa: E402  (sets up Django)
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

FILTER = "domain=fiction&language=zh"
SEARCH_TERM = "对话"  # "dialogue": in the titles of about a tenth of the Chinese principles
PAGE_SIZES = (10, 25, 100)
WARMUP = 3
PASSWORD = "bench-Weaver-2024!"  # noqa: S105 - a throwaway user in a throwaway database

# Topics a principle is about, in English and Chinese; the search term is one of them.
TOPICS = [
    ("dialogue", "对话"),
    ("pacing", "节奏"),
    ("imagery", "意象"),
    ("point of view", "视角"),
    ("tension", "张力"),
    ("characterisation", "人物塑造"),
    ("setting", "场景"),
    ("subtext", "潜台词"),
    ("word choice", "措辞"),
    ("structure", "结构"),
]

# Domain slugs with weights: fiction is the domain measured, so it gets the most rows, enough
# that page_size=100 returns 100 rows of the filtered list with the default 500 principles.
DOMAIN_WEIGHTS = {
    "fiction": 4,
    "creative_nonfiction": 2,
    "marketing": 2,
    "technical_writing": 2,
}
LANGUAGE_WEIGHTS = {"zh": 6, "en": 4}
STATUS_WEIGHTS = {"approved": 45, "in_review": 20, "draft": 25, "retired": 10}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the principle list page and API and check their query counts."
    )
    parser.add_argument("--principles", type=int, default=500, help="principles to create")
    parser.add_argument("--versions", type=int, default=5, help="versions per principle")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per measurement")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed for the data")
    parser.add_argument(
        "--allow-sqlite",
        action="store_true",
        help="run on a database other than PostgreSQL (the numbers mean less)",
    )
    args = parser.parse_args(argv)
    if args.principles < 1 or args.versions < 1 or args.repeat < 1:
        parser.error("--principles, --versions and --repeat must be at least 1")
    return args


# --- Data -----------------------------------------------------------------------------------


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _content(rng: random.Random, language: str, topic: tuple[str, str], n: int, number: int):
    """The content fields of version ``number`` of principle ``n``; each version differs."""
    en, zh = topic
    if language == "zh":
        return {
            "title": f"{zh}要服务于情节（第{n}条）",
            "description": f"关于{zh}的写作原则，第{number}版：{zh}应当推动故事，而不是装饰。",
            "following_instruction": f"写一段以{zh}为重点的文字。",
            "following_text": f"她停下脚步。{zh}里藏着没说出口的话。（{n}-{number}）",
            "following_rationale": f"{zh}承载了人物的动机。",
            "violating_instruction": f"写一段以{zh}为重点的文字。",
            "violating_text": f"她说她很难过，因为她很难过。（{n}-{number}）",
            "violating_rationale": f"{zh}只是重复，没有推动情节。",
            "change_note": f"第{number}版修订" if number > 1 else "",
        }
    word = rng.choice(["clear", "vivid", "purposeful", "economical"])
    return {
        "title": f"Make {en} {word} (principle {n})",
        "description": f"Version {number}: {en} should move the story, not decorate it.",
        "following_instruction": f"Write a paragraph that leans on {en}.",
        "following_text": f"She stopped. The {en} held what she would not say. ({n}-{number})",
        "following_rationale": f"The {en} carries the character's motive.",
        "violating_instruction": f"Write a paragraph that leans on {en}.",
        "violating_text": f"She said she was sad because she was sad. ({n}-{number})",
        "violating_rationale": f"The {en} only repeats and does not advance anything.",
        "change_note": f"Revision {number}" if number > 1 else "",
    }


def build_library(*, principles: int, versions: int, seed: int):
    """Create the users and the principle library; return the Admin user."""
    from principles.models import (
        Domain,
        Principle,
        PrincipleStatus,
        PrincipleVersion,
        Task,
        VersionState,
    )
    from weaver_site.services import user_create_with_roles

    rng = random.Random(seed)
    admin = user_create_with_roles(username="bench_admin", password=PASSWORD, roles=["Admin"])
    authors = [
        user_create_with_roles(username=f"bench_author{i}", password=PASSWORD, roles=["Author"])
        for i in range(1, 5)
    ]
    owners = [*authors, admin]
    domains = {d.slug: d for d in Domain.objects.filter(slug__in=DOMAIN_WEIGHTS)}
    missing = set(DOMAIN_WEIGHTS) - set(domains)
    if missing:
        raise SystemExit(f"The seeded taxonomy lacks the domains {sorted(missing)}.")
    tasks = list(Task.objects.all())

    start = timezone.now() - timedelta(days=365)
    plans = []  # (principle, status, version timestamps, chosen topic)
    for _ in range(principles):
        status = _pick(rng, STATUS_WEIGHTS)
        created = start + timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        stamps = [created]
        for _ in range(versions - 1):
            stamps.append(stamps[-1] + timedelta(hours=rng.randrange(1, 24 * 10)))
        principle = Principle(
            domain=domains[_pick(rng, DOMAIN_WEIGHTS)],
            task=rng.choice(tasks) if rng.random() < 0.75 else None,
            language=_pick(rng, LANGUAGE_WEIGHTS),
            owner=rng.choice(owners),
            status=status,
        )
        plans.append((principle, status, stamps, rng.choice(TOPICS)))
    Principle.objects.bulk_create([p for p, *_ in plans], batch_size=1000)

    rows = []
    for n, (principle, status, stamps, topic) in enumerate(plans, start=1):
        # What the services leave behind. The last version's state follows the status (a
        # retired principle keeps the state it had). When it is approved, every older version
        # was approved in turn and superseded by the next approval. When it is a draft or in
        # review, half the time the older versions were approved in turn and the one before
        # the last is still approved and in use; otherwise none was ever approved and each
        # was superseded by the next draft.
        last_state = {
            PrincipleStatus.APPROVED: VersionState.APPROVED,
            PrincipleStatus.IN_REVIEW: VersionState.IN_REVIEW,
            PrincipleStatus.DRAFT: VersionState.DRAFT,
            PrincipleStatus.RETIRED: rng.choice([VersionState.APPROVED, VersionState.DRAFT]),
        }[status]
        keep_previous = (
            versions > 1
            and last_state in (VersionState.DRAFT, VersionState.IN_REVIEW)
            and rng.random() < 0.5
        )
        versions_of = []
        for number in range(1, versions + 1):
            at = stamps[number - 1]
            version = PrincipleVersion(
                principle=principle,
                number=number,
                author=principle.owner,
                **_content(rng, principle.language, topic, n, number),
            )
            is_last = number == versions
            state = last_state if is_last else VersionState.SUPERSEDED
            approved_before = not is_last and (last_state == VersionState.APPROVED or keep_previous)
            if keep_previous and number == versions - 1:
                state = VersionState.APPROVED
            if state == VersionState.APPROVED or approved_before:
                version.submitted_at = at + timedelta(minutes=30)
                version.approved_at = version.reviewed_at = at + timedelta(hours=2)
                version.reviewed_by = admin
            elif state == VersionState.IN_REVIEW:
                version.submitted_at = at + timedelta(minutes=30)
            elif state == VersionState.DRAFT and is_last and rng.random() < 0.3:
                # Sent back once by the admin, then not yet submitted again.
                version.submitted_at = at + timedelta(minutes=30)
                version.reviewed_at = at + timedelta(hours=1)
                version.reviewed_by = admin
                version.review_comment = "Tighten the violating case."
            version.state = state
            versions_of.append(version)
        rows.extend(versions_of)
        principle._bench_versions = versions_of
    PrincipleVersion.objects.bulk_create(rows, batch_size=1000)

    # bulk_create stamps auto_now/auto_now_add fields with the current time; bulk_update
    # writes the attribute values as they are, which spreads the rows over the past year.
    version_times = []
    for principle, status, stamps, _topic in plans:
        versions_of = principle._bench_versions
        for version, at in zip(versions_of, stamps, strict=True):
            version.created_at = at
            version_times.append(version)
        principle.latest_version = versions_of[-1]
        in_use = [v for v in versions_of if v.state == VersionState.APPROVED]
        principle.approved_version = in_use[-1] if in_use else None
        last = versions_of[-1]
        updated = last.reviewed_at or last.submitted_at or last.created_at
        if status == PrincipleStatus.RETIRED:
            principle.retired_at = updated + timedelta(days=rng.randrange(1, 30))
            updated = principle.retired_at
        principle.created_at = stamps[0]
        principle.updated_at = updated
    PrincipleVersion.objects.bulk_update(version_times, ["created_at"], batch_size=1000)
    Principle.objects.bulk_update(
        [p for p, *_ in plans],
        ["latest_version", "approved_version", "created_at", "updated_at", "retired_at"],
        batch_size=1000,
    )
    check_library(principles=principles, versions=versions)
    return admin


def check_library(*, principles: int, versions: int) -> None:
    """Fail loudly if the generated rows break an invariant that the services keep."""
    from django.db.models import Count, F, Q

    from principles.models import Principle, PrincipleStatus, PrincipleVersion, VersionState

    problems = []
    if Principle.objects.count() != principles:
        problems.append("wrong number of principles")
    if PrincipleVersion.objects.count() != principles * versions:
        problems.append("wrong number of versions")
    if Principle.objects.exclude(latest_version__number=versions).exists():
        problems.append(f"a latest_version that is not v{versions}")
    if Principle.objects.exclude(latest_version__principle=F("pk")).exists():
        problems.append("a latest_version of another principle")
    if (
        Principle.objects.filter(approved_version__isnull=False)
        .exclude(approved_version__state=VersionState.APPROVED, approved_version__principle=F("pk"))
        .exists()
    ):
        problems.append("an approved_version that is not an approved version of the principle")
    if (
        Principle.objects.filter(status=PrincipleStatus.APPROVED)
        .exclude(approved_version=F("latest_version"))
        .exists()
    ):
        problems.append("an approved principle whose latest version is not the one in use")
    if (
        Principle.objects.exclude(status=PrincipleStatus.RETIRED)
        .exclude(latest_version__state=F("status"))
        .exists()
    ):
        problems.append("a status that is not the state of the latest version")
    approved_counts = Principle.objects.annotate(
        n=Count("versions", filter=Q(versions__state=VersionState.APPROVED))
    ).filter(n__gt=1)
    if approved_counts.exists():
        problems.append("more than one approved version")
    if (
        PrincipleVersion.objects.exclude(state=VersionState.SUPERSEDED)
        .exclude(number=versions)
        .exclude(principle__approved_version=F("pk"))
        .exists()
    ):
        problems.append("an older version that is neither superseded nor in use")
    if problems:
        raise SystemExit("Generated data is inconsistent: " + "; ".join(problems) + ".")


# --- Measuring ------------------------------------------------------------------------------


def _rows(kind: str, response) -> int:
    if kind == "api":
        return len(response.json()["results"])
    return len(re.findall(rb'<a href="/principles/\d+/">', response.content))


def request(client: Client, kind: str, url: str):
    """One GET; return (seconds, query count, rows shown); stop on anything but a 200."""
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - began
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}, expected 200.")
    return elapsed, len(queries), _rows(kind, response)


def p95(values: list[float]) -> float:
    """The 95th percentile by the nearest-rank method (no interpolation)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure(client: Client, kind: str, label: str, url: str, repeat: int) -> dict:
    for _ in range(WARMUP):
        request(client, kind, url)
    times, counts, rows = [], set(), 0
    for _ in range(repeat):
        elapsed, count, rows = request(client, kind, url)
        times.append(elapsed * 1000)
        counts.add(count)
    return {
        "kind": kind,
        "label": label,
        "median": statistics.median(times),
        "p95": p95(times),
        "queries": max(counts),
        "varying": len(counts) > 1,
        "rows": rows,
    }


def list_url(kind: str, query: str) -> str:
    return f"/api/principles/?{query}" if kind == "api" else f"/principles/?{query}"


def run(args: argparse.Namespace) -> int:
    admin = build_library(principles=args.principles, versions=args.versions, seed=args.seed)
    client = Client()
    client.force_login(admin)

    search = f"{FILTER}&q={SEARCH_TERM}"
    cases = [
        ("page", "filtered list", list_url("page", f"{FILTER}&page_size=25")),
        ("page", "filtered search", list_url("page", f"{search}&page_size=25")),
        ("api", "filtered list", list_url("api", f"{FILTER}&page_size=25")),
        ("api", "filtered search", list_url("api", f"{search}&page_size=25")),
    ]
    print(
        f"{args.principles} principles x {args.versions} versions on {connection.vendor}, "
        f"{args.repeat} timed requests after {WARMUP} warm-ups, as an Admin"
    )
    print(f"filter: {FILTER}, page_size=25; search: q={SEARCH_TERM}")
    print()
    for kind, label, url in cases:
        r = measure(client, kind, label, url, args.repeat)
        note = " (varies between requests)" if r["varying"] else ""
        print(
            f"{r['kind']:<4}  {r['label']:<16}  median {r['median']:6.1f} ms  "
            f"p95 {r['p95']:6.1f} ms  queries {r['queries']:>3}  rows {r['rows']:>3}{note}"
        )

    print()
    print(f"query count by page size ({FILTER}):")
    growing = []
    for kind in ("page", "api"):
        by_size = {}
        parts = []
        for size in PAGE_SIZES:
            url = list_url(kind, f"{FILTER}&page_size={size}")
            request(client, kind, url)  # warm caches so only the page size differs
            _, count, rows = request(client, kind, url)
            by_size[size] = count
            parts.append(f"{size:>3}: {count:>3} queries ({rows:>3} rows)")
        print(f"{kind:<4}  " + "   ".join(parts))
        if by_size[PAGE_SIZES[-1]] > by_size[PAGE_SIZES[0]]:
            growing.append(
                f"{kind}: {by_size[PAGE_SIZES[0]]} queries at page_size={PAGE_SIZES[0]}, "
                f"{by_size[PAGE_SIZES[-1]]} at page_size={PAGE_SIZES[-1]}"
            )
        if rows < PAGE_SIZES[-1]:
            print(
                f"      note: only {rows} rows match, so page_size={PAGE_SIZES[-1]} shows fewer "
                "rows than it could; use more --principles for a stronger check"
            )

    print()
    print(f"query count independent of page size: {'no' if growing else 'yes'}")
    if growing:
        print(
            "FAIL: the query count grows with the page size (a query per row, N+1): "
            + "; ".join(growing),
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if not harness.require_postgresql(args.allow_sqlite):
        return 2
    with harness.throwaway_database(production_templates=True):
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
