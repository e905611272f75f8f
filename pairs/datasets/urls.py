from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("", views.SnapshotListView.as_view(), name="list"),
    path("new/", views.SnapshotCreateView.as_view(), name="new"),
    path("count/", views.SnapshotCountView.as_view(), name="count"),
    path("<int:pk>/", views.SnapshotDetailView.as_view(), name="detail"),
    path("<int:pk>/compare/", views.SnapshotCompareView.as_view(), name="compare"),
    path("<int:pk>/exports/", views.ExportListView.as_view(), name="exports"),
    path("<int:pk>/exports/new/", views.ExportCreateView.as_view(), name="export-new"),
    path("exports/<int:pk>/files/<path:name>", views.ExportFileView.as_view(), name="export-file"),
]
