"""Shared set-up for the benchmarks: Django, and a throwaway test database.

Import this first: it puts the project on ``sys.path`` and calls ``django.setup()``.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "weaver_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
    teardown_test_environment,
)


def require_postgresql(allow_sqlite: bool) -> bool:
    """Whether to go on: the numbers mean something on PostgreSQL."""
    if connection.vendor == "postgresql" or allow_sqlite:
        return True
    print(
        f"This benchmark measures PostgreSQL, but the database is {connection.vendor} "
        f"({connection.settings_dict['ENGINE']}). Set DATABASE_URL, e.g. "
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test, or pass --allow-sqlite.",
        file=sys.stderr,
    )
    return False


@contextmanager
def throwaway_database(*, production_templates: bool = False):
    """A migrated test database (``test_<NAME>``, as ``manage.py test`` makes it), dropped at
    the end; the configured database's data is never touched.

    ``production_templates`` keeps template rendering as in production: the test environment
    otherwise copies every render's context for the test client, which would inflate timings.
    """
    from django.template import Template

    production_render = Template._render
    setup_test_environment()
    if production_templates:
        Template._render = production_render
    old_config = None
    try:
        old_config = setup_databases(verbosity=0, interactive=False)
        yield connection.settings_dict
    finally:
        if old_config is not None:
            teardown_databases(old_config, verbosity=0)
        teardown_test_environment()


def database_url() -> str:
    """A URL for the database in use, for worker processes the benchmark starts."""
    from weaver_site.infra import database_url as url

    return url(connection.vendor, connection.settings_dict)


# --- A benchmark's own PostgreSQL database ----------------------------------------------------
# Used by the benchmarks that need more rows than a throwaway test database should hold
# (review_queue.py, export.py): they switch Django's connection to a database of their own.


def use_database(name: str) -> None:
    """Point Django's default connection at the database ``name`` (closing open ones)."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def database_exists(name: str) -> bool:
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def drop_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str) -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')


def cpu_speed() -> float:
    """Millions of simple Python loop steps per CPU second: this machine's speed right now
    (shared virtual machines vary), to compare runs."""
    import time

    start = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i
    return 3 / (time.process_time() - start)


# --- Seed data ---------------------------------------------------------------------------------

#: The prompt version of seeded preference pairs, and the recipe version of their positives.
PROMPT_VERSION = "bench-v1"
PRINCIPLE_TITLES = (
    "Show, don't tell",
    "Concrete detail",
    "Vary the rhythm",
    "Cut the filler",
    "Subtext",
)


def bench_user(username: str, roles: list[str]):
    """A user with exactly ``roles`` (made, or found and reset)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_unusable_password()
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


def principle_versions(
    admin,
    titles=PRINCIPLE_TITLES,
    *,
    domain: str = "fiction",
    description: str = "Principle {i}: what good writing does, for the benchmark.",
) -> list[int]:
    """Create and approve one English principle per title in ``domain`` (``description`` is
    formatted with ``i`` and ``title``); return their approved version ids, in order."""
    from principles import services
    from principles.models import Domain, PrincipleVersion

    home = Domain.objects.get(slug=domain)
    ids = []
    for i, title in enumerate(titles):
        principle = services.principle_create(
            owner=admin,
            domain=home,
            task=None,
            language="en",
            content={
                "title": title,
                "description": description.format(i=i, title=title),
                "following_instruction": "Write a scene where a girl waits for her father.",
                "following_text": "She pressed her face to the cold window.",
                "following_rationale": "The longing shows through what she does.",
                "violating_instruction": "Write a scene where a girl waits for her father.",
                "violating_text": "She was very sad and missed her father.",
                "violating_rationale": "The feeling is named, not shown.",
            },
        )
        services.principle_submit(principle=principle, user=admin)
        services.principle_approve(principle=principle, user=admin)
        principle.refresh_from_db()
        ids.append(principle.approved_version_id)
    return list(
        PrincipleVersion.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    )


def insert_pairs_sql(
    n: int,
    positives: int,
    versions: list[int],
    *,
    prompt_version: str = PROMPT_VERSION,
    values: dict[str, str] | None = None,
) -> tuple[str, list]:
    """One INSERT ... SELECT over generate_series(0, n - 1): pair g comes from positive
    g mod P (the instruction pairs of recipe version ``prompt_version``, in id order), breaks
    version (g / P) mod V, with sample index g / (P * V), so every (positive, version, prompt
    version, sample) is distinct. ``values`` replaces the SQL expression of columns (``g``,
    ``pos`` and ``ver`` are in scope); every other column gets its default."""
    from pairs.models import InstructionPair, PreferencePair
    from principles.models import PrincipleVersion

    p, v = positives, len(versions)
    literal = "'" + prompt_version.replace("'", "''") + "'"
    metrics = (
        "jsonb_build_object('char_similarity', 0.80 + mod(g, 19) / 100.0, "
        "'edit_ratio', mod(g, 31) / 100.0, 'sentences_changed', mod(g, 3), "
        "'length_ratio', 0.9 + mod(g, 21) / 100.0, 'identical', false)"
    )
    chosen = {
        "status": "'generated'",
        "mode": "'each'",
        "positive_id": "pos.id",
        "principle_version_id": "ver.id",
        "task_id": "pos.task_id",
        "domain_id": "pos.domain_id",
        "subdomain_id": "pos.subdomain_id",
        "language": "pos.language",
        "instruction": "pos.instruction",
        "context": "pos.context",
        "chosen": "pos.response",
        "rejected": "replace(pos.response, 'ran slow', 'ran very slow') || ' [' || g || ']'",
        "rewrite_rationale": "'Adds an adverb that tells instead of shows.'",
        "prompt_version": literal,
        "sample_index": f"g / {p * v}",
        "model": "'bench-model'",
        "metrics": metrics,
        "flagged": "(mod(g, 10) = 0)",
        "created_at": "now()",
        "updated_at": "now()",
        **(values or {}),
    }
    columns, exprs, params = [], [], []
    for field in PreferencePair._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in chosen:
            exprs.append(chosen[field.column])
        elif field.null:
            exprs.append("NULL")
        elif field.get_internal_type() == "DateTimeField":
            exprs.append("now()")
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    table = connection.ops.quote_name(PreferencePair._meta.db_table)
    ip_table = connection.ops.quote_name(InstructionPair._meta.db_table)
    pv_table = connection.ops.quote_name(PrincipleVersion._meta.db_table)
    version_list = ", ".join(str(int(x)) for x in versions)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM generate_series(0, {n - 1}) AS g "
        f"JOIN (SELECT *, row_number() OVER (ORDER BY id) - 1 AS rn FROM {ip_table} "
        f"WHERE recipe_version = {literal}) pos ON pos.rn = mod(g, {p}) "
        f"JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM "
        f"{pv_table} WHERE id IN ({version_list})) ver "
        f"ON ver.rn = mod(g / {p}, {v})"
    )
    return sql, params
