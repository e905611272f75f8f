"""Starting backtranslation and curation from pages and the API; pause, resume, cancel; keep."""

import json

import pytest

from pairs.generation import backtranslation, curation
from pairs.models import InstructionPair, PairStatus, Selection
from weaver_site.jobs import JOB_TASKS
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job, JobStatus

from ..factories import make_instruction_pair, make_texts_with_spans

PAGES = ["/pairs/backtranslate/", "/pairs/curate/", "/pairs/keep/"]


@pytest.fixture
def endpoint(db):
    return Endpoint.objects.create(name="w", base_url="http://127.0.0.1:9/v1", model="m")


@pytest.fixture
def no_enqueue(monkeypatch):
    """Record the tasks queued instead of sending them (no worker runs in these tests)."""
    sent = []
    for task in ("run_backtranslation", "run_curation", "run_negatives"):
        monkeypatch.setattr(
            f"pairs.generation.tasks.{task}.delay", lambda *a, _t=task: sent.append((_t, a))
        )
    monkeypatch.setattr(
        "celery.current_app.send_task", lambda name, args=None, **kw: sent.append((name, args))
    )
    return sent


@pytest.mark.parametrize("url", PAGES)
def test_only_engineers_and_admins_start_jobs(
    url, client_for, engineer, admin_user, author, reviewer, norole
):
    assert client_for(engineer).get(url).status_code == 200
    assert client_for(admin_user).get(url).status_code == 200
    for user in (author, reviewer, norole):
        assert client_for(user).get(url).status_code == 403


def test_the_form_starts_a_job_and_the_job_page_pauses_resumes_and_cancels(
    client_for, engineer, endpoint, no_enqueue, django_capture_on_commit_callbacks
):
    make_texts_with_spans(2, spans_per_text=2, selection="two")
    selection = Selection.objects.get(name="two")
    c = client_for(engineer)
    page = c.get(f"/pairs/backtranslate/?selection={selection.pk}").content.decode()
    assert f'<option value="{selection.pk}" selected>' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(
            "/pairs/backtranslate/",
            {
                "selection": selection.pk,
                "tasks": ["outlining", "reviewing"],
                "endpoint": endpoint.pk,
                "samples": 2,
                "spans_per_text": 1,
                "temperature": 0.9,
            },
        )
    job = Job.objects.get(kind=backtranslation.KIND)
    assert response.status_code == 302 and response.url == f"/corpus/jobs/{job.pk}/"
    assert job.total == 2 * 1 * 2 * 2 and job.params["tasks"] == ["outlining", "reviewing"]
    assert job.params["params"]["temperature"] == 0.9 and job.created_by == engineer
    assert no_enqueue == [("run_backtranslation", (job.pk,))]
    page = c.get(f"/corpus/jobs/{job.pk}/").content.decode()
    assert 'id="job-pause"' in page and 'id="job-resume"' not in page
    c.post(f"/corpus/jobs/{job.pk}/", {"action": "pause"})
    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED
    page = c.get(f"/corpus/jobs/{job.pk}/").content.decode()
    assert 'id="job-resume"' in page and 'id="job-pause"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        c.post(f"/corpus/jobs/{job.pk}/", {"action": "resume"})
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert no_enqueue[-1] == (JOB_TASKS[backtranslation.KIND], [job.pk])
    c.post(f"/corpus/jobs/{job.pk}/", {"action": "cancel"})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert c.post(f"/corpus/jobs/{job.pk}/", {"action": "explode"}).status_code == 400


def test_bad_backtranslation_form_says_which_field(client_for, engineer, endpoint):
    make_texts_with_spans(1, selection="one")
    selection = Selection.objects.get(name="one")
    response = client_for(engineer).post(
        "/pairs/backtranslate/",
        {"selection": selection.pk, "tasks": [], "endpoint": endpoint.pk, "samples": 99},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) >= {"tasks", "samples"}
    assert not Job.objects.exists()


def test_api_starts_backtranslation_and_curation_and_controls_jobs(
    client_for, engineer, author, endpoint, no_enqueue
):
    make_texts_with_spans(3, selection="three")
    selection = Selection.objects.get(name="three")
    c = client_for(engineer)
    body = {
        "selection": selection.pk,
        "tasks": ["content_writing"],
        "endpoint": endpoint.pk,
        "samples": 1,
    }
    response = c.post("/api/backtranslation-jobs/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["kind"] == backtranslation.KIND and job["total"] == 3
    bad = c.post(
        "/api/backtranslation-jobs/",
        {**body, "tasks": ["poetry-slam"]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "tasks" in bad.json()
    assert c.post(f"/api/jobs/{job['id']}/pause/").json()["status"] == JobStatus.PAUSED
    assert c.post(f"/api/jobs/{job['id']}/pause/").status_code == 400  # already paused
    assert c.post(f"/api/jobs/{job['id']}/resume/").json()["status"] == JobStatus.QUEUED
    assert c.post(f"/api/jobs/{job['id']}/cancel/").json()["status"] == JobStatus.CANCELLED
    response = c.post(
        "/api/curation-jobs/",
        {"endpoint": endpoint.pk, "job_id": job["id"], "language": "en"},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["kind"] == curation.KIND
    denied = client_for(author).post(
        "/api/backtranslation-jobs/", body, content_type="application/json"
    )
    assert denied.status_code == 403
    assert client_for(author).post(f"/api/jobs/{job['id']}/cancel/").status_code == 403


def test_keep_page_and_api(client_for, engineer, db):
    texts = make_texts_with_spans(1, spans_per_text=3)
    spans = list(texts[0].spans.order_by("ordinal"))
    high = make_instruction_pair(
        span=spans[0], instruction="Write a ghost story set in a lighthouse.", curation_score=5
    )
    low = make_instruction_pair(
        span=spans[1], instruction="Describe a spring market in a river town.", curation_score=2
    )
    unscored = make_instruction_pair(span=spans[2], instruction="List ideas for a fable.")
    c = client_for(engineer)
    response = c.post("/pairs/keep/", {"threshold": 4, "dedup_threshold": 0.7}, follow=True)
    assert "1 kept, 1 dropped, 0 near-duplicates collapsed, 1 not scored yet." in (
        response.content.decode()
    )
    assert InstructionPair.objects.get(pk=high.pk).status == PairStatus.KEPT
    assert InstructionPair.objects.get(pk=low.pk).status == PairStatus.DROPPED
    assert InstructionPair.objects.get(pk=unscored.pk).status == PairStatus.GENERATED
    none = c.post("/pairs/keep/", {"dedup_threshold": 0.7})
    assert none.status_code == 400  # neither threshold nor quota
    api = c.post(
        "/api/instruction-pairs-keep/",
        json.dumps({"quota": 2, "threshold": None}),
        content_type="application/json",
    )
    assert api.status_code == 200 and api.json() == {
        "kept": 2,
        "dropped": 0,
        "duplicate": 0,
        "unscored": 1,
    }


def test_negatives_page_and_api_start_jobs(
    client_for, engineer, author, admin_user, reviewer, endpoint, no_enqueue
):
    from pairs.generation import negatives
    from pairs.models import PairStatus

    from ..factories import make_approved

    principle = make_approved(author, admin_user, task=None)
    for i in range(3):
        make_instruction_pair(
            instruction=f"Write scene {i}.",
            status=PairStatus.KEPT,
            curation_score=4 + i % 2,
            domain_id=principle.domain_id,
        )
    c = client_for(engineer)
    assert client_for(reviewer).get("/pairs/preferences/new/").status_code == 403
    assert client_for(author).get("/pairs/preferences/new/").status_code == 403
    page = c.get("/pairs/preferences/new/").content.decode()
    assert 'name="min_char_similarity"' in page and 'value="0.7"' in page
    response = c.post(
        "/pairs/preferences/new/",
        {
            "endpoint": endpoint.pk,
            "mode": "explain",
            "samples": 1,
            "kept_only": "on",
            "min_score": 5,
            "temperature": 0.5,
            "min_char_similarity": 0.8,
            "max_edit_ratio": "",
        },
    )
    job = Job.objects.get(kind=negatives.KIND)
    assert response.status_code == 302 and job.total == 1  # one positive scored 5
    assert job.params["thresholds"]["min_char_similarity"] == 0.8
    assert job.params["thresholds"]["max_edit_ratio"] is None  # emptied: check off
    assert job.params["principle_ids"] == [] and job.params["params"]["temperature"] == 0.5
    none = c.post(
        "/pairs/preferences/new/",
        {"endpoint": endpoint.pk, "mode": "explain", "samples": 1, "language": "zh"},
    )
    assert none.status_code == 400 and "approved principle" in none.content.decode()
    api = c.post(
        "/api/negatives-jobs/",
        {"endpoint": endpoint.pk, "mode": "each", "positives": {"kept_only": True}},
        content_type="application/json",
    )
    assert api.status_code == 201, api.content
    assert api.json()["total"] == 3 and api.json()["params"]["mode"] == "each"
    bad = c.post(
        "/api/negatives-jobs/",
        {"endpoint": endpoint.pk, "samples": 9},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "samples" in bad.json()
    assert (
        client_for(author)
        .post("/api/negatives-jobs/", {"endpoint": endpoint.pk}, content_type="application/json")
        .status_code
        == 403
    )
