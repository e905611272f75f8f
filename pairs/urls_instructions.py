from django.urls import path

from . import views_backtranslation, views_instructions, views_pair_import

app_name = "instructions"

urlpatterns = [
    path("", views_instructions.InstructionPairBrowserView.as_view(), name="browser"),
    path("<int:pk>/", views_instructions.InstructionPairDetailView.as_view(), name="detail"),
    path("<int:pk>/mark/", views_instructions.InstructionPairMarkView.as_view(), name="mark"),
    path("import/", views_pair_import.PairImportView.as_view(), name="import"),
    path(
        "imports/<int:pk>/", views_pair_import.PairImportDetailView.as_view(), name="import-detail"
    ),
    path(
        "backtranslate/",
        views_backtranslation.BacktranslationStartView.as_view(),
        name="backtranslate",
    ),
    path("curate/", views_backtranslation.CurationStartView.as_view(), name="curate"),
    path("keep/", views_backtranslation.KeepView.as_view(), name="keep"),
]
