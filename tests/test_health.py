import pytest
from django.utils import timezone

from weaver_site.services import worker_heartbeat_record

from .conftest import wait_for


def test_anonymous_health_shows_status_only(client, db):
    response = client.get("/api/health/")
    assert response.status_code == 200
    assert set(response.json()) == {"status"}


def test_health_details_for_a_signed_in_user(client_for, reviewer):
    worker_heartbeat_record(hostname="llm@box", queues=["llm"], pid=1, started_at=timezone.now())
    report = client_for(reviewer).get("/api/health/").json()
    assert report["database"]["ok"] and report["broker"]["ok"]
    assert report["queues"]["llm"] == {"ok": True, "workers": ["llm@box"]}
    assert report["queues"]["gpu"] == {"ok": False, "workers": []}
    assert report["status"] == "degraded"
    page = client_for(reviewer).get("/health/").content.decode()
    assert "llm@box" in page and "no worker" in page


def test_stale_heartbeats_do_not_count(client_for, reviewer, settings):
    worker_heartbeat_record(
        hostname="old@box",
        queues=["default"],
        pid=1,
        started_at=timezone.now() - timezone.timedelta(hours=1),
    )
    from weaver_site.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timezone.timedelta(minutes=5))
    report = client_for(reviewer).get("/api/health/").json()
    assert report["queues"]["default"]["workers"] == []


@pytest.mark.worker
def test_a_real_worker_shows_up_per_queue_and_leaves_on_shutdown(
    celery_worker_process, client_for, reviewer
):
    worker = celery_worker_process(queues="default,gpu", name="probe")
    c = client_for(reviewer)

    def live():
        report = c.get("/api/health/").json()
        return report if report["queues"]["default"]["ok"] else None

    try:
        report = wait_for(live, timeout=90, message="a worker heartbeat")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_path.read_text()[-3000:]}") from None
    assert report["queues"]["default"]["workers"][0].startswith("probe@")
    assert report["queues"]["gpu"]["ok"] and not report["queues"]["llm"]["ok"]
    assert report["broker"]["ok"]
    worker.terminate()
    assert worker.wait(timeout=60) == 0, worker.log_path.read_text()[-3000:]
    # The worker removes its heartbeat as it stops (else it would expire after three beats).
    wait_for(
        lambda: c.get("/api/health/").json()["queues"]["default"]["workers"] == [],
        timeout=10,
        message="the worker to leave the health report\n" + worker.log_path.read_text()[-3000:],
    )
