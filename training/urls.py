from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("", views.RunListView.as_view(), name="list"),
    path("new/", views.RunCreateView.as_view(), name="new"),
    path("compare/", views.RunCompareView.as_view(), name="compare"),
    path("<int:pk>/", views.RunDetailView.as_view(), name="detail"),
    path("<int:pk>/live/", views.RunLiveView.as_view(), name="live"),
    path("<int:pk>/metrics/", views.RunMetricsView.as_view(), name="metrics"),
    path("<int:pk>/log/", views.RunLogView.as_view(), name="log"),
    path("<int:pk>/cancel/", views.RunCancelView.as_view(), name="cancel"),
    path("<int:pk>/resume/", views.RunResumeView.as_view(), name="resume"),
    path(
        "<int:pk>/checkpoints/<int:ckpt_pk>/download/",
        views.CheckpointDownloadView.as_view(),
        name="checkpoint-download",
    ),
]
