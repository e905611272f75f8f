"""Dataset API: snapshots (create, list, retrieve, count, new version, compare, rows, verify,
delete), exports (create, read, download), who may use it, field-named errors, token auth, and
the Hub token never reaching a response."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from pairs.datasets import services
from pairs.datasets.export import export_dir
from pairs.models import (
    DatasetExport,
    DatasetRow,
    DatasetSnapshot,
    ExportStatus,
    PreferenceStatus,
    SnapshotStatus,
)

from ..factories import PASSWORD, make_approved, make_instruction_pair, make_review_pairs

SECRET = "hf_secret_test"


def api_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.WEAVER_EXPORT_DIR = tmp_path / "exports"
    settings.WEAVER_HF_TOKEN = ""
    return settings.WEAVER_EXPORT_DIR


@pytest.fixture
def version(author, admin_user):
    return make_approved(author, admin_user, task="content_writing").approved_version


@pytest.fixture
def accepted(version):
    pairs = make_review_pairs(8, principle_version=version)
    for p in pairs:
        p.status = PreferenceStatus.ACCEPTED
        p.save(update_fields=["status"])
    return pairs


BODY = {
    "name": "writing-dpo",
    "kind": "dpo",
    "description": "Accepted negatives",
    "filters": {"languages": ["en"]},
    "test_fraction": 0.25,
    "split_seed": "s1",
}


def create(client, **change):
    return client.post("/api/datasets/", {**BODY, **change}, format="json")


def test_create_list_retrieve_a_snapshot(engineer, accepted):
    c = api_for(engineer)
    response = create(c)
    assert response.status_code == 201, response.content
    body = response.json()
    snap = DatasetSnapshot.objects.get()
    assert body["id"] == snap.pk
    assert body["status"] == "ready" and body["version"] == 1
    assert body["row_count"] == 8 == body["train_count"] + body["test_count"]
    assert body["content_hash"] == snap.content_hash and len(body["content_hash"]) == 64
    assert body["filters"]["languages"] == ["en"]
    assert body["filters"]["statuses"] == ["accepted"]  # the recorded (checked) filters
    assert body["created_by"] == "ed" and body["frozen_at"]
    assert body["stats"]["counts"]["language"] == {"en": 8}
    assert body["test_fraction"] == 0.25 and body["split_seed"] == "s1"

    detail = c.get(f"/api/datasets/{snap.pk}/").json()
    assert detail == body

    # A second one of the same name is its next version; another name, another dataset.
    assert create(c).json()["version"] == 2
    make_instruction_pair(instruction="Kept", response="Yes", status="kept")
    sft = create(c, name="writing-sft", kind="sft", filters={})
    assert sft.status_code == 201 and sft.json()["row_count"] == 1
    listed = c.get("/api/datasets/").json()
    assert listed["count"] == 3
    assert [r["version"] for r in listed["results"]] == [1, 2, 1]  # newest first
    assert "stats" not in listed["results"][0]
    assert c.get("/api/datasets/?name=writing-dpo").json()["count"] == 2
    assert c.get("/api/datasets/?kind=sft").json()["count"] == 1
    assert c.get("/api/datasets/?status=ready").json()["count"] == 3
    assert c.get("/api/datasets/?status=building").json()["count"] == 0
    assert c.get("/api/datasets/?page_size=1").json()["next"]
    assert c.get("/api/datasets/999999/").status_code == 404


def test_there_is_no_update(engineer, accepted):
    c = api_for(engineer)
    pk = create(c).json()["id"]
    assert c.patch(f"/api/datasets/{pk}/", {"name": "x"}, format="json").status_code == 405
    assert c.put(f"/api/datasets/{pk}/", BODY, format="json").status_code == 405
    assert DatasetSnapshot.objects.get().name == "writing-dpo"


@pytest.mark.parametrize(
    ("change", "field", "inner"),
    [
        ({"filters": {"statuses": ["failed"]}}, "filters", "statuses"),
        ({"filters": {"metric_ranges": {"edit_ratio": [0.5, 0.1]}}}, "filters", None),
        ({"filters": {"min_agreement": 2}}, "filters", "min_agreement"),
        ({"filters": {"colour": ["red"]}}, "filters", None),
        ({"filters": ["en"]}, "filters", None),
        ({"filters": {"languages": ["zh"]}}, "filters", None),  # no pair matches
        ({"test_fraction": 1}, "test_fraction", None),
        ({"test_fraction": -0.5}, "test_fraction", None),
        ({"kind": "rl"}, "kind", None),
        ({"name": ""}, "name", None),
        ({"name": "x" * 201}, "name", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field(engineer, accepted, change, field, inner):
    response = create(api_for(engineer), **change)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {field}, errors
    if inner:
        assert inner in errors[field]
    if "metric_ranges" in str(change):
        assert "metric_ranges.edit_ratio" in errors["filters"]
    assert not DatasetSnapshot.objects.exists()


def test_a_name_holds_one_kind(engineer, accepted):
    c = api_for(engineer)
    create(c)
    response = create(c, kind="sft", filters={})
    assert response.status_code == 400 and set(response.json()) == {"name"}


def test_count(engineer, accepted, version):
    c = api_for(engineer)
    make_review_pairs(2, principle_version=version)  # generated, not accepted
    assert c.post("/api/datasets/count/", {"kind": "dpo"}, format="json").json() == {"count": 8}
    body = {"kind": "dpo", "filters": {"statuses": ["accepted", "generated"]}}
    assert c.post("/api/datasets/count/", body, format="json").json() == {"count": 10}
    body = {"kind": "dpo", "filters": {"languages": ["zh"]}}
    assert c.post("/api/datasets/count/", body, format="json").json() == {"count": 0}
    bad = c.post(
        "/api/datasets/count/", {"kind": "dpo", "filters": {"min_reviews": -1}}, format="json"
    )
    assert bad.status_code == 400 and "min_reviews" in bad.json()["filters"]
    bad = c.post("/api/datasets/count/", {"kind": "nope"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"kind"}
    assert not DatasetSnapshot.objects.exists()


def test_new_version_and_compare(engineer, accepted, version):
    c = api_for(engineer)
    old = create(c, test_fraction=0).json()
    accepted[0].status = PreferenceStatus.REJECTED
    accepted[0].save()
    accepted[1].chosen = "Changed after the first freeze."
    accepted[1].save()
    (extra,) = make_review_pairs(1, principle_version=version)
    extra.status = PreferenceStatus.ACCEPTED
    extra.save()
    response = c.post(f"/api/datasets/{old['id']}/new-version/")
    assert response.status_code == 201, response.content
    new = response.json()
    assert new["version"] == 2 and new["name"] == old["name"]
    assert new["filters"] == old["filters"] and new["test_fraction"] == 0
    assert new["row_count"] == 8 and new["content_hash"] != old["content_hash"]

    diff = c.get(f"/api/datasets/{new['id']}/compare/?with={old['id']}")
    assert diff.status_code == 200, diff.content
    diff = diff.json()
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 1, 1)
    assert diff["old"]["id"] == old["id"] and diff["new"]["id"] == new["id"]
    assert diff["same"] is False
    assert diff["added_examples"][0]["pair_id"] == extra.pk
    assert diff["removed_examples"][0]["pair_id"] == accepted[0].pk
    assert diff["changed_examples"][0] == {
        "pair_id": accepted[1].pk,
        "split": "train",
        "prompt": diff["changed_examples"][0]["prompt"],
    }
    assert diff["changed_examples"][0]["prompt"].startswith("Write scene 1")

    # The other snapshot is missing, the same one, of another kind, or still freezing.
    url = f"/api/datasets/{new['id']}/compare/"
    make_instruction_pair(instruction="Kept", response="Yes", status="kept")
    sft = create(c, name="writing-sft", kind="sft", filters={}).json()
    building = DatasetSnapshot.objects.create(name="later", version=1, kind="dpo")
    for query in ("", "?with=abc", "?with=999999", f"?with={new['id']}", f"?with={sft['id']}"):
        response = c.get(url + query)
        assert response.status_code == 400, query
        assert set(response.json()) == {"with"}, query
    response = c.get(f"{url}?with={building.pk}")
    assert response.status_code == 400 and set(response.json()) == {"with"}
    response = c.get(f"/api/datasets/{building.pk}/compare/?with={new['id']}")
    assert response.status_code == 400 and set(response.json()) == {"snapshot"}


def test_rows_and_verify(engineer, accepted):
    c = api_for(engineer)
    snap = create(c).json()
    url = f"/api/datasets/{snap['id']}/rows/"
    page = c.get(url).json()
    assert page["count"] == 8 and page["offset"] == 0 and page["limit"] == 20
    assert [r["position"] for r in page["results"]] == list(range(8))
    first = page["results"][0]
    stored = DatasetRow.objects.get(snapshot_id=snap["id"], position=0)
    assert first["row"] == json.loads(stored.data) and first["split"] == stored.split
    assert list(first["row"])[:3] == ["prompt", "chosen", "rejected"]
    page = c.get(url, {"offset": 2, "limit": 3}).json()
    assert [r["position"] for r in page["results"]] == [2, 3, 4]
    train = c.get(url, {"split": "train", "limit": 100}).json()
    assert train["count"] == snap["train_count"] == len(train["results"])
    assert {r["split"] for r in train["results"]} == {"train"}
    assert c.get(url, {"limit": 5000}).json()["limit"] == 100
    for bad, field in (({"split": "dev"}, "split"), ({"offset": -1}, "offset")):
        response = c.get(url, bad)
        assert response.status_code == 400 and set(response.json()) == {field}

    verify = f"/api/datasets/{snap['id']}/verify/"
    assert c.get(verify).json() == {"ok": True}
    # Tampering with a stored row is found.
    DatasetRow.objects.filter(snapshot_id=snap["id"], position=3).update(data='{"prompt":"x"}')
    assert c.get(verify).json() == {"ok": False}
    building = DatasetSnapshot.objects.create(name="later", version=1, kind="dpo")
    response = c.get(f"/api/datasets/{building.pk}/verify/")
    assert response.status_code == 400 and set(response.json()) == {"snapshot"}


def test_only_admins_delete(engineer, admin_user, accepted, exports_dir):
    pk = create(api_for(engineer)).json()["id"]
    snap = DatasetSnapshot.objects.get(pk=pk)
    export = services.dataset_export_create(snapshot=snap, created_by=engineer, format="jsonl")
    services.dataset_export_run(export=export, worker="t")
    assert export_dir(export).is_dir()
    assert api_for(engineer).delete(f"/api/datasets/{pk}/").status_code == 403
    assert api_for(engineer).delete(f"/api/dataset-exports/{export.pk}/").status_code == 403
    assert DatasetSnapshot.objects.filter(pk=pk).exists()
    response = api_for(admin_user).delete(f"/api/datasets/{pk}/")
    assert response.status_code == 204
    assert not DatasetSnapshot.objects.exists()
    assert not DatasetRow.objects.exists() and not DatasetExport.objects.exists()
    assert not export_dir(export).exists()
    assert api_for(admin_user).delete(f"/api/datasets/{pk}/").status_code == 404


def test_others_get_403_everywhere(engineer, author, reviewer, norole, accepted):
    snap = create(api_for(engineer)).json()
    export = services.dataset_export_create(
        snapshot=DatasetSnapshot.objects.get(pk=snap["id"]), created_by=engineer, format="jsonl"
    )
    pk = snap["id"]
    calls = [
        ("get", "/api/datasets/", None),
        ("post", "/api/datasets/", BODY),
        ("get", f"/api/datasets/{pk}/", None),
        ("delete", f"/api/datasets/{pk}/", None),
        ("post", "/api/datasets/count/", {"kind": "dpo"}),
        ("post", f"/api/datasets/{pk}/new-version/", None),
        ("get", f"/api/datasets/{pk}/compare/?with={pk}", None),
        ("get", f"/api/datasets/{pk}/rows/", None),
        ("get", f"/api/datasets/{pk}/verify/", None),
        ("get", "/api/dataset-exports/", None),
        ("post", "/api/dataset-exports/", {"snapshot": pk, "format": "jsonl"}),
        ("get", f"/api/dataset-exports/{export.pk}/", None),
        ("delete", f"/api/dataset-exports/{export.pk}/", None),
        ("get", f"/api/dataset-exports/{export.pk}/download/?file=README.md", None),
    ]
    for user in (author, reviewer, norole):
        c = api_for(user)
        for method, url, body in calls:
            response = getattr(c, method)(url, body, format="json")
            assert response.status_code == 403, (user.username, method, url)
    anonymous = APIClient()
    for method, url, body in calls:
        assert getattr(anonymous, method)(url, body, format="json").status_code in (401, 403)
    assert DatasetSnapshot.objects.count() == 1 and DatasetExport.objects.count() == 1


def test_token_auth(engineer, accepted):
    api = APIClient(enforce_csrf_checks=True)
    token = api.post("/api/auth/token/", {"username": "ed", "password": PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    created = api.post("/api/datasets/", BODY, format="json")
    assert created.status_code == 201, created.content
    assert api.get("/api/datasets/").json()["count"] == 1
    export = api.post(
        "/api/dataset-exports/", {"snapshot": created.json()["id"], "format": "jsonl"}
    )
    assert export.status_code == 201, export.content


def test_export_through_the_api_and_download(engineer, admin_user, accepted, exports_dir):
    c = api_for(engineer)
    snap = create(c).json()
    response = c.post(
        "/api/dataset-exports/",
        {"snapshot": snap["id"], "format": "jsonl", "layout": "standard"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["files"] == []
    assert body["snapshot"] == snap["id"] and body["snapshot_label"] == "writing-dpo v1"
    assert body["include_metadata"] is True and body["created_by"] == "ed"
    export = DatasetExport.objects.get(pk=body["id"])
    # Not done yet: nothing to download.
    url = f"/api/dataset-exports/{export.pk}/download/"
    assert c.get(url, {"file": "README.md"}).status_code == 404

    services.dataset_export_run(export=export, worker="t")
    detail = c.get(f"/api/dataset-exports/{export.pk}/").json()
    assert detail["status"] == "done", detail["error"]
    assert detail["rows_written"] == 8 and detail["finished_at"]
    names = {f["name"] for f in detail["files"]}
    assert {"train.jsonl", "README.md"} <= names
    for entry in detail["files"]:
        assert entry["download_url"].startswith("http://testserver/api/dataset-exports/")
        download = c.get(entry["download_url"])
        assert download.status_code == 200, entry["name"]
        assert download["Content-Disposition"].startswith("attachment")
        assert entry["name"] in download["Content-Disposition"]
        data = b"".join(download.streaming_content)
        assert data == (export_dir(export) / entry["name"]).read_bytes()
        assert len(data) == entry["bytes"]
    # A script asking for a file by its media type gets it too.
    raw = c.get(url, {"file": "train.jsonl"}, HTTP_ACCEPT="application/octet-stream")
    assert raw.status_code == 200
    assert b"".join(raw.streaming_content).splitlines() == [
        line.encode()
        for line in DatasetRow.objects.filter(snapshot_id=snap["id"], split="train")
        .order_by("position")
        .values_list("data", flat=True)
    ]

    for name in ("../../etc/passwd", "/etc/passwd", "", "missing.jsonl", "../README.md", "."):
        assert c.get(url, {"file": name}).status_code == 404, name
    assert c.get(url).status_code == 404
    assert c.get("/api/dataset-exports/999999/download/", {"file": "README.md"}).status_code == 404

    listed = c.get("/api/dataset-exports/", {"snapshot": snap["id"]}).json()
    assert [e["id"] for e in listed["results"]] == [export.pk]
    assert c.get("/api/dataset-exports/", {"snapshot": 999999}).json()["count"] == 0
    assert c.get("/api/dataset-exports/", {"status": "done"}).json()["count"] == 1

    # Admins delete an export with its files.
    assert api_for(admin_user).delete(f"/api/dataset-exports/{export.pk}/").status_code == 204
    assert not export_dir(export).exists() and not DatasetExport.objects.exists()


def test_bad_exports_name_the_field(engineer, accepted, settings):
    c = api_for(engineer)
    snap = create(c).json()
    building = DatasetSnapshot.objects.create(name="later", version=1, kind="dpo")
    cases = [
        ({"format": "csv"}, "format"),
        ({"layout": "sideways"}, "layout"),
        ({"snapshot": 999999}, "snapshot"),
        ({"snapshot": building.pk}, "snapshot"),
        ({"format": "parquet", "hub_repo": "team/writing"}, "hub_repo"),  # no token
        ({"format": "parquet", "hub_repo": "not a repo"}, "hub_repo"),
        ({"format": "jsonl", "hub_repo": "team/writing"}, "hub_repo"),
    ]
    for change, field in cases:
        response = c.post(
            "/api/dataset-exports/",
            {"snapshot": snap["id"], "format": "jsonl", **change},
            format="json",
        )
        assert response.status_code == 400, change
        assert set(response.json()) == {field}, (change, response.json())
    no_token = c.post(
        "/api/dataset-exports/",
        {"snapshot": snap["id"], "format": "parquet", "hub_repo": "team/writing"},
        format="json",
    ).json()
    assert "token" in no_token["hub_repo"][0].lower()
    assert not DatasetExport.objects.exists()


def test_the_hub_token_never_reaches_a_response(engineer, accepted, settings, exports_dir):
    settings.WEAVER_HF_TOKEN = SECRET
    settings.WEAVER_HF_ENDPOINT = "http://127.0.0.1:9"  # nothing listens: the push fails fast
    c = api_for(engineer)
    snap = create(c).json()
    responses = []
    created = c.post(
        "/api/dataset-exports/",
        {"snapshot": snap["id"], "format": "parquet", "hub_repo": "team/writing-dpo"},
        format="json",
    )
    assert created.status_code == 201, created.content
    responses.append(created)
    export = DatasetExport.objects.get()
    services.dataset_export_run(export=export, worker="t")
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    # Even an error that somehow held the token is masked.
    DatasetExport.objects.filter(pk=export.pk).update(error=f"401 for Bearer {SECRET}")
    responses += [
        c.get(f"/api/dataset-exports/{export.pk}/"),
        c.get("/api/dataset-exports/"),
        c.get(f"/api/datasets/{snap['id']}/"),
        c.get("/api/datasets/"),
        c.get("/api/schema/?format=json"),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert SECRET not in response.content.decode()
    assert "***" in c.get(f"/api/dataset-exports/{export.pk}/").json()["error"]


def test_a_large_snapshot_is_left_to_a_worker(engineer, accepted, settings):
    settings.WEAVER_DATASET_SYNC_FREEZE_MAX = 2
    response = create(api_for(engineer))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == SnapshotStatus.BUILDING and body["row_count"] == 0
    assert body["content_hash"] == "" and body["frozen_at"] is None


def test_schema_documents_the_dataset_endpoints(engineer):
    response = api_for(engineer).get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/datasets/",
        "/api/datasets/{id}/",
        "/api/datasets/count/",
        "/api/datasets/{id}/new-version/",
        "/api/datasets/{id}/compare/",
        "/api/datasets/{id}/rows/",
        "/api/datasets/{id}/verify/",
        "/api/dataset-exports/",
        "/api/dataset-exports/{id}/",
        "/api/dataset-exports/{id}/download/",
    ):
        assert path in paths, path
    download = paths["/api/dataset-exports/{id}/download/"]["get"]["responses"]["200"]
    assert "application/octet-stream" in download["content"]
    components = schema["components"]["schemas"]
    for name in ("DatasetKindEnum", "DatasetSnapshotStatusEnum", "DatasetExportFormatEnum"):
        assert name in components
