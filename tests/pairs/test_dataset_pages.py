"""Dataset pages: who may see them, making a snapshot from the form (with the live count and
the services' errors on the fields), a snapshot's page (statistics, escaped rows, versions,
polling), exports and their files, and comparing two snapshots."""

import html
import json
import re

import pytest
from django.urls import reverse

from pairs.datasets import services
from pairs.models import (
    DatasetExport,
    DatasetSnapshot,
    ExportStatus,
    PairStatus,
    PreferenceStatus,
    SnapshotStatus,
)

from ..factories import make_approved, make_instruction_pair, make_review_pairs

pytestmark = pytest.mark.django_db

LIST = reverse("datasets:list")
NEW = reverse("datasets:new")
COUNT = reverse("datasets:count")
XSS = "<script>alert('x')</script>"


def detail_url(snapshot):
    return reverse("datasets:detail", args=[snapshot.pk])


def text_of(content: bytes, element_id: str) -> str:
    """The text inside the element with ``id`` (tags removed, entities decoded)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', content.decode(), re.S)
    assert match, f"no element #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def accept(pairs):
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return pairs


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def accepted(version):
    return accept(make_review_pairs(12, principle_version=version))


@pytest.fixture
def exports_dir(settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"
    return settings.WEAVER_EXPORT_DIR


def form_data(**overrides) -> dict:
    data = {"name": "writing-dpo", "kind": "dpo", "test_fraction": "0.25", "split_seed": ""}
    data.update(overrides)
    return data


def freeze(user, **kwargs):
    kwargs.setdefault("name", "writing-dpo")
    kwargs.setdefault("kind", "dpo")
    return services.dataset_snapshot_create(created_by=user, **kwargs)


# --- Who may see what -----------------------------------------------------------------------


def test_only_engineers_and_admins_see_the_dataset_pages(
    client, client_for, engineer, admin_user, reviewer, author, accepted, exports_dir
):
    snapshot = freeze(engineer)
    export = services.dataset_export_create(snapshot=snapshot, created_by=engineer, format="jsonl")
    services.dataset_export_run(export=export, worker="t")
    pages = [
        LIST,
        NEW,
        f"{NEW}?from={snapshot.pk}",
        COUNT + "?kind=dpo",
        detail_url(snapshot),
        reverse("datasets:compare", args=[snapshot.pk]),
        reverse("datasets:exports", args=[snapshot.pk]),
        reverse("datasets:export-file", args=[export.pk, "train.jsonl"]),
    ]
    posts = [
        (NEW, form_data(name="other")),
        (detail_url(snapshot), {"action": "new_version"}),
        (reverse("datasets:export-new", args=[snapshot.pk]), {"format": "jsonl"}),
    ]
    for user in (reviewer, author):
        c = client_for(user)
        for url in pages:
            assert c.get(url).status_code == 403, (user, url)
        for url, data in posts:
            assert c.post(url, data).status_code == 403, (user, url)
        assert 'id="nav-datasets"' not in c.get("/").content.decode()
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert DatasetSnapshot.objects.count() == 1
    assert DatasetExport.objects.count() == 1
    for user in (engineer, admin_user):
        c = client_for(user)
        for url in pages:
            assert c.get(url).status_code == 200, (user, url)
        assert 'id="nav-datasets"' in c.get(LIST).content.decode()


# --- A new snapshot -------------------------------------------------------------------------


def test_engineer_freezes_a_dpo_dataset_from_the_form(client_for, engineer, accepted, version):
    accept(make_review_pairs(3, principle_version=version, language="zh"))
    make_review_pairs(2, principle_version=version)  # generated, not accepted
    c = client_for(engineer)
    page = c.get(NEW)
    assert page.status_code == 200
    assert text_of(page.content, "dataset-count") == "15"  # accepted, by default
    assert 'hx-get="/datasets/count/"' in page.content.decode()

    response = c.post(NEW, form_data(languages=["zh"], description="Chinese only"))
    snapshot = DatasetSnapshot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(snapshot)
    assert snapshot.status == SnapshotStatus.READY
    assert snapshot.row_count == 3
    assert snapshot.kind == "dpo" and snapshot.test_fraction == 0.25
    assert snapshot.filters["languages"] == ["zh"]
    assert snapshot.filters["statuses"] == ["accepted"]
    assert snapshot.created_by == engineer
    page = c.get(response["Location"])
    assert "frozen: 3 rows" in html.unescape(page.content.decode())


def test_the_count_follows_the_filters(client_for, engineer, accepted, version):
    accept(make_review_pairs(3, principle_version=version, language="zh"))
    c = client_for(engineer)

    def count(**params):
        response = c.get(COUNT, {"kind": "dpo", **params}, headers={"HX-Request": "true"})
        assert response.status_code == 200
        return text_of(response.content, "dataset-count")

    assert count() == "15"
    assert count(languages="zh") == "3"
    assert count(languages="en", dpo_statuses=["accepted", "generated"]) == "12"
    assert count(edit_ratio_min="0.99") == "0"
    assert count(min_reviews="1") == "0"  # no review was submitted
    # Filters of the other kind do not count, even when they would be errors.
    assert count(curation_min="abc", origins="nonsense") == "15"
    # A bad filter of this kind: the error, not a number.
    response = c.get(COUNT, {"kind": "dpo", "min_agreement": "2"})
    assert "dataset-count-error" in response.content.decode()
    assert 'dataset-count"' not in response.content.decode()


def test_sft_dataset_filters_and_count(client_for, engineer):
    for score in (3, 8, 9):
        make_instruction_pair(
            instruction=f"Write a scene scored {score}.",
            status=PairStatus.KEPT,
            curation_score=score,
        )
    make_instruction_pair(instruction="Not kept.", curation_score=9)
    c = client_for(engineer)
    response = c.get(COUNT, {"kind": "sft"})
    assert text_of(response.content, "dataset-count") == "3"
    response = c.get(COUNT, {"kind": "sft", "curation_min": "8"})
    assert text_of(response.content, "dataset-count") == "2"
    response = c.get(COUNT, {"kind": "sft", "sft_statuses": ["kept", "generated"]})
    assert text_of(response.content, "dataset-count") == "4"

    response = c.post(NEW, form_data(name="writing-sft", kind="sft", curation_min="8"))
    snapshot = DatasetSnapshot.objects.get(name="writing-sft")
    assert response.status_code == 302
    assert snapshot.kind == "sft" and snapshot.row_count == 2
    assert snapshot.filters["curation_score"] == [8, None]
    page = c.get(detail_url(snapshot)).content.decode()
    assert 'id="figure-curation_score"' in page and 'id="figure-prompt_length"' in page
    assert 'id="figure-edit_ratio"' not in page
    assert "row-completion" in page

    # curation bounds the wrong way round: the service's error on the field.
    response = c.post(
        NEW, form_data(name="writing-sft", kind="sft", curation_min="9", curation_max="3")
    )
    assert response.status_code == 400
    assert "curation_min" in response.context["form"].errors


def test_form_errors_name_the_field(client_for, engineer, accepted):
    c = client_for(engineer)
    response = c.post(NEW, form_data(test_fraction="1"))
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["test_fraction"]
    assert "Expected a number from 0 up to 1" in response.content.decode()

    response = c.post(NEW, form_data(edit_ratio_min="0.8", edit_ratio_max="0.2"))
    assert response.status_code == 400
    assert "edit_ratio_min" in response.context["form"].errors
    assert text_of(response.content, "range-edit_ratio-errors") == (
        "The minimum is above the maximum."
    )

    response = c.post(NEW, form_data(min_agreement="1.5"))
    assert response.status_code == 400
    assert "min_agreement" in response.context["form"].errors

    response = c.post(NEW, form_data(name=""))
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert DatasetSnapshot.objects.count() == 0

    freeze(engineer, name="taken")
    response = c.post(NEW, form_data(name="taken", kind="sft"))
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert "holds dpo data" in response.content.decode()
    assert DatasetSnapshot.objects.count() == 1


def test_new_version_prefilled_from_a_snapshot_and_frozen_again(
    client_for, engineer, accepted, version
):
    snapshot = freeze(engineer, filters={"languages": ["en"], "min_agreement": None})
    c = client_for(engineer)
    page = c.get(f"{NEW}?from={snapshot.pk}")
    form = page.context["form"]
    assert form.initial["name"] == "writing-dpo"
    assert form.initial["languages"] == ["en"]
    assert 'id="from-snapshot"' in page.content.decode()
    assert text_of(page.content, "dataset-count") == "12"
    assert c.get(f"{NEW}?from=999999").status_code == 404

    # "Freeze a new version": same filters, now, as v2.
    accept(make_review_pairs(2, principle_version=version))
    response = c.post(detail_url(snapshot), {"action": "new_version"})
    v2 = DatasetSnapshot.objects.get(name="writing-dpo", version=2)
    assert response["Location"] == detail_url(v2)
    assert v2.row_count == 14 and v2.filters == snapshot.filters
    page = c.get(detail_url(v2)).content.decode()
    assert f'id="version-{snapshot.pk}"' in page and f'id="version-{v2.pk}"' in page
    assert reverse("datasets:compare", args=[v2.pk]) in page


def test_a_large_snapshot_is_left_to_a_worker_and_its_page_polls(
    client_for, engineer, accepted, settings
):
    settings.WEAVER_DATASET_SYNC_FREEZE_MAX = 5
    c = client_for(engineer)
    response = c.post(NEW, form_data(), follow=True)
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.BUILDING
    page = response.content.decode()
    assert "being frozen by a worker" in html.unescape(page)
    assert 'id="snapshot-live" hx-get' in page and 'hx-trigger="every 2s"' in page
    services.dataset_snapshot_freeze(snapshot=snapshot)
    page = c.get(detail_url(snapshot)).content.decode()
    assert 'hx-trigger="every 2s"' not in page
    assert text_of(page.encode(), "snapshot-rows") == "12"


# --- A snapshot's page ----------------------------------------------------------------------


def test_detail_shows_statistics_and_escapes_the_rows(client_for, engineer, version):
    pairs = accept(make_review_pairs(4, principle_version=version))
    pairs[0].instruction = f"Write {XSS} now."
    pairs[0].chosen = f"Chosen {XSS}"
    pairs[0].save(update_fields=["instruction", "chosen"])
    snapshot = freeze(engineer, description=f"About {XSS}", split_seed="s1")
    page = client_for(engineer).get(detail_url(snapshot))
    content = page.content.decode()
    assert XSS not in content
    assert (
        html.escape(XSS) in content
        or "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content
    )
    assert text_of(page.content, "snapshot-hash") == snapshot.content_hash
    assert text_of(page.content, "snapshot-rows") == "4"
    assert text_of(page.content, "snapshot-train") == str(snapshot.train_count)
    assert text_of(page.content, "split-seed") == "s1"
    for table in ("split", "domain", "task", "language", "principle", "licence"):
        assert f'id="counts-{table}"' in content, table
    for chart in ("edit_ratio", "char_similarity", "prompt_length"):
        assert f'id="figure-{chart}"' in content, chart
    assert content.count('<svg class="histogram"') == 3
    assert content.count('class="row-preview"') == 4
    assert "Pair statuses" in content and "Accepted" in content
    # The export form, and no Hub fields without a token.
    assert 'id="export-form"' in content and "hub_repo" not in content


def test_hub_fields_only_with_a_token(client_for, engineer, accepted, settings):
    snapshot = freeze(engineer)
    settings.WEAVER_HF_TOKEN = "hf_secret_token"
    content = client_for(engineer).get(detail_url(snapshot)).content.decode()
    assert 'name="hub_repo"' in content and 'name="hub_private"' in content
    assert "hf_secret_token" not in content


def test_list_groups_the_versions_of_a_name(client_for, engineer, accepted):
    a1 = freeze(engineer, name="alpha")
    b1 = freeze(engineer, name="beta")
    a2 = freeze(engineer, name="alpha")
    content = client_for(engineer).get(LIST).content.decode()
    order = [content.index(f'id="snapshot-{s.pk}"') for s in (a2, a1, b1)]
    assert order == sorted(order)  # alpha (latest made) v2, v1, then beta
    assert content.count('class="dataset-group"') == 2
    assert a1.content_hash[:12] in content


# --- Exports --------------------------------------------------------------------------------


def test_export_from_the_page_and_download_its_files(client_for, engineer, accepted, exports_dir):
    snapshot = freeze(engineer, test_fraction=0.25)
    c = client_for(engineer)
    response = c.post(
        reverse("datasets:export-new", args=[snapshot.pk]),
        {"format": "jsonl", "layout": "standard", "include_metadata": "on"},
    )
    export = DatasetExport.objects.get()
    assert response.status_code == 302
    assert export.status == ExportStatus.QUEUED and export.format == "jsonl"
    partial = c.get(reverse("datasets:exports", args=[snapshot.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in partial and f'id="export-{export.pk}"' in partial

    services.dataset_export_run(export=export, worker="t")
    partial = c.get(reverse("datasets:exports", args=[snapshot.pk])).content.decode()
    assert 'hx-trigger="every 2s"' not in partial
    assert "Done" in partial
    url = reverse("datasets:export-file", args=[export.pk, "train.jsonl"])
    assert url in partial

    response = c.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "writing-dpo-v1-train.jsonl" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == snapshot.train_count
    row = json.loads(lines[0])
    assert list(row)[:3] == ["prompt", "chosen", "rejected"] and "pair_id" in row

    base = f"/datasets/exports/{export.pk}/files/"
    for name in ("nope.jsonl", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
        assert c.get(base + name).status_code == 404, name
    assert c.get(f"/datasets/exports/{export.pk + 100}/files/train.jsonl").status_code == 404


def test_export_errors_are_shown_on_the_form(client_for, engineer, accepted, settings):
    snapshot = freeze(engineer)
    settings.WEAVER_HF_TOKEN = "hf_x"
    c = client_for(engineer)
    response = c.post(
        reverse("datasets:export-new", args=[snapshot.pk]),
        {"format": "jsonl", "layout": "standard", "hub_repo": "team/writing"},
    )
    assert response.status_code == 400
    assert "hub_repo" in response.context["export_form"].errors
    response = c.post(
        reverse("datasets:export-new", args=[snapshot.pk]),
        {"format": "parquet", "layout": "standard", "hub_repo": "not a repo"},
    )
    assert response.status_code == 400
    assert "hub_repo" in response.context["export_form"].errors
    assert DatasetExport.objects.count() == 0


# --- Comparing ------------------------------------------------------------------------------


def test_compare_two_versions(client_for, engineer, accepted, version):
    v1 = freeze(engineer)
    added = accept(make_review_pairs(3, principle_version=version))
    accepted[0].status = PreferenceStatus.REJECTED
    accepted[0].save(update_fields=["status"])
    accepted[1].chosen = "A better chosen text."
    accepted[1].save(update_fields=["chosen"])
    v2 = services.dataset_snapshot_new_version(snapshot=v1, created_by=engineer)
    c = client_for(engineer)

    page = c.get(reverse("datasets:compare", args=[v2.pk]))  # defaults to the previous version
    assert page.status_code == 200
    assert text_of(page.content, "compare-added") == "3"
    assert text_of(page.content, "compare-removed") == "1"
    assert text_of(page.content, "compare-changed") == "1"
    content = page.content.decode()
    for p in added:
        assert f'<td class="num example-pair">{p.pk}</td>' in content
    assert f'<option value="{v1.pk}" selected>' in content

    page = c.get(reverse("datasets:compare", args=[v1.pk]), {"with": v2.pk})
    assert text_of(page.content, "compare-added") == "1"
    assert text_of(page.content, "compare-removed") == "3"

    # The first version has nothing before it; the other kind can't be compared.
    page = c.get(reverse("datasets:compare", args=[v1.pk]))
    assert "first version" in text_of(page.content, "compare-problem")
    make_instruction_pair(status=PairStatus.KEPT)
    sft = freeze(engineer, name="writing-sft", kind="sft")
    page = c.get(reverse("datasets:compare", args=[v1.pk]), {"with": sft.pk})
    assert "same kind" in text_of(page.content, "compare-problem")
    assert 'id="compare-added"' not in page.content.decode()
    assert c.get(reverse("datasets:compare", args=[v1.pk]), {"with": "x"}).status_code == 404


def test_binned_histograms_draw_stored_counts():
    from pairs.charts import binned_histogram_svg

    svg = binned_histogram_svg(
        [1, 0, 3], edges=[0, 100, 200, 400], open_end=True, title=f"Lengths {XSS}", chart_id="c"
    )
    assert XSS not in svg and "Lengths &lt;script&gt;" in svg
    assert svg.count("<rect") == 3
    assert "<title>0–100: 1</title>" in svg and "<title>≥ 200: 3</title>" in svg
    assert ">200+</text>" in svg
    svg = binned_histogram_svg([2, 5], labels=["7", "-"], title="Scores", chart_id="s")
    assert "<title>7: 2</title>" in svg and "<title>-: 5</title>" in svg
    assert "<rect" not in binned_histogram_svg([0, 0], labels=["1", "2"], title="Empty")
