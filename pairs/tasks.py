"""Celery discovers ``pairs.tasks``; the corpus tasks live beside the code they call."""

from pairs.corpus.cleaning_tasks import *  # noqa: F401,F403
from pairs.corpus.import_tasks import *  # noqa: F401,F403
from pairs.corpus.scoring_tasks import *  # noqa: F401,F403
from pairs.datasets.tasks import *  # noqa: F401,F403
from pairs.generation.tasks import *  # noqa: F401,F403
from pairs.review.tasks import *  # noqa: F401,F403
