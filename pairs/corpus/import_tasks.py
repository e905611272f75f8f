"""Celery task of corpus imports (``default`` queue)."""

from celery import shared_task

__all__ = ["run_import"]


@shared_task(name="corpus.import", acks_late=True, reject_on_worker_lost=True)
def run_import(import_id: int) -> None:
    """Run (or resume) one corpus import; a second delivery does no harm."""
    from pairs.corpus.importer import corpus_import_run
    from pairs.models import CorpusImport

    corpus_import = CorpusImport.objects.filter(pk=import_id).first()
    if corpus_import is None:
        return
    corpus_import = corpus_import_run(corpus_import=corpus_import)
    if corpus_import.status == "done":
        # Then the texts are checked, cut into spans and compared with the corpus.
        from pairs.corpus.cleaning_tasks import run_prepare

        run_prepare.delay(import_id)
