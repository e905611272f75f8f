from django.core.management.base import BaseCommand

from principles.models import Domain, Subdomain, Task
from principles.taxonomy import seed_taxonomy


class Command(BaseCommand):
    help = "Add the starter domains, subdomains and tasks that are missing (idempotent)."

    def handle(self, *args, **options):
        created = seed_taxonomy(Domain, Subdomain, Task)
        self.stdout.write(f"Taxonomy: {created} rows added.")
