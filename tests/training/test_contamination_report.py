"""Acceptance: a benchmark instruction copied into a training snapshot is reported as
contamination. A real SFT snapshot (frozen by the dataset services) holds one benchmark
instruction copied exactly (case and spacing changed) and another lightly edited with a text
appended; the report lists exactly those two with the right ids, is stored once for a frozen
benchmark, and the contamination page shows it (escaped)."""

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from pairs.models import DatasetRow, DatasetSnapshot, SnapshotStatus
from training.evaluation import benchmarks as svc
from training.models import ContaminationReport

from ..factories import make_instruction_pair, sft_snapshot

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
COPIED = f"Write a letter from a lighthouse keeper to the sea {XSS}, in twelve short lines."
EDITED = "Describe the smell of rain on a city street in late summer for a travel magazine."
CLEAN = "Compose a product description for a hand-made walnut chess set with brass hinges."
ZH = "写一个关于灯塔看守人在瓶子里发现一封信的短篇故事。"


def contaminated_snapshot(engineer):
    """An SFT snapshot whose prompts include COPIED (exactly, once normalised) and EDITED
    (lightly edited, with a text to work on appended), among unrelated ones."""
    make_instruction_pair(
        instruction="  WRITE a letter from a lighthouse keeper to the SEA "
        f"{XSS},   in twelve short lines. ",
        response="Dear sea, …",
        status="kept",
    )
    make_instruction_pair(
        instruction="Describe the smell of rain on a city street in late summer for a travel blog.",
        context="Keep it under a hundred words.",
        response="Petrichor rises …",
        status="kept",
    )
    return sft_snapshot(engineer, n=8, name="contaminated")  # + "Write line k about the sea."


def frozen_benchmark(engineer):
    b = svc.benchmark_create(name="writebench", created_by=engineer)
    for key, text, language in (
        ("copied-1", COPIED, "en"),
        ("edited-1", EDITED, "en"),
        ("clean-1", CLEAN, "en"),
        ("clean-zh", ZH, "zh"),
    ):
        svc.benchmark_item_save(
            benchmark=b, key=key, instruction=text, language=language, domain="fiction"
        )
    return svc.benchmark_freeze(benchmark=b, user=engineer)


def rows_by_prompt(snapshot):
    import json

    return {
        json.loads(r.data)["prompt"]: r
        for r in DatasetRow.objects.filter(snapshot=snapshot).order_by("position")
    }


def test_a_copied_benchmark_instruction_is_reported_as_contamination(engineer):
    snapshot = contaminated_snapshot(engineer)
    assert snapshot.status == SnapshotStatus.READY and snapshot.row_count == 10
    benchmark = frozen_benchmark(engineer)

    report = svc.contamination_report_get(benchmark=benchmark, snapshot=snapshot)

    assert report.pk is not None and report.threshold == 0.7
    by_key = {m["instruction"]: m for m in report.matches}
    assert sorted(by_key) == ["copied-1", "edited-1"]  # nothing else, clean ones untouched
    assert len(report.matches) == 2
    assert (report.exact, report.near, report.instructions) == (1, 1, 2)
    rows = rows_by_prompt(snapshot)
    exact, near = by_key["copied-1"], by_key["edited-1"]
    exact_row = next(r for p, r in rows.items() if p.startswith("WRITE a letter"))
    near_row = next(r for p, r in rows.items() if p.startswith("Describe the smell"))
    assert exact["kind"] == "exact" and exact["containment"] == 1.0
    assert (exact["position"], exact["split"], exact["pair_id"]) == (
        exact_row.position,
        exact_row.split,
        exact_row.pair_id,
    )
    assert exact["text"] == COPIED and exact["prompt"].startswith("WRITE a letter")
    assert near["kind"] == "near" and 0.7 <= near["containment"] < 1
    assert (near["position"], near["pair_id"]) == (near_row.position, near_row.pair_id)
    assert near["text"] == EDITED
    assert near["prompt"].endswith("Keep it under a hundred words.")


def test_the_report_is_computed_once_for_a_frozen_benchmark(engineer):
    snapshot = contaminated_snapshot(engineer)
    benchmark = frozen_benchmark(engineer)
    first = svc.contamination_report_get(benchmark=benchmark, snapshot=snapshot)
    DatasetRow.objects.filter(snapshot=snapshot).delete()  # a recomputation would find nothing
    again = svc.contamination_report_get(benchmark=benchmark, snapshot=snapshot)
    assert again.pk == first.pk and again.matches == first.matches and again.exact == 1
    assert ContaminationReport.objects.count() == 1
    # Another threshold is another report.
    strict = svc.contamination_report_get(benchmark=benchmark, snapshot=snapshot, threshold=0.95)
    assert strict.pk != first.pk and strict.matches == []
    assert ContaminationReport.objects.count() == 2


def test_a_drafts_report_is_computed_but_not_kept(engineer):
    snapshot = contaminated_snapshot(engineer)
    draft = svc.benchmark_create(name="draft")
    svc.benchmark_item_save(benchmark=draft, key="e", instruction=EDITED, language="en")
    report = svc.contamination_report_get(benchmark=draft, snapshot=snapshot)
    assert report.pk is None
    assert [(m["instruction"], m["kind"]) for m in report.matches] == [("e", "near")]
    assert ContaminationReport.objects.count() == 0


def test_bad_threshold_and_unready_snapshot_are_refused(engineer):
    benchmark = frozen_benchmark(engineer)
    building = DatasetSnapshot.objects.create(
        name="b", version=1, kind="sft", status=SnapshotStatus.BUILDING
    )
    with pytest.raises(ValidationError) as exc:
        svc.contamination_report_get(benchmark=benchmark, snapshot=building, threshold=0)
    assert set(exc.value.message_dict) == {"snapshot", "threshold"}
    assert ContaminationReport.objects.count() == 0


def test_the_contamination_page_shows_the_matches_escaped(client_for, engineer):
    snapshot = contaminated_snapshot(engineer)
    benchmark = frozen_benchmark(engineer)
    page = reverse("evaluation:benchmark-contamination", args=[benchmark.pk])
    c = client_for(engineer)

    blank = c.get(page)
    assert blank.status_code == 200
    assert f'<option value="{snapshot.pk}">' in blank.content.decode()
    assert 'id="report"' not in blank.content.decode()

    response = c.get(page, {"snapshot": snapshot.pk, "threshold": "0.7"})
    assert response.status_code == 200
    body = response.content.decode()
    assert XSS not in body
    assert html.escape(COPIED) in body
    assert 'id="report-exact">1<' in body and 'id="report-near">1<' in body
    assert 'id="report-instructions">2<' in body
    assert body.count('class="match match-exact"') == 1
    assert body.count('class="match match-near"') == 1
    assert '<code class="match-key">copied-1</code>' in body
    assert '<code class="match-key">edited-1</code>' in body
    assert "clean-1" not in body and "clean-zh" not in body
    assert "100%" in body
    assert html.escape("WRITE a letter from a lighthouse keeper to the SEA") in body
    assert ContaminationReport.objects.count() == 1

    bad = c.get(page, {"snapshot": "999999", "threshold": "2"})
    assert bad.status_code == 400
    assert 'id="report"' not in bad.content.decode()
