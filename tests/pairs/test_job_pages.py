"""Pages that start scoring jobs and selections, and watch them."""

from decimal import Decimal

import pytest

from pairs.models import Selection
from weaver_site.llm.models import CallStatus, Endpoint, LLMCall
from weaver_site.models import Job, JobStatus

from .test_scoring_selection import make_texts

PAGES = ["/corpus/score/", "/corpus/selections/new/"]


@pytest.mark.parametrize("url", PAGES)
def test_only_engineers_and_admins(url, client_for, engineer, admin_user, author, reviewer, norole):
    for user in (engineer, admin_user):
        assert client_for(user).get(url).status_code == 200
    for user in (author, reviewer, norole):
        assert client_for(user).get(url).status_code == 403


def test_starting_a_scoring_job(
    client_for, engineer, django_capture_on_commit_callbacks, monkeypatch
):
    from pairs.corpus import scoring_tasks

    queued = []
    monkeypatch.setattr(scoring_tasks.run_scoring, "delay", lambda job_id: queued.append(job_id))
    make_texts([{"text": "one"}, {"text": "two", "language": "zh"}])
    endpoint = Endpoint.objects.create(name="e", base_url="http://127.0.0.1:9/v1", model="m")
    c = client_for(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(
            "/corpus/score/", {"endpoint": endpoint.pk, "language": "zh", "budget_usd": "0.5"}
        )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/corpus/jobs/{job.pk}/"
    assert queued == [job.pk] and job.total == 1 and job.budget_usd == Decimal("0.5")
    LLMCall.objects.create(
        endpoint=endpoint,
        job=job,
        request_hash="h",
        status=CallStatus.INVALID,
        raw_text="<script>alert(1)</script> not JSON",
        error="answer not valid JSON",
    )
    page = c.get(f"/corpus/jobs/{job.pk}/").content.decode()
    assert 'id="job-progress"' in page and "not valid JSON" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    partial = c.get(f"/corpus/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="job-state"' in partial
    c.post(f"/corpus/jobs/{job.pk}/")  # cancel
    assert Job.objects.get().status == JobStatus.CANCELLED


def test_bad_scoring_form_keeps_input(client_for, engineer):
    response = client_for(engineer).post("/corpus/score/", {"budget_usd": "-1"})
    assert response.status_code == 400 and "-1" in response.content.decode()
    assert not Job.objects.exists()


def test_creating_a_selection(client_for, engineer):
    make_texts(
        [{"text": "a", "llm_score": 5, "signals": {"reads": 3}}, {"text": "b", "llm_score": 2}]
    )
    c = client_for(engineer)
    bad = c.post(
        "/corpus/selections/new/",
        {"name": "s", "top_n": 1, "score_weight": 1, "signal_weights": "reads=high"},
    )
    assert bad.status_code == 400 and "reads=high" in bad.content.decode()
    response = c.post(
        "/corpus/selections/new/",
        {"name": "best", "top_n": 1, "score_weight": 1, "signal_weights": "reads=0.5"},
    )
    selection = Selection.objects.get()
    assert response["Location"] == f"/corpus/selections/{selection.pk}/"
    assert selection.params["weights"] == {"score": 1.0, "signals": {"reads": 0.5}}
    page = c.get(response["Location"]).content.decode()
    assert "best" in page and selection.size == 1


def test_cleaning_page_starts_the_steps_with_chosen_thresholds(
    client_for, engineer, author, monkeypatch, django_capture_on_commit_callbacks
):
    from pairs.corpus import cleaning_tasks

    calls = []
    monkeypatch.setattr(cleaning_tasks.run_filter, "delay", lambda *a: calls.append(("filter", a)))
    monkeypatch.setattr(cleaning_tasks.run_spans, "delay", lambda *a: calls.append(("spans", a)))
    monkeypatch.setattr(cleaning_tasks.run_dedup, "delay", lambda *a: calls.append(("dedup", a)))
    assert client_for(author).get("/corpus/clean/").status_code == 403
    c = client_for(engineer)
    form = c.get("/corpus/clean/").context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(run_filters="on", run_spans="on", target_chars=500, q_min_chars_en=50)
    data.pop("run_dedup")
    with django_capture_on_commit_callbacks(execute=True):
        assert c.post("/corpus/clean/", data).status_code == 302
    kinds = [k for k, _ in calls]
    assert kinds == ["filter", "spans"]
    assert calls[0][1][1]["min_chars_en"] == 50 and calls[1][1] == (None, 500)
    bad = c.post("/corpus/clean/", {**data, "q_max_digit_ratio": "-1"})
    assert bad.status_code == 400


def test_api_creates_selections_and_scoring_jobs(
    client_for, engineer, author, monkeypatch, django_capture_on_commit_callbacks
):
    from pairs.corpus import scoring_tasks

    monkeypatch.setattr(scoring_tasks.run_scoring, "delay", lambda job_id: None)
    make_texts([{"text": "a", "llm_score": 4}, {"text": "b", "llm_score": 2}])
    endpoint = Endpoint.objects.create(name="e", base_url="http://127.0.0.1:9/v1", model="m")
    c = client_for(engineer)
    body = {"name": "api-sel", "top_n": 1, "weights": {"score": 1.0, "signals": {}}}
    response = c.post("/api/corpus/new-selection/", body, content_type="application/json")
    assert response.status_code == 201 and response.json()["name"] == "api-sel"
    dup = c.post("/api/corpus/new-selection/", body, content_type="application/json")
    assert dup.status_code == 400 and "name" in dup.json()
    with django_capture_on_commit_callbacks(execute=True):
        job = c.post(
            "/api/corpus/scoring-jobs/",
            {"endpoint": endpoint.pk, "budget_usd": "1.5"},
            content_type="application/json",
        )
    assert (
        job.status_code == 201 and job.json()["total"] == 2 and job.json()["budget_usd"] == "1.5000"
    )
    assert c.get(f"/api/jobs/{job.json()['id']}/").json()["kind"] == "corpus.score"
    for url in ("/api/corpus/new-selection/", "/api/corpus/scoring-jobs/"):
        assert client_for(author).post(url, {}, content_type="application/json").status_code == 403
