from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .models import WorkerHeartbeat


def worker_heartbeat_record(
    *, hostname: str, queues: list[str], pid: int, started_at: datetime
) -> WorkerHeartbeat:
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": ",".join(queues),
            "pid": pid,
            "started_at": started_at,
            "last_seen": timezone.now(),
        },
    )
    return beat


def worker_heartbeat_clear(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname).delete()


def user_create_with_roles(*, username: str, password: str, roles: list[str], email: str = ""):
    """Create (or update) a user and set exactly these roles. Admins may use the Django admin."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from .roles import ADMIN, ALL_ROLES

    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise ValidationError(
            f"Unknown role(s): {', '.join(unknown)}. Known roles: {', '.join(ALL_ROLES)}."
        )
    User = get_user_model()
    with transaction.atomic():
        user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
        validate_password(password, user)
        user.set_password(password)
        if email:
            user.email = email
        user.is_staff = ADMIN in roles
        user.is_active = True
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
    return user
