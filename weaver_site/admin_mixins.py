"""Admin building blocks shared by the apps."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as confirm_delete_selected
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst


def refusal(exc: Exception) -> str:
    """What a service said when it refused: its messages, joined."""
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def pretty_json(value) -> str:
    """A JSON value as indented, escaped HTML for a read-only admin field."""
    return format_html(
        "<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    )


class ServiceDeleteMixin:
    """Deletes through a service (``delete_through``): Django's confirmation page, then each
    object through it; a refusal is a message naming the object and why, not an error
    page."""

    def delete_through(self, request, obj) -> None:
        """Delete ``obj`` through its service; raise PermissionDenied or ValidationError to
        refuse. Each admin that uses the mixin defines it."""
        raise NotImplementedError

    def deleted_message(self, n: int) -> str:
        """The message after ``n`` objects were deleted. Each admin defines it."""
        raise NotImplementedError

    @admin.action(description=confirm_delete_selected.short_description, permissions=["delete"])
    def delete_selected(self, request, queryset):
        if not request.POST.get("post"):
            return confirm_delete_selected(self, request, queryset)
        deleted = self._delete_each(request, list(queryset))
        if deleted:
            self.message_user(request, self.deleted_message(deleted), messages.SUCCESS)
        return None

    def _delete_each(self, request, objs) -> int:
        deleted = 0
        for obj in objs:
            label = str(obj)
            try:
                with transaction.atomic():
                    self.log_deletions(request, [obj])
                    self.delete_through(request, obj)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{label}: {refusal(exc)}", messages.ERROR)
            else:
                deleted += 1
        return deleted

    def delete_model(self, request, obj):
        # The delete view logged the deletion inside its transaction: a refusal rolls that
        # back and is told on the object's page.
        try:
            self.delete_through(request, obj)
        except (PermissionDenied, ValidationError) as exc:
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)
            request._service_delete_refused = True
            self.message_user(request, refusal(exc), messages.ERROR)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_service_delete_refused", False):
            opts = self.opts
            name = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change"
            return HttpResponseRedirect(reverse(name, args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request, queryset):
        self._delete_each(request, list(queryset))

    def get_deleted_objects(self, objs, request):
        """What a delete removes, as the service sees it: the objects themselves (with what
        goes with them counted, not listed); whether something keeps them is the service's
        answer, given as a message, instead of Django's "protected" page."""
        objs = list(objs)
        opts = self.model._meta
        listed = [f"{capfirst(opts.verbose_name)}: {obj}" for obj in objs]
        counts = {opts.verbose_name_plural: len(objs)}
        for label, n in self.deleted_with(objs):
            if n:
                counts[label] = n
                listed.append(f"{capfirst(label)}: {n}")
        return listed, counts, set(), []

    def deleted_with(self, objs) -> list[tuple[str, int]]:
        return []
