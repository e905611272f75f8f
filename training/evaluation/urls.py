"""Pages of evaluation (``/evaluation/``): benchmarks, evaluations, leaderboards."""

from . import views_benchmarks, views_evaluations

app_name = "evaluation"

urlpatterns = [*views_benchmarks.urlpatterns, *views_evaluations.urlpatterns]
