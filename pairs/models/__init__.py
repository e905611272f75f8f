"""The models of the pairs app: the corpus (texts, imports, spans, selections) and the
instruction pairs made from it."""

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

__all__ = [
    "CorpusImport",
    "CorpusText",
    "ImportFormat",
    "ImportIssue",
    "ImportStatus",
    "InstructionPair",
    "NearDuplicateCluster",
    "PairImport",
    "PairImportIssue",
    "PairMark",
    "PairOrigin",
    "PairStatus",
    "Selection",
    "SelectionItem",
    "TextSpan",
    "Verdict",
]
