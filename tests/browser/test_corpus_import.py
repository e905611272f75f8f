"""An engineer imports the sample corpora through the browser, with a real Celery worker."""

import json
from pathlib import Path

from playwright.sync_api import expect

from pairs.models import CorpusImport, CorpusText, ImportStatus

from ..conftest import SHARED_CORPUS, SHARED_CORPUS_MAPPING

CORPUS = SHARED_CORPUS
ZH, EN = CORPUS / "zh.jsonl", CORPUS / "en.jsonl"
MAPPING = SHARED_CORPUS_MAPPING
IMPORT_TIMEOUT_MS = 120_000


def _import_through_the_browser(page, path: Path, name: str) -> CorpusImport:
    page.goto("/corpus/imports/")
    page.get_by_role("link", name="New import").click()
    page.set_input_files("#id_file", str(path))
    page.select_option("#id_format", "jsonl")
    page.fill("#id_name", name)
    page.get_by_role("button", name="Upload").click()
    # The mapping page previews the file: its fields and first rows.
    preview = page.locator("#preview")
    expect(preview.locator("thead th")).to_have_count(8)
    expect(preview.locator("tbody tr")).to_have_count(5)
    for target, source in MAPPING.items():
        page.select_option(f"#id_map_{target}", source)
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#import-progress")).to_be_attached()
    expect(page.locator("#import-status")).to_have_text("Done", timeout=IMPORT_TIMEOUT_MS)
    return CorpusImport.objects.get(name=name)


def _expect_counts(page, *, imported, duplicates, errors, read):
    expect(page.locator("#count-imported")).to_have_text(str(imported))
    expect(page.locator("#count-duplicates")).to_have_text(str(duplicates))
    expect(page.locator("#count-errors")).to_have_text(str(errors))
    expect(page.locator("#count-read")).to_have_text(str(read))
    expect(page.locator("#import-progress")).to_have_attribute("value", "100.0")


def test_engineer_imports_the_sample_corpora(
    page, login, engineer, celery_worker_process, tmp_path
):
    celery_worker_process(queues="default")
    login(engineer)

    zh = _import_through_the_browser(page, ZH, "Chinese sample")
    _expect_counts(page, imported=267, duplicates=0, errors=0, read=267)
    expect(page.locator("#import-issues tbody")).to_contain_text("No row was refused.")
    assert CorpusText.objects.filter(corpus_import=zh, language="zh").count() == 267
    assert CorpusText.objects.filter(corpus_import=zh, domain__isnull=True).count() == 0

    en = _import_through_the_browser(page, EN, "English sample")
    _expect_counts(page, imported=238, duplicates=0, errors=0, read=238)
    assert CorpusText.objects.filter(corpus_import=en, language="en").count() == 238

    # A copy whose texts are all new (each one changed), with line 7 broken: the other 237
    # lines are imported and line 7 is reported with its reason.
    lines = EN.read_text(encoding="utf-8").splitlines()
    changed = []
    for number, line in enumerate(lines, start=1):
        if number == 7:
            changed.append("{not json")
            continue
        row = json.loads(line)
        row["id"] = f"{row['id']}-copy"
        row["text"] = f"{row['text']}\n\n(Second printing, copy {number}.)"
        changed.append(json.dumps(row, ensure_ascii=False))
    broken = tmp_path / "en-broken.jsonl"
    broken.write_text("\n".join(changed) + "\n", encoding="utf-8")

    bad = _import_through_the_browser(page, broken, "English with a broken line")
    expect(page.locator("#count-imported")).to_have_text("237")
    expect(page.locator("#count-errors")).to_have_text("1")
    rows = page.locator("#import-issues tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.issue-line")).to_have_text("7")
    issue = bad.issues.get()
    assert issue.line == 7 and issue.reason
    expect(rows.first).to_contain_text(issue.reason)
    expect(rows.first).to_contain_text("{not json")
    assert CorpusText.objects.filter(corpus_import=bad).count() == 237
    assert CorpusText.objects.count() == 267 + 238 + 237

    # The imports list and the corpus browser show them.
    page.goto("/corpus/imports/")
    expect(page.locator("#imports tbody tr")).to_have_count(3)
    page.goto(f"/corpus/?import={zh.pk}&q=鲁迅")
    expect(page.locator("#result-count")).to_contain_text("texts")
    assert zh.status == ImportStatus.DONE or CorpusImport.objects.get(pk=zh.pk).status == "done"
