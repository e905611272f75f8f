"""Dataset pages (placeholder until the pages land)."""

from django.views.generic import TemplateView

from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin


class SnapshotListView(RoleRequiredMixin, TemplateView):
    roles = (ENGINEER, ADMIN)
    template_name = "base.html"
