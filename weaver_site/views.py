from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from .roles import RoleRequiredMixin
from .selectors import health_report


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "weaver_site/home.html"

    def get_context_data(self, **kwargs):
        from principles.selectors import principle_dashboard_counts

        ctx = super().get_context_data(**kwargs)
        ctx["counts"] = principle_dashboard_counts(user=self.request.user)
        return ctx


class HealthPageView(RoleRequiredMixin, TemplateView):
    template_name = "weaver_site/health.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["report"] = health_report()
        return ctx
