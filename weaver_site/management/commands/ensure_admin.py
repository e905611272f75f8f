import os
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from weaver_site.roles import ADMIN
from weaver_site.services import user_create_with_roles


class Command(BaseCommand):
    help = (
        "Create the 'admin' account if it is missing (password from WEAVER_ADMIN_PASSWORD, or "
        "generated and printed once). With WEAVER_ADMIN_PASSWORD set, also reset its password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        password = os.environ.get("WEAVER_ADMIN_PASSWORD", "")
        exists = get_user_model().objects.filter(username=username).exists()
        if exists and not password:
            self.stdout.write(f"Admin account '{username}' exists; password unchanged.")
            return
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        try:
            user = user_create_with_roles(username=username, password=password, roles=[ADMIN])
        except ValidationError as exc:
            raise CommandError("WEAVER_ADMIN_PASSWORD: " + "; ".join(exc.messages)) from None
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
        if generated:
            line = f"Admin account '{username}' created. Password (shown once): {password}"
            self.stdout.write(self.style.WARNING("=" * len(line)))
            self.stdout.write(self.style.WARNING(line))
            self.stdout.write(self.style.WARNING("=" * len(line)))
        else:
            self.stdout.write(
                f"Admin account '{username}' {'updated' if exists else 'created'} "
                "with the password from WEAVER_ADMIN_PASSWORD."
            )
