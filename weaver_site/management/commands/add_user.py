import getpass
import os
import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from weaver_site.roles import ALL_ROLES
from weaver_site.services import user_create_with_roles


class Command(BaseCommand):
    help = (
        "Create a user (or update an existing one) with the given roles. "
        f"Roles: {', '.join(ALL_ROLES)} (case-insensitive, comma-separated)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--roles", default="", help="e.g. author,reviewer")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            default="",
            help="Read the password from this environment variable (kept out of shell history).",
        )
        parser.add_argument(
            "--generate-password", action="store_true", help="Generate a password and print it."
        )

    def handle(self, *args, username, roles, email, password_env, generate_password, **options):
        by_lower = {r.lower(): r for r in ALL_ROLES}
        wanted = [r.strip().lower() for r in roles.split(",") if r.strip()]
        unknown = [r for r in wanted if r not in by_lower]
        if unknown:
            raise CommandError(f"Unknown role(s) {unknown}; choose from {', '.join(ALL_ROLES)}.")
        if password_env:
            password = os.environ.get(password_env, "")
            if not password:
                raise CommandError(f"Environment variable {password_env} is empty or unset.")
        elif generate_password:
            password = secrets.token_urlsafe(12)
        else:
            password = getpass.getpass(f"Password for {username}: ")
        try:
            user = user_create_with_roles(
                username=username,
                password=password,
                roles=[by_lower[r] for r in wanted],
                email=email,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"User {user.username} has roles: {', '.join(by_lower[r] for r in wanted) or 'none'}."
        )
        if generate_password:
            self.stdout.write(f"Password: {password}")
