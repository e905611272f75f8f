"""The review screen (placeholder while it is built)."""

from django.http import HttpResponse
from django.views import View


class _Todo(View):
    def get(self, request, *args, **kwargs):
        return HttpResponse(status=501)


NextView = ReviewScreenView = DraftView = SubmitView = SkipView = _Todo
