"""``manage.py import_pairs FILE [--name N] [--keep]``: import instruction pairs (JSONL)."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from pairs.generation.pair_import import instruction_pairs_import, pair_import_issues

ISSUES_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Import ready-made instruction pairs from a JSONL file (one object per line with "
        "instruction, response, task, language and optionally context, domain, subdomain, "
        "metadata). Prints the counters and the first issues."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSONL file.")
        parser.add_argument("--name", default="", help="Name of the import (default: file name).")
        parser.add_argument("--keep", action="store_true", help="Mark the imported pairs as kept.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            pair_import = instruction_pairs_import(
                path=path, original_name=path.name, name=options["name"], keep=options["keep"]
            )
        except ValidationError as exc:
            raise CommandError(f"{path}: {'; '.join(exc.messages)}") from exc
        self.stdout.write(
            f"Import #{pair_import.pk} {pair_import.name}: {pair_import.rows_read} rows read, "
            f"{pair_import.imported} imported, {pair_import.duplicates} duplicates, "
            f"{pair_import.errors} refused."
        )
        issues = list(pair_import_issues(pair_import=pair_import)[:ISSUES_SHOWN])
        for issue in issues:
            field = f" {issue.field}" if issue.field else ""
            self.stdout.write(f"{pair_import.original_name}:{issue.line}{field}: {issue.reason}")
        more = pair_import.issues.count() - len(issues)
        if more > 0:
            self.stdout.write(f"… and {more} more issues (see the import's page).")
