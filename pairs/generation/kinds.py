"""The job kinds of pair generation and the Celery task that runs each (``llm`` queue)."""

BACKTRANSLATION = "pairs.backtranslate"
CURATION = "pairs.curate"
NEGATIVES = "pairs.negatives"

TASKS = {
    BACKTRANSLATION: "llm.pairs_backtranslate",
    CURATION: "llm.pairs_curate",
    NEGATIVES: "llm.pairs_negatives",
}
