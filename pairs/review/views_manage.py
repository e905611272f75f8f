"""Queue management pages (placeholder while it is built)."""

from django.http import HttpResponse
from django.views import View


class _Todo(View):
    def get(self, request, *args, **kwargs):
        return HttpResponse(status=501)


QueueListView = QueueCreateView = QueueDetailView = QueueEditView = QueueGoldView = _Todo
AgreementView = ConflictListView = AdjudicateView = FeedbackView = _Todo
