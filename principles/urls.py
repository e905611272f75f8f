from django.urls import path

from . import views

app_name = "principles"

urlpatterns = [
    path("", views.PrincipleListView.as_view(), name="list"),
    path("new/", views.PrincipleCreateView.as_view(), name="create"),
    path("import/", views.PrincipleImportView.as_view(), name="import"),
    path("export/", views.PrincipleExportView.as_view(), name="export"),
    path("diff-preview/", views.DiffPreviewView.as_view(), name="diff-preview"),
    path("<int:pk>/", views.PrincipleDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.PrincipleEditView.as_view(), name="edit"),
    path("<int:pk>/diff/", views.PrincipleVersionDiffView.as_view(), name="diff"),
    path("<int:pk>/submit/", views.PrincipleTransitionView.as_view(action="submit"), name="submit"),
    path(
        "<int:pk>/approve/", views.PrincipleTransitionView.as_view(action="approve"), name="approve"
    ),
    path(
        "<int:pk>/send-back/",
        views.PrincipleTransitionView.as_view(action="send_back"),
        name="send-back",
    ),
    path("<int:pk>/retire/", views.PrincipleTransitionView.as_view(action="retire"), name="retire"),
]
