"""An engineer freezes a DPO dataset in Chromium: the count of matching pairs follows the
filters as they are set, the snapshot's page opens, a JSONL export is written by a real Celery
worker while the page's exports table updates by itself, and the downloaded file holds the
snapshot's train rows."""

import json

import pytest
from playwright.sync_api import expect

from pairs.models import DatasetExport, DatasetSnapshot, ExportStatus, PreferenceStatus

from ..factories import make_approved, make_review_pairs

pytestmark = [pytest.mark.browser, pytest.mark.worker]

WORKER_TIMEOUT_MS = 120_000
EDIT_RATIO_MAX = 0.3


def accept(pairs):
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return pairs


def test_engineer_freezes_and_exports_a_dpo_dataset(
    page,
    login,
    author,
    admin_user,
    engineer,
    celery_worker_process,
    subprocess_env,
    settings,
    tmp_path,
):
    exports = tmp_path / "exports"
    settings.WEAVER_EXPORT_DIR = exports  # the live server's
    subprocess_env["WEAVER_EXPORT_DIR"] = str(exports)  # the worker's

    version = make_approved(author, admin_user, task="content_writing").approved_version
    small = accept(make_review_pairs(10, principle_version=version))
    large = accept(
        make_review_pairs(
            4, principle_version=version, rejected="Nothing of the scene is left in this one."
        )
    )
    accept(make_review_pairs(3, principle_version=version, language="zh"))
    make_review_pairs(2, principle_version=version)  # generated: not in a dataset by default
    expected = [
        p for p in small + large if p.language == "en" and p.metrics["edit_ratio"] <= EDIT_RATIO_MAX
    ]
    assert 0 < len(expected) < 14  # the filters below leave some pairs out

    login(engineer)
    page.goto("/")
    page.click("#nav-datasets")
    page.click("#new-dataset")
    count = page.locator("#dataset-count")
    expect(count).to_have_text("17")  # every accepted pair

    # The kind switches the filters shown; SFT counts kept instruction pairs (none here).
    page.get_by_label("SFT (instruction pairs)").check()
    expect(page.locator("#filters-sft")).to_be_visible()
    expect(page.locator("#filters-dpo")).to_be_hidden()
    expect(count).to_have_text("0")
    page.get_by_label("DPO (preference pairs)").check()
    expect(page.locator("#filters-dpo")).to_be_visible()
    expect(page.locator("#filters-sft")).to_be_hidden()
    expect(count).to_have_text("17")

    page.fill("#id_name", "writing-dpo")
    page.select_option("#id_languages", "en")
    expect(count).to_have_text("14")
    page.fill("#id_edit_ratio_max", str(EDIT_RATIO_MAX))
    page.locator("#id_edit_ratio_max").press("Tab")
    expect(count).to_have_text(str(len(expected)))
    page.fill("#id_test_fraction", "0.3")
    page.click("#freeze")

    snapshot = DatasetSnapshot.objects.get(name="writing-dpo")
    page.wait_for_url(f"**/datasets/{snapshot.pk}/")
    expect(page.locator(".messages")).to_contain_text("frozen")
    expect(page.locator("#snapshot-rows")).to_have_text(str(len(expected)))
    expect(page.locator("#snapshot-hash")).to_have_text(snapshot.content_hash)
    assert snapshot.row_count == len(expected)
    assert snapshot.train_count > 0

    # A JSONL export, written by the worker; the table updates without a reload.
    page.get_by_label("JSON Lines").check()
    page.click("#export-submit")
    export = DatasetExport.objects.get(snapshot=snapshot)
    row = page.locator(f"#export-{export.pk}")
    expect(row.locator(".export-status")).to_have_text("Queued")
    expect(page.locator("#exports-waiting")).to_be_visible()
    page.evaluate("window.__stayed = true")
    celery_worker_process(queues="default")  # only now: the page saw the export queued
    expect(row.locator(".export-status")).to_have_text("Done", timeout=WORKER_TIMEOUT_MS)
    assert page.evaluate("window.__stayed === true")  # the same page, not a reload
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    expect(page.locator("#exports-waiting")).to_have_count(0)

    with page.expect_download() as download_info:
        row.get_by_role("link", name="train.jsonl").click()
    download = download_info.value
    assert download.suggested_filename == "writing-dpo-v1-train.jsonl"
    lines = open(download.path(), encoding="utf-8").read().splitlines()  # noqa: SIM115
    assert len(lines) == snapshot.train_count
    rows = [json.loads(line) for line in lines]
    ids = {p.pk for p in expected}
    for r in rows:
        assert list(r)[:3] == ["prompt", "chosen", "rejected"]
        assert r["pair_id"] in ids
        assert r["language"] == "en"
        assert r["metrics"]["edit_ratio"] <= EDIT_RATIO_MAX
        assert r["review"]["status"] == "accepted"
