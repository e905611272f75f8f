import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from .conftest import ROOT

PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="module")
def fresh_catalogue(tmp_path_factory):
    """The catalogue as makemessages makes it from the current code, merged with ours."""
    if not shutil.which("xgettext"):
        pytest.fail("GNU gettext (xgettext) is needed: apt-get install gettext")
    copy = tmp_path_factory.mktemp("src")
    for name in ("manage.py", "weaver_site", "principles", "pairs", "training", "locale"):
        src = ROOT / name
        (shutil.copy if src.is_file() else shutil.copytree)(src, copy / name)
    env = {"PATH": "/usr/bin:/bin", "WEAVER_DATA_DIR": str(copy / "var")}
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def statistics(po) -> str:
    result = subprocess.run(  # noqa: S603
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip()


def test_every_string_in_the_code_is_translated(fresh_catalogue):
    stats = statistics(fresh_catalogue)
    assert "untranslated" not in stats and "fuzzy" not in stats, (
        f"{stats}: run `make messages`, translate the new strings in {PO.relative_to(ROOT)}"
    )


def test_compiled_catalogue_is_current(tmp_path):
    out = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", str(out), str(PO)], check=True)  # noqa: S603,S607
    assert out.read_bytes() == MO.read_bytes(), "run `make messages` to recompile django.mo"


def test_pages_switch_to_chinese(client_for, author):
    c = client_for(author)
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = c.get("/principles/").content.decode()
    assert 'lang="zh-hans"' in page and "原则" in page and "Principles</h1>" not in page
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Principles</h1>" in c.get("/principles/").content.decode()


def test_taxonomy_names_follow_the_language(client_for, author):
    c = client_for(author)
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = c.get("/principles/new/").content.decode()
    assert "创意非虚构" in page and "头脑风暴" in page
