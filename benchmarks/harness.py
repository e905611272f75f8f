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
