from rest_framework.routers import DefaultRouter

from pairs.api import (
    CorpusImportViewSet,
    CorpusTextViewSet,
    ScoringJobViewSet,
    SelectionViewSet,
    SelectionWriteViewSet,
)
from pairs.api_generation import (
    BacktranslationJobViewSet,
    CurationJobViewSet,
    KeepViewSet,
    NegativesJobViewSet,
)
from pairs.api_instructions import InstructionPairViewSet
from pairs.api_pair_import import PairImportViewSet
from pairs.api_preferences import PreferencePairViewSet
from pairs.datasets.api import DatasetExportViewSet, DatasetSnapshotViewSet
from pairs.review.api import (
    PrincipleFeedbackViewSet,
    ReviewItemViewSet,
    ReviewQueueViewSet,
    ReviewViewSet,
)
from training.api import TrainingRunViewSet
from training.evaluation.api import ROUTES as EVALUATION_ROUTES
from weaver_site.llm.api import EndpointViewSet, JobViewSet

from .fewshot import FewShotCaseViewSet
from .views import DomainViewSet, PrincipleViewSet, SubdomainViewSet, TaskViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("domains", DomainViewSet)
router.register("subdomains", SubdomainViewSet)
router.register("tasks", TaskViewSet)
router.register("principles", PrincipleViewSet, basename="principle")
router.register("fewshot-cases", FewShotCaseViewSet, basename="fewshot-case")
router.register("llm/endpoints", EndpointViewSet)
router.register("jobs", JobViewSet)
router.register("corpus/imports", CorpusImportViewSet, basename="corpus-import")
router.register("corpus/texts", CorpusTextViewSet, basename="corpus-text")
router.register("corpus/selections", SelectionViewSet, basename="corpus-selection")
router.register("corpus/new-selection", SelectionWriteViewSet, basename="corpus-new-selection")
router.register("corpus/scoring-jobs", ScoringJobViewSet, basename="corpus-scoring-job")
router.register("backtranslation-jobs", BacktranslationJobViewSet, basename="backtranslation-job")
router.register("curation-jobs", CurationJobViewSet, basename="curation-job")
router.register("negatives-jobs", NegativesJobViewSet, basename="negatives-job")
router.register("instruction-pairs-keep", KeepViewSet, basename="instruction-pairs-keep")
router.register("instruction-pairs", InstructionPairViewSet, basename="instruction-pair")
router.register("instruction-pair-imports", PairImportViewSet, basename="instruction-pair-import")
router.register("preference-pairs", PreferencePairViewSet, basename="preference-pair")
router.register("review-queues", ReviewQueueViewSet, basename="review-queue")
router.register("reviews", ReviewViewSet, basename="review")
router.register("review-items", ReviewItemViewSet, basename="review-item")
router.register("principle-feedback", PrincipleFeedbackViewSet, basename="principle-feedback")
router.register("datasets", DatasetSnapshotViewSet, basename="dataset")
router.register("dataset-exports", DatasetExportViewSet, basename="dataset-export")
router.register("training-runs", TrainingRunViewSet, basename="training-run")
for prefix, viewset, basename in EVALUATION_ROUTES:
    router.register(prefix, viewset, basename=basename)

urlpatterns = router.urls
