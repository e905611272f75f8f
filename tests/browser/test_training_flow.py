"""An engineer starts a DPO run from the browser and cancels it while it trains: a real Celery
worker on the ``gpu`` queue trains the tiny model on the CPU, the run page follows its steps and
curves without a reload, and after Cancel (confirmed in the dialog) the page shows the run
cancelled within 30 s, again without a reload; the run keeps a checkpoint on disk."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from training.models import RunCheckpoint, RunStatus, TrainingRun

from ..factories import dpo_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.training]

START_TIMEOUT_MS = 240_000  # the worker starts, writes the data and loads the model
CANCEL_TIMEOUT_MS = 30_000
PLANNED_STEPS = 3000


def test_engineer_starts_and_cancels_a_dpo_run(
    page,
    login,
    engineer,
    author,
    admin_user,
    tiny_model,
    worker_env,
    celery_worker_process,
):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=32)

    login(engineer)
    page.goto("/")
    page.click("#nav-training")
    page.click("#new-run")
    expect(page.locator("#id_beta")).to_have_value("0.1")
    page.fill("#id_name", "cancel me")
    page.check("input[name=kind][value=dpo]")
    page.select_option("#id_snapshot", str(snapshot.pk))
    page.fill("#id_base_model", str(tiny_model))
    page.fill("#id_gpus", "0")
    page.fill("#id_max_steps", str(PLANNED_STEPS))
    page.fill("#id_save_steps", "20")
    page.fill("#id_per_device_batch_size", "2")
    page.fill("#id_learning_rate", "1e-4")
    page.click("#create-run")

    page.wait_for_url("**/training/*/")
    run = TrainingRun.objects.get(name="cancel me")
    assert page.url.endswith(f"/training/{run.pk}/")
    expect(page.locator(".messages")).to_contain_text("queued")
    expect(page.locator("#run-status")).to_have_text("Queued")
    assert run.hyperparameters["max_steps"] == PLANNED_STEPS
    assert run.hyperparameters["learning_rate"] == 1e-4
    page.evaluate("window.__stayed = true")

    worker = celery_worker_process("gpu", name="gpu1")  # only now: the page saw it queued
    try:
        page.wait_for_function(
            "() => { const p = document.getElementById('run-progress-text');"
            " return p && parseInt(p.dataset.step, 10) > 0; }",
            timeout=START_TIMEOUT_MS,
        )
    except Exception:
        run.refresh_from_db()
        log = Path(worker.log_path).read_text()[-3000:]
        raise AssertionError(f"no step shown; run {run.status}: {run.error}\n{log}") from None
    expect(page.locator("#run-status")).to_have_text("Running")
    expect(page.locator("#run-progress-text")).to_contain_text(f"of {PLANNED_STEPS}")
    # The loss curve is drawn from the polled metrics.
    expect(page.locator("#chart-loss svg .line, #chart-loss svg .dot").first).to_be_attached()
    assert page.evaluate("window.__stayed === true")  # the same page, not a reload

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-run")
    expect(page.locator("#run-status")).to_have_text("Cancelled", timeout=CANCEL_TIMEOUT_MS)
    assert page.evaluate("window.__stayed === true")
    expect(page.locator("#resume-run")).to_be_visible()
    expect(page.locator("#cancel-run")).to_have_count(0)

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert 0 < run.step < PLANNED_STEPS
    kept = [c for c in RunCheckpoint.objects.filter(run=run) if Path(c.path).is_dir()]
    assert kept, "no checkpoint on disk"
    # The checkpoints table shows them, with a download link.
    expect(page.locator("#checkpoints-table .checkpoint-download a").first).to_be_visible()
