"""Dataset snapshots: freezing, immutability, splits, versions, exports in every format."""

import hashlib
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from pairs.datasets import rows as R
from pairs.datasets import services
from pairs.datasets.export import export_dir, hf_folder
from pairs.models import (
    DatasetRow,
    ExportStatus,
    PreferenceStatus,
    SnapshotStatus,
)
from pairs.review import services as review

from ..factories import UserFactory, make_approved, make_instruction_pair, make_review_pairs


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def accepted(version):
    pairs = make_review_pairs(12, principle_version=version)
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return pairs


@pytest.fixture
def exports_dir(settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"
    return settings.WEAVER_EXPORT_DIR


def freeze(engineer, **kwargs):
    kwargs.setdefault("name", "writing-dpo")
    kwargs.setdefault("kind", "dpo")
    return services.dataset_snapshot_create(created_by=engineer, **kwargs)


def run_export(snapshot, engineer, **kwargs):
    export = services.dataset_export_create(snapshot=snapshot, created_by=engineer, **kwargs)
    services.dataset_export_run(export=export, worker="test")
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE, export.error
    return export


def test_snapshot_freezes_matching_pairs_with_hash_counts_and_metadata(engineer, accepted, version):
    other = make_review_pairs(3, principle_version=version, language="zh")  # not accepted
    snap = freeze(engineer, test_fraction=0.25)
    assert snap.status == SnapshotStatus.READY
    assert snap.version == 1
    assert snap.row_count == 12 == snap.train_count + snap.test_count
    assert snap.stats["counts"]["language"] == {"en": 12}
    assert sum(snap.stats["counts"]["principle"].values()) == 12
    assert snap.stats["counts"]["domain"] and snap.stats["counts"]["task"]
    ids = set(DatasetRow.objects.filter(snapshot=snap).values_list("pair_id", flat=True))
    assert ids == {p.pk for p in accepted}
    assert not ids & {p.pk for p in other}
    row = json.loads(DatasetRow.objects.filter(snapshot=snap).first().data)
    assert list(row)[:3] == ["prompt", "chosen", "rejected"]
    assert row["principle_id"] == version.principle_id
    assert row["principle_version"] == version.number
    assert row["principle_text"] == version.description
    assert row["review"]["status"] == "accepted"
    assert set(row["metrics"]) == set(R.METRIC_FIELDS)
    assert services.dataset_snapshot_verify(snapshot=snap)
    # The hash is the SHA-256 over (split, canonical line) in order.
    h = hashlib.sha256()
    for split, data in DatasetRow.objects.filter(snapshot=snap).values_list("split", "data"):
        h.update(f"{split}\t{data}\n".encode())
    assert h.hexdigest() == snap.content_hash


def test_later_reviews_change_neither_rows_nor_hash(engineer, accepted, version):
    snap = freeze(engineer)
    before = list(DatasetRow.objects.filter(snapshot=snap).values_list("data", flat=True))
    queue = review.review_queue_create(
        name="again",
        created_by=engineer,
        reviewers=[UserFactory(username="r1", roles=["Reviewer"])],
        reviews_required=1,
        filters={"statuses": ["accepted"]},
    )
    reviewer = queue.reviewers.get()
    # A reviewer edits one pair's rejected side and rejects another; a third is set by hand.
    first = review.review_next(queue=queue, reviewer=reviewer)
    review.review_submit(
        review=first,
        reviewer=reviewer,
        decision="edit",
        edited_rejected=first.pair.rejected + " Edited later.",
    )
    second = review.review_next(queue=queue, reviewer=reviewer)
    review.review_submit(
        review=second, reviewer=reviewer, decision="reject", reasons=["not_broken"]
    )
    accepted[5].chosen = "Rewritten by hand."
    accepted[5].save()
    snap.refresh_from_db()
    after = list(DatasetRow.objects.filter(snapshot=snap).values_list("data", flat=True))
    assert after == before
    assert services.dataset_snapshot_verify(snapshot=snap)
    again = services.dataset_snapshot_new_version(snapshot=snap, created_by=engineer)
    assert again.version == 2
    assert again.row_count == 11  # the rejected pair left
    assert again.content_hash != snap.content_hash


def test_split_keeps_every_prompt_on_one_side_and_is_deterministic(engineer, version):
    # 60 pairs over 15 prompts (four answers each, with whitespace and case variants).
    pairs = []
    for k in range(60):
        prompt = f"Write scene {k % 15} on a river."
        if k % 3 == 0:
            prompt = "  " + prompt.upper().replace(" ", "  ")
        pairs += make_review_pairs(1, principle_version=version, instruction=prompt)
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    a = freeze(engineer, test_fraction=0.3, split_seed="s1")
    b = freeze(engineer, test_fraction=0.3, split_seed="s1")
    assert a.content_hash == b.content_hash and (a.version, b.version) == (1, 2)
    sides: dict[str, set] = {}
    for key, split in DatasetRow.objects.filter(snapshot=a).values_list("prompt_key", "split"):
        sides.setdefault(key, set()).add(split)
    assert len(sides) == 15
    assert all(len(s) == 1 for s in sides.values())
    assert 0 < a.test_count < a.row_count


def test_stratified_split_gives_each_domain_its_share(engineer, version):
    from principles.models import Domain

    domains = list(Domain.objects.all()[:2])
    for k in range(40):
        (p,) = make_review_pairs(
            1, principle_version=version, instruction=f"Prompt {k}", domain=domains[k % 2]
        )
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    snap = freeze(engineer, test_fraction=0.25, stratify=True)
    test = snap.stats["domain_by_split"]["test"]
    assert test == {domains[0].slug: 5, domains[1].slug: 5}


def test_bad_input_names_the_field(engineer, reviewer, accepted):
    with pytest.raises(ValidationError) as e:
        freeze(engineer, filters={"min_agreement": 2})
    assert "min_agreement" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        freeze(engineer, filters={"metric_ranges": {"edit_ratio": [0.5, 0.1]}})
    assert "metric_ranges.edit_ratio" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        freeze(engineer, test_fraction=1)
    assert "test_fraction" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        freeze(engineer, kind="rl")
    assert "kind" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        freeze(engineer, filters={"statuses": ["failed"]})
    assert "statuses" in e.value.message_dict
    with pytest.raises(PermissionDenied):
        freeze(reviewer)


def test_min_agreement_and_min_reviews(engineer, version):
    pairs = make_review_pairs(3, principle_version=version)
    queue = review.review_queue_create(
        name="q",
        created_by=engineer,
        reviewers=[UserFactory(username=f"a{k}", roles=["Reviewer"]) for k in range(3)],
        reviews_required=3,
        rule="majority",
    )
    people = list(queue.reviewers.order_by("username"))
    decisions = {pairs[0].pk: ["accept"] * 3, pairs[1].pk: ["accept", "accept", "reject"]}
    for k, person in enumerate(people):
        for _ in range(3):
            r = review.review_next(queue=queue, reviewer=person)
            if r is None:
                break
            wanted = decisions.get(r.pair_id, ["reject"] * 3)[k]
            kwargs = {"reasons": ["not_broken"]} if wanted == "reject" else {}
            review.review_submit(review=r, reviewer=person, decision=wanted, **kwargs)
    n = services.dataset_count(kind="dpo", filters={"min_agreement": 1, "min_reviews": 3})
    assert n == 1  # only the unanimous accepted pair
    n = services.dataset_count(kind="dpo", filters={"min_agreement": 0.6})
    assert n == 2  # and the 2-1 pair, accepted with agreement 2/3; the third was rejected
    n = services.dataset_count(kind="dpo", filters={"min_agreement": 0.7})
    assert n == 1


def test_jsonl_export_standard_and_conversational(engineer, accepted, exports_dir):
    snap = freeze(engineer, test_fraction=0.25)
    export = run_export(snap, engineer, format="jsonl")
    names = {f["name"] for f in export.files}
    assert {"train.jsonl", "README.md"} <= names
    lines = []
    for split in ("train", "test"):
        path = export_dir(export) / f"{split}.jsonl"
        if path.exists():
            lines += [(split, line) for line in path.read_text().splitlines()]
    assert len(lines) == 12
    stored = list(DatasetRow.objects.filter(snapshot=snap).values_list("split", "data"))
    assert sorted(lines) == sorted(stored)
    conv = run_export(
        snap, engineer, format="jsonl", layout="conversational", include_metadata=False
    )
    row = json.loads((export_dir(conv) / "train.jsonl").read_text().splitlines()[0])
    assert set(row) == {"prompt", "chosen", "rejected"}
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    card = (export_dir(export) / "README.md").read_text()
    assert snap.content_hash in card and "principle_text" in card


def test_parquet_and_hf_exports_load_with_datasets(engineer, accepted, exports_dir):
    import datasets
    import pyarrow.parquet as pq

    snap = freeze(engineer, test_fraction=0.25)
    export = run_export(snap, engineer, format="parquet")
    table = pq.read_table(export_dir(export) / "train.parquet")
    assert table.num_rows == snap.train_count
    assert table.column_names[:3] == ["prompt", "chosen", "rejected"]
    assert table.schema.field("metrics").type.num_fields == 5
    hf = run_export(snap, engineer, format="hf", layout="conversational")
    ds = datasets.load_from_disk(str(hf_folder(hf)))
    assert ds["train"].num_rows == snap.train_count
    assert ds["train"][0]["prompt"][0]["role"] == "user"
    assert "principle_id" in ds["train"].column_names
    assert any(f["name"].endswith("-hf.zip") for f in hf.files)


def test_sft_snapshot_and_export(engineer, exports_dir):
    for k in range(6):
        make_instruction_pair(
            instruction=f"Write {k}.", response=f"Answer {k}.", status="kept", curation_score=4
        )
    make_instruction_pair(instruction="Dropped", response="x", status="dropped")
    snap = freeze(engineer, name="writing-sft", kind="sft", test_fraction=0)
    assert snap.row_count == 6 and snap.test_count == 0
    export = run_export(snap, engineer, format="jsonl", layout="conversational")
    row = json.loads((export_dir(export) / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert row["metrics"]["curation_score"] == 4
    with pytest.raises(ValidationError) as e:
        freeze(engineer, name="writing-sft", kind="dpo")
    assert "name" in e.value.message_dict


def test_compare_two_versions(engineer, accepted):
    from pairs.datasets.selectors import snapshot_compare

    old = freeze(engineer, test_fraction=0)
    accepted[0].status = PreferenceStatus.REJECTED
    accepted[0].save()
    accepted[1].chosen = "Changed after the first freeze."
    accepted[1].save()
    (extra,) = make_review_pairs(1, principle_version=accepted[2].principle_version)
    extra.status = PreferenceStatus.ACCEPTED
    extra.save()
    new = services.dataset_snapshot_new_version(snapshot=old, created_by=engineer)
    diff = snapshot_compare(old=old, new=new)
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 1, 1)
    assert diff["added_examples"][0]["pair_id"] == extra.pk
    assert diff["removed_examples"][0]["pair_id"] == accepted[0].pk
    assert diff["changed_examples"][0]["pair_id"] == accepted[1].pk
    same = snapshot_compare(old=old, new=old)
    assert same["same"] and (same["added"], same["removed"], same["changed"]) == (0, 0, 0)


@pytest.mark.parametrize("stratify", [False, True])
def test_ten_thousand_pairs_with_repeated_prompts_never_straddle_the_split(
    engineer, version, stratify
):
    from pairs.models import NegativeMode, PreferencePair
    from principles.models import Domain, Task

    positive = make_instruction_pair(instruction="seed", response="seed")
    domains = list(Domain.objects.all()[:3])
    task = Task.objects.get(slug="content_writing")

    def prompt(k: int) -> str:  # 2,500 prompts, each four times, in case and space variants
        base = f"Write about river number {k % 2500}."
        return (base, f"  {base}  ", base.upper(), base.replace(" ", "\n"))[k // 2500]

    PreferencePair.objects.bulk_create(
        PreferencePair(
            positive=positive,
            principle_version=version,
            mode=NegativeMode.EACH,
            sample_index=k,
            status=PreferenceStatus.ACCEPTED,
            domain=domains[(k % 2500) % 3],
            task=task,
            language="en",
            instruction=prompt(k),
            context="",
            chosen=f"Answer {k}.",
            rejected=f"Answer {k}!",
            prompt_version="cdpo-v1",
        )
        for k in range(10_000)
    )
    snap = freeze(engineer, test_fraction=0.2, stratify=stratify, split_seed="acceptance")
    assert snap.row_count == 10_000
    sides: dict[str, set] = {}
    for split, data in DatasetRow.objects.filter(snapshot=snap).values_list("split", "data"):
        sides.setdefault(R.normalise_prompt(json.loads(data)["prompt"]), set()).add(split)
    assert len(sides) == 2500
    assert all(len(s) == 1 for s in sides.values())
    test_prompts = sum(1 for s in sides.values() if s == {"test"})
    assert 400 <= test_prompts <= 600  # about a fifth of the prompts
    assert snap.test_count == 4 * test_prompts


def test_no_matching_pair_is_refused_and_a_broken_freeze_fails_cleanly(engineer, accepted):
    with pytest.raises(ValidationError) as e:
        freeze(engineer, filters={"languages": ["fr"]})
    assert "filters" in e.value.message_dict
    snap = freeze(engineer)
    # A snapshot whose recorded filters no longer parse fails with the reason and no rows.
    from pairs.models import DatasetSnapshot

    broken = DatasetSnapshot.objects.create(
        name="old", version=1, kind="dpo", filters={"colour": ["red"]}, created_by=engineer
    )
    broken = services.dataset_snapshot_freeze(snapshot=broken)
    assert broken.status == SnapshotStatus.FAILED and "colour" in broken.error
    assert not DatasetRow.objects.filter(snapshot=broken).exists()
    assert services.dataset_snapshot_freeze(snapshot=snap).row_count == 12  # ready: untouched
