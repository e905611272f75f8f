"""Roles and the checks that every page, endpoint and admin view uses.

A role is a Django group (created by migration). Superusers hold every role. The ``Admin``
role is granted every model permission by :class:`RoleBackend`, so the Django admin, the pages
and the API agree on who may do what.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

AUTHOR = "Author"
REVIEWER = "Reviewer"
ENGINEER = "Engineer"
ADMIN = "Admin"
EVALUATOR = "Evaluator"
ALL_ROLES = (AUTHOR, REVIEWER, ENGINEER, EVALUATOR, ADMIN)
#: The roles that work with the studio's data. An Evaluator only judges blind in the arena, so
#: pages and endpoints open to "any role" are open to these.
STUDIO_ROLES = (AUTHOR, REVIEWER, ENGINEER, ADMIN)
ROLE_LABELS = {
    AUTHOR: _("Author"),
    REVIEWER: _("Reviewer"),
    ENGINEER: _("Engineer"),
    EVALUATOR: _("Evaluator"),
    ADMIN: _("Admin"),
}


def user_roles(user) -> frozenset[str]:
    """The roles a user holds, cached on the user object for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_weaver_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ALL_ROLES)
        else:
            names = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
            cached = frozenset(names)
        user._weaver_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """Whether the user holds one of ``roles``; with no roles named, any role at all."""
    held = user_roles(user)
    return bool(held & set(roles)) if roles else bool(held)


def is_admin(user) -> bool:
    return has_role(user, ADMIN)


class RoleBackend(ModelBackend):
    """Model permissions as Django has them, plus: the Admin role holds every permission."""

    def has_perm(self, user_obj, perm, obj=None):
        if is_admin(user_obj):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if is_admin(user_obj):
            return True
        return super().has_module_perms(user_obj, app_label)


class RoleRequiredMixin(AccessMixin):
    """Class-based views: anonymous users go to the login page, users without a role get 403."""

    roles: tuple[str, ...] = STUDIO_ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, *self.roles):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class HasAnyRole(BasePermission):
    """API default: an authenticated, active user with at least one role."""

    def has_permission(self, request, view):
        roles = getattr(view, "required_roles", STUDIO_ROLES)
        return has_role(request.user, *roles)


def roles_context(request):
    roles = user_roles(getattr(request, "user", None))
    return {
        "user_roles": roles,
        "role_labels": [ROLE_LABELS[r] for r in ALL_ROLES if r in roles],
        "is_author": AUTHOR in roles,
        "is_reviewer": REVIEWER in roles,
        "is_engineer": ENGINEER in roles,
        "is_evaluator": EVALUATOR in roles,
        "is_admin_role": ADMIN in roles,
    }
