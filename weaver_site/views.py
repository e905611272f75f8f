from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.views.generic import TemplateView

from .roles import ADMIN, AUTHOR, EVALUATOR, REVIEWER, RoleRequiredMixin, has_role, user_roles
from .selectors import health_report


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "weaver_site/home.html"

    def get(self, request, *args, **kwargs):
        if user_roles(request.user) == {EVALUATOR}:  # the arena is all an Evaluator may use
            return redirect("arena:home")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        from principles.selectors import principle_dashboard_counts

        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        ctx["counts"] = principle_dashboard_counts(user=user)
        if has_role(user, AUTHOR):
            from pairs.review.views_manage import flagged_feedback

            ctx["flagged_principles"] = flagged_feedback(owner=user)
        if has_role(user, REVIEWER, ADMIN):
            from pairs.models import ReviewQueue
            from pairs.review.selectors import REMAINING_CAP, queues_with_counts

            ctx["my_queues"] = list(
                queues_with_counts(
                    ReviewQueue.objects.filter(reviewers=user, is_active=True),
                    user=user,
                    totals=False,
                ).order_by("-created_at", "-id")
            )
            ctx["remaining_cap"] = REMAINING_CAP
        return ctx


class HealthPageView(RoleRequiredMixin, TemplateView):
    template_name = "weaver_site/health.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["report"] = health_report()
        return ctx
