import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from .conftest import ROOT, wait_for


def run(*args, **env):
    out = io.StringIO()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        call_command(*args, stdout=out)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out.getvalue()


def test_add_user_with_roles(db):
    out = run(
        "add_user",
        "carol",
        "--roles",
        "author,Reviewer",
        "--password-env",
        "PW",
        PW="a-long-enough-passphrase",
    )
    assert "Author, Reviewer" in out
    user = get_user_model().objects.get(username="carol")
    assert sorted(user.groups.values_list("name", flat=True)) == ["Author", "Reviewer"]
    assert user.check_password("a-long-enough-passphrase") and not user.is_staff
    run(
        "add_user",
        "carol",
        "--roles",
        "admin",
        "--password-env",
        "PW",
        PW="another-long-passphrase",
    )
    user.refresh_from_db()
    assert list(user.groups.values_list("name", flat=True)) == ["Admin"] and user.is_staff


def test_add_user_refuses_unknown_roles_and_weak_passwords(db):
    with pytest.raises(CommandError, match="Unknown role"):
        run("add_user", "dan", "--roles", "wizard", "--generate-password")
    with pytest.raises(CommandError, match="too short|too common"):
        run("add_user", "dan", "--roles", "author", "--password-env", "PW", PW="abc")
    assert not get_user_model().objects.filter(username="dan").exists()


def test_ensure_admin_prints_a_generated_password_once(db, monkeypatch):
    monkeypatch.delenv("WEAVER_ADMIN_PASSWORD", raising=False)
    first = run("ensure_admin")
    password = first.split("Password (shown once): ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(password) and admin.is_superuser
    second = run("ensure_admin")
    assert "Password" not in second and "exists" in second


def test_ensure_admin_takes_the_password_from_the_environment(db):
    run("ensure_admin", WEAVER_ADMIN_PASSWORD="from-the-env-123")
    assert get_user_model().objects.get(username="admin").check_password("from-the-env-123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.worker
def test_runstudio_serves_and_ctrl_c_stops_everything(tmp_path):
    """What `make run` starts: gunicorn and a worker per queue; SIGINT stops them all."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        WEAVER_DATA_DIR=str(tmp_path),
        WEAVER_HEARTBEAT_SECONDS="1",
        WEAVER_ADMIN_PASSWORD="studio-admin-pass-1",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput", "-v0"], ["ensure_admin"]):
        subprocess.run(
            manage + step, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )
    port = free_port()
    log = open(tmp_path / "studio.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        manage + ["runstudio", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def login_page():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=2
                ) as r:
                    return r.status == 200 and b"Log in" in r.read()
            except OSError:
                return False

        wait_for(login_page, timeout=60, message="the login page")

        import json

        base = f"http://127.0.0.1:{port}"
        request = urllib.request.Request(
            f"{base}/api/auth/token/",
            method="POST",
            data=json.dumps({"username": "admin", "password": "studio-admin-pass-1"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            token = json.load(r)["token"]

        def workers():
            health = urllib.request.Request(
                f"{base}/api/health/", headers={"Authorization": f"Token {token}"}
            )
            with urllib.request.urlopen(health, timeout=10) as r:
                queues = json.load(r)["queues"]
            return all(q["ok"] for q in queues.values()) and len(queues) == 3

        wait_for(workers, timeout=90, interval=1, message="a live worker on every queue")
        children = subprocess.run(
            ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 5  # runstudio, gunicorn master + worker, 3 celery workers
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=60) == 0
        time.sleep(0.5)
        left = subprocess.run(
            ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert left == [], f"processes left running: {left}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
