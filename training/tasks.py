"""The ``gpu`` queue's task: train one run (see :mod:`training.supervisor`).

Acknowledged late and given back when its worker is lost; running it again does no harm: the
run's database lease lets only one worker train it, and a run already finished or held by a
live worker is left alone."""

from __future__ import annotations

import socket

from celery import shared_task

from .evaluation.tasks import *  # noqa: E402,F401,F403  (evaluation tasks: llm and gpu queues)

__all__ = ["train_run"]


@shared_task(bind=True, name="gpu.train", acks_late=True, reject_on_worker_lost=True)
def train_run(self, run_id: int) -> str:
    from .supervisor import training_run_execute

    worker = getattr(self.request, "hostname", None) or socket.gethostname()
    return training_run_execute(run_id=run_id, worker=worker)
