"""The models of the pairs app: the corpus (texts, imports, spans, selections), the
instruction pairs made from it, and the preference pairs made from those."""

from .corpus import (
    CorpusImport,
    CorpusText,
    ImportFormat,
    ImportIssue,
    ImportStatus,
    NearDuplicateCluster,
    Selection,
    SelectionItem,
    TextSpan,
    Verdict,
)
from .instructions import (
    InstructionPair,
    PairImport,
    PairImportIssue,
    PairMark,
    PairOrigin,
    PairStatus,
)
from .preferences import JudgeVerdict, NegativeMode, PreferencePair, PreferenceStatus
from .review import (
    ACTIVE_STATES,
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    RejectReason,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)

__all__ = [
    "ACTIVE_STATES",
    "AggregationRule",
    "Decision",
    "ItemStatus",
    "PairRevision",
    "RejectReason",
    "Review",
    "ReviewItem",
    "ReviewQueue",
    "ReviewState",
    "CorpusImport",
    "CorpusText",
    "ImportFormat",
    "ImportIssue",
    "ImportStatus",
    "InstructionPair",
    "JudgeVerdict",
    "NegativeMode",
    "NearDuplicateCluster",
    "PairImport",
    "PairImportIssue",
    "PairMark",
    "PairOrigin",
    "PairStatus",
    "PreferencePair",
    "PreferenceStatus",
    "Selection",
    "SelectionItem",
    "TextSpan",
    "Verdict",
]
