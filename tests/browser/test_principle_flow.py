"""The principle flow a person goes through, in Chromium."""

import re

from playwright.sync_api import expect

from principles.models import Principle, VersionState

FOLLOWING = "门外传来脚步声。她放下手中的针线，快步走到门边，又停住，理了理鬓角的头发。"
VIOLATING = "门外传来脚步声。她非常激动，心里充满了期待和紧张。"


def test_author_writes_admin_approves_author_revises(page, login, author, admin_user, live_server):
    # The author writes a Chinese principle with both cases and their rationales.
    login(author)
    page.goto("/principles/")
    page.get_by_role("link", name="New principle").click()
    page.select_option("#id_domain", "fiction")
    page.select_option("#id_task", "content_writing")
    page.select_option("#id_language", "zh")
    page.fill("#id_title", "以动作写情绪")
    page.fill("#id_description", "通过人物的动作与细节表现情绪，而不是直接说出情绪。")
    page.fill("#id_following_instruction", "写一段女子听到丈夫归来的场景。")
    page.fill("#id_following_text", FOLLOWING)
    page.fill("#id_following_rationale", "她的期待藏在动作里，读者自己体会。")
    page.fill("#id_violating_instruction", "写一段女子听到丈夫归来的场景。")
    page.fill("#id_violating_text", VIOLATING)
    page.fill("#id_violating_rationale", "直接点明情绪，读者无从体会。")

    # The live diff marks what the violating text changes, character by character.
    diff = page.locator("#live-diff")
    expect(diff.locator("del.diff-del").first).to_be_visible()
    expect(diff.locator("ins.diff-ins").first).to_be_visible()
    assert "非常激动" in diff.locator("ins.diff-ins").all_inner_texts()[0] + "".join(
        diff.locator("ins.diff-ins").all_inner_texts()
    )
    assert "门外传来脚步声。" not in "".join(diff.locator("del, ins").all_inner_texts())

    page.fill("#id_change_note", "初稿")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#principle-status")).to_have_text("Draft")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#principle-status")).to_have_text("In review")
    principle = Principle.objects.get()
    url = f"/principles/{principle.pk}/"

    # The admin approves it.
    login(admin_user)
    page.goto(url)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#principle-status")).to_have_text("Approved")
    expect(page.locator("#version-in-use")).to_have_text("Version 1 in use")

    # The author edits it: version 2 is a draft while version 1 stays approved.
    login(author)
    page.goto(url)
    page.get_by_role("link", name="Edit").click()
    expect(page.locator("#id_title")).to_have_value("以动作写情绪")
    page.fill("#id_following_text", FOLLOWING.replace("快步", "小跑着"))
    page.fill("#id_change_note", "动作更具体")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#principle-status")).to_have_text("Draft")
    expect(page.locator("#version-in-use")).to_have_text("Version 1 in use")
    versions = {v.number: v.state for v in principle.versions.all()}
    assert versions == {1: VersionState.APPROVED, 2: VersionState.DRAFT}

    # The version diff shows exactly the change.
    page.get_by_role("button", name="Show changes").click()
    expect(page).to_have_url(re.compile(r"/diff/\?a=1&b=2$"))
    changed = page.locator("tr.changed")
    expect(changed).to_have_count(1)
    expect(changed.locator("del.diff-del")).to_have_text("快步")
    expect(changed.locator("ins.diff-ins")).to_have_text("小跑着")

    # The interface switches to Chinese and back.
    page.select_option("#lang-select", "zh-hans")
    expect(page.get_by_role("navigation").get_by_role("link", name="原则")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("版本")
    page.select_option("#lang-select", "en")
    expect(page.get_by_role("navigation").get_by_role("link", name="Principles")).to_be_visible()


def test_nothing_typed_is_lost_when_validation_fails(page, login, author):
    login(author)
    page.goto("/principles/new/")
    page.select_option("#id_language", "zh")
    page.fill("#id_title", "保留输入")
    page.fill("#id_following_text", "甲乙丙丁")
    page.fill("#id_violating_text", "甲乙丙丁")  # identical: refused
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("div.errors").first).to_be_visible()
    expect(page.locator("#id_title")).to_have_value("保留输入")
    expect(page.locator("#id_following_text")).to_have_value("甲乙丙丁")
    expect(page.locator("#id_language")).to_have_value("zh")
    assert Principle.objects.count() == 0
