"""The blind human arena (``/arena/``), for Evaluators."""

from . import views_arena

app_name = "arena"

urlpatterns = views_arena.urlpatterns
