from django.urls import path

from . import views, views_fewshot

app_name = "principles"

urlpatterns = [
    path("", views.PrincipleListView.as_view(), name="list"),
    path("new/", views.PrincipleCreateView.as_view(), name="create"),
    path("import/", views.PrincipleImportView.as_view(), name="import"),
    path("export/", views.PrincipleExportView.as_view(), name="export"),
    path("diff-preview/", views.DiffPreviewView.as_view(), name="diff-preview"),
    path("fewshot/", views_fewshot.FewShotListView.as_view(), name="fewshot-list"),
    path("fewshot/new/", views_fewshot.FewShotCreateView.as_view(), name="fewshot-create"),
    path("fewshot/<int:pk>/", views_fewshot.FewShotDetailView.as_view(), name="fewshot-detail"),
    path("fewshot/<int:pk>/edit/", views_fewshot.FewShotEditView.as_view(), name="fewshot-edit"),
    path(
        "fewshot/<int:pk>/retire/", views_fewshot.FewShotRetireView.as_view(), name="fewshot-retire"
    ),
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
