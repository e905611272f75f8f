"""The prompts of Constitutional DPO negative synthesis (steps 1 and 2) and of the judge.

Every rendered prompt is compared with a golden file under ``golden/negatives/``; after a
deliberate change to a template, re-run with ``WEAVER_UPDATE_GOLDEN=1`` to rewrite the files,
read their diff, and bump ``PROMPT_VERSION`` or ``JUDGE_PROMPT_VERSION``.
"""

from dataclasses import replace

import jsonschema
import pytest

from pairs.generation.negative_prompts import (
    JUDGE_PROMPT_VERSION,
    JUDGE_SCHEMA,
    PROMPT_VERSION,
    REWRITE_SCHEMA,
    PositiveInfo,
    PrincipleInfo,
    judge_messages,
    rewrite_messages,
    select_messages,
    select_schema,
)

from .golden_files import GOLDEN as GOLDEN_ROOT
from .golden_files import check_golden, render

GOLDEN = GOLDEN_ROOT / "negatives"

# Accepted responses: passages from the shared sample corpus (public domain), copied here so
# the golden files never move with the corpus (zh-xiaohong-hulanhezhuan-07-10, en-grimm-027).
POSITIVES = {
    "zh": PositiveInfo(
        language="zh",
        domain="小说",
        subdomain="长篇小说章节",
        task="内容写作",
        instruction="写一段乡土小说片段，从一双破鞋写起，刻画一个穷困潦倒、却爱拿自己打趣的老长工，语言朴素，三百字左右。",
        context="",
        response=(
            "有二伯的鞋子，不是前边掉了底，就是后边缺了跟。\n"
            "他自己前边掌掌，后边钉钉，似乎钉也钉不好，掌也掌不好，过了几天，又是掉底缺跟仍然照旧。\n"
            "走路的时候拖拖的，再不然就趿趿的。前边掉了底，那鞋就张着嘴，他的脚好像舌头似的，"
            "每一迈步，就在那大嘴里边活动着，后边缺了跟，每一走动，就踢踢趿趿地脚跟打着鞋底发响。\n"
            "有二伯的脚，永远离不开地面，母亲说他的脚下了千斤闸。\n"
            "老厨子说有二伯的脚上了绊马锁。\n"
            "有二伯自己则说：“你二伯挂了绊脚丝了。”\n"
            "绊脚丝是人临死的时候挂在两只脚上的绳子。有二伯就这样地说着自己。"
        ),
    ),
    "en": PositiveInfo(
        language="en",
        domain="Fiction",
        subdomain="Fable and fairy tale",
        task="Content writing",
        instruction=(
            "Write a short fairy tale, under 300 words, about a family that mistreats its frail "
            "old grandfather until a small child shows them what they are doing. Keep it plain "
            "and simple, like a folk tale."
        ),
        context="",
        response=(
            "There was once a very old man, whose eyes had become dim, his ears dull of hearing, "
            "his knees trembled, and when he sat at table he could hardly hold the spoon, and "
            "spilt the broth upon the table-cloth or let it run out of his mouth. His son and his "
            "son's wife were disgusted at this, so the old grandfather at last had to sit in the "
            "corner behind the stove, and they gave him his food in an earthenware bowl, and not "
            "even enough of it. And he used to look towards the table with his eyes full of "
            "tears. Once, too, his trembling hands could not hold the bowl, and it fell to the "
            "ground and broke. The young wife scolded him, but he said nothing and only sighed. "
            "Then they brought him a wooden bowl for a few half-pence, out of which he had to "
            "eat.\n\n"
            "They were once sitting thus when the little grandson of four years old began to "
            "gather together some bits of wood upon the ground. 'What are you doing there?' "
            "asked the father. 'I am making a little trough,' answered the child, 'for father "
            "and mother to eat out of when I am big.'\n\n"
            "The man and his wife looked at each other for a while, and presently began to cry. "
            "Then they took the old grandfather to the table, and henceforth always let him eat "
            "with them, and likewise said nothing if he did spill a little of anything."
        ),
    ),
}

PRINCIPLES = {
    "zh": [
        PrincipleInfo(
            label="P1",
            title="以细节代替概括",
            description="写人物的处境和性格，要用读者看得见、听得见的具体细节去呈现，而不是由叙述者直接下结论。",
            following_instruction="写一段文字，表现一个老人生活的贫寒，一百字左右。",
            following_text=(
                "他的棉袄是二十年前做的，袖口磨得发亮，露出的棉絮早已发黑。"
                "吃饭时他把掉在桌上的饭粒一粒一粒捡起来，放进嘴里。"
            ),
            following_rationale="通篇没有一个“穷”字，贫寒全落在磨亮的袖口、发黑的棉絮和捡饭粒的动作上，读者自己就看出来了。",
            violating_instruction="写一段文字，表现一个老人生活的贫寒，一百字左右。",
            violating_text="他很穷，日子过得非常艰难。他的衣服很旧，吃饭也很节省，什么都舍不得浪费。",
            violating_rationale="叙述者直接宣布“很穷”“非常艰难”，“很旧”“很节省”也都是概括，读者看不到任何具体的画面。",
        ),
        PrincipleInfo(
            label="P2",
            title="比喻贴切，取自人物的世界",
            description="比喻要让读者对事物产生新的感受：喻体最好取自人物生活的环境，新鲜而准确；不要用现成的套话，也不要用与情境格格不入的比喻。",
            following_instruction="写一句话，描写北方乡下冬夜的月亮。",
            following_text="月亮挂在场院的草垛上，又白又冷，像一块刚从井里捞上来的冰。",
            following_rationale="“刚从井里捞上来的冰”是乡下人熟悉的东西，既写出了月亮的白，也写出了冬夜的冷。",
            violating_instruction="写一句话，描写北方乡下冬夜的月亮。",
            violating_text="月亮像一个银色的玉盘挂在天上，皎洁美丽，如梦如幻。",
            violating_rationale="“银色的玉盘”“如梦如幻”是用滥了的套话，和乡下冬夜的情境毫无关系，读者得不到任何新的感受。",
        ),
        PrincipleInfo(
            label="P3",
            title="借多方之口侧写人物",
            description="让不同的人物（包括人物自己）用各自的口吻评说同一个人，在声音的差异中立起人物；不要只靠叙述者一个声音来介绍。",
            following_instruction="写一段文字，介绍村里的一个懒汉，一百字左右。",
            following_text=(
                "“三狗子？太阳晒到屁股才起。”村长说。\n"
                "“他呀，扁担倒了都不扶。”王婶说。\n"
                "三狗子自己蹲在墙根下晒着太阳，说：“急啥，地又不会跑。”"
            ),
            following_rationale="三个人各用自己的口吻说话，村长的不屑、王婶的俏皮和三狗子的满不在乎叠在一起，人物不用介绍就立住了。",
            violating_instruction="写一段文字，介绍村里的一个懒汉，一百字左右。",
            violating_text="三狗子是村里出了名的懒汉，每天很晚才起床，什么活都不愿意干，对什么事都满不在乎。",
            violating_rationale="只有叙述者一个声音在介绍，别人怎么看他、他自己怎么说都没有出现，人物显得扁平。",
        ),
    ],
    "en": [
        PrincipleInfo(
            label="P1",
            title="Show, don't tell",
            description=(
                "Convey characters' feelings and situations through concrete action, detail "
                "and speech the reader can see and hear, instead of having the narrator name "
                "them."
            ),
            following_instruction="Write two or three sentences showing that a woman is nervous before a job interview.",
            following_text=(
                "She checked the address on her phone for the fourth time, then smoothed a skirt "
                "that had no creases. When the receptionist called her name, she stood up so "
                "fast that her bag slid off the chair."
            ),
            following_rationale=(
                "The nervousness is never named; it comes through the repeated checking, the "
                "needless smoothing and the clumsy rush to stand."
            ),
            violating_instruction="Write two or three sentences showing that a woman is nervous before a job interview.",
            violating_text=(
                "She was very nervous about the interview. She felt anxious and worried that it "
                "would not go well, and she could not calm down."
            ),
            violating_rationale=(
                "The narrator simply tells us she is nervous, anxious and worried; there is "
                "nothing for the reader to see, so the feeling stays abstract."
            ),
        ),
        PrincipleInfo(
            label="P2",
            title="Let the ending land without a moral",
            description=(
                "Trust the reader: end on the decisive image, action or line and let its "
                "meaning sink in, instead of spelling out the lesson or explaining what the "
                "characters learned."
            ),
            following_instruction=(
                "Write the last lines of a short story in which a young man, after years of "
                "silence, visits his estranged father."
            ),
            following_text=(
                "His father opened the door and looked at him for a long time. Then he stepped "
                "aside and said, “The kettle's just boiled.”"
            ),
            following_rationale=(
                "The reconciliation is carried by one ordinary gesture and one plain line; the "
                "reader feels its weight without being told."
            ),
            violating_instruction=(
                "Write the last lines of a short story in which a young man, after years of "
                "silence, visits his estranged father."
            ),
            violating_text=(
                "His father opened the door and looked at him for a long time. Then he stepped "
                "aside and said, “The kettle's just boiled.” And so the young man learned that "
                "it is never too late to forgive, and that love can heal even the oldest wounds."
            ),
            violating_rationale=(
                "The added moral explains what the gesture already said; it flattens the ending "
                "into a lesson and takes the discovery away from the reader."
            ),
        ),
        PrincipleInfo(
            label="P3",
            title="Dialogue reveals character",
            description=(
                "Let what people say, and how they say it, show who they are; do not use "
                "dialogue only to pass on information the narrator could give."
            ),
            following_instruction="Write a short exchange in which a landlady asks a lodger for overdue rent.",
            following_text=(
                "“Lovely weather for paying debts, Mr. Pike.”\n"
                "“Is it? I hadn't looked out. Thursday, Mrs. Dunn, on my mother's grave.”\n"
                "“Your mother's been buried four Thursdays running.”"
            ),
            following_rationale=(
                "Her dry irony and his practised excuses tell us who both of them are and how "
                "long this has gone on, without a word of explanation."
            ),
            violating_instruction="Write a short exchange in which a landlady asks a lodger for overdue rent.",
            violating_text=(
                "“Mr. Pike, your rent is four weeks overdue.”\n"
                "“I know, Mrs. Dunn. I will pay you on Thursday.”\n"
                "“Very well. Please make sure you do.”"
            ),
            violating_rationale=(
                "The lines only pass on facts; the two speakers sound alike and reveal nothing "
                "of themselves."
            ),
        ),
    ],
}

# The principle each golden rewrite and judge prompt is about, and a plausible rewrite.
CHOSEN = {"zh": 0, "en": 1}
REJECTED = {
    "zh": (
        "有二伯的鞋子，不是前边掉了底，就是后边缺了跟。\n"
        "他自己前边掌掌，后边钉钉，似乎钉也钉不好，掌也掌不好，过了几天，又是掉底缺跟仍然照旧。\n"
        "他的鞋子破得不成样子，走起路来很不方便，样子十分狼狈。\n"
        "有二伯的脚，永远离不开地面，母亲说他的脚下了千斤闸。\n"
        "老厨子说有二伯的脚上了绊马锁。\n"
        "有二伯自己则说：“你二伯挂了绊脚丝了。”\n"
        "绊脚丝是人临死的时候挂在两只脚上的绳子。有二伯就这样地说着自己。"
    ),
    "en": POSITIVES["en"].response
    + " And so they learned that as we treat the old, so shall we ourselves be treated when we "
    "are old.",
}


def user_of(messages: list[dict]) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


# Golden files.


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_select_prompt_matches_golden_file(lang):
    messages = select_messages(POSITIVES[lang], PRINCIPLES[lang])
    assert [m["role"] for m in messages] == ["system", "user"]
    check_golden(
        "negatives/" + f"select.{lang}.txt",
        render(messages),
        bump="PROMPT_VERSION or JUDGE_PROMPT_VERSION",
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rewrite_prompt_matches_golden_file(lang):
    messages = rewrite_messages(POSITIVES[lang], PRINCIPLES[lang][CHOSEN[lang]])
    assert [m["role"] for m in messages] == ["system", "user"]
    check_golden(
        "negatives/" + f"rewrite.{lang}.txt",
        render(messages),
        bump="PROMPT_VERSION or JUDGE_PROMPT_VERSION",
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_judge_prompt_matches_golden_file(lang):
    messages = judge_messages(POSITIVES[lang], PRINCIPLES[lang][CHOSEN[lang]], REJECTED[lang])
    assert [m["role"] for m in messages] == ["system", "user"]
    check_golden(
        "negatives/" + f"judge.{lang}.txt",
        render(messages),
        bump="PROMPT_VERSION or JUDGE_PROMPT_VERSION",
    )


def test_versions():
    assert PROMPT_VERSION == "cdpo-v1"
    assert JUDGE_PROMPT_VERSION == "cdpo-judge-v1"


# Schemas.


def test_select_schema_accepts_a_listed_label_and_rejects_anything_else():
    schema = select_schema(["P1", "P2", "P3"])
    assert list(schema["properties"]) == ["reason", "principle"]
    assert schema["required"] == ["reason", "principle"]
    jsonschema.validate(
        {"reason": "The shoes are shown, not summed up.", "principle": "P2"}, schema
    )
    for bad in (
        {"reason": "Fine.", "principle": "P4"},
        {"reason": "Fine.", "principle": "p1"},
        {"reason": "Fine.", "principle": 1},
        {"reason": "", "principle": "P1"},
        {"principle": "P1"},
        {"reason": "Fine."},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


@pytest.mark.parametrize("labels", [[], ["P1", "P1"], ["P1", " "]])
def test_select_schema_refuses_empty_duplicate_or_blank_labels(labels):
    with pytest.raises(ValueError):
        select_schema(labels)


def test_select_messages_refuse_no_principles_and_duplicate_labels():
    with pytest.raises(ValueError, match="at least one principle"):
        select_messages(POSITIVES["en"], [])
    twice = [PRINCIPLES["en"][0], replace(PRINCIPLES["en"][1], label="P1")]
    with pytest.raises(ValueError, match="unique"):
        select_messages(POSITIVES["en"], twice)


def test_rewrite_schema_requires_a_rationale_and_a_non_empty_rejected_text():
    assert list(REWRITE_SCHEMA["properties"]) == ["rationale", "rejected"]
    assert REWRITE_SCHEMA["required"] == ["rationale", "rejected"]
    good = {"rationale": "Replace the shoe sentence with a summary.", "rejected": "有二伯很穷。"}
    jsonschema.validate(good, REWRITE_SCHEMA)
    for bad in (
        {**good, "rejected": ""},
        {**good, "rationale": ""},
        {**good, "rejected": None},
        {"rationale": "Why."},
        {"rejected": "Text."},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, REWRITE_SCHEMA)


def test_judge_schema_requires_booleans():
    assert list(JUDGE_SCHEMA["properties"]) == ["reason", "breaks_principle", "otherwise_as_good"]
    good = {
        "reason": "B tells instead of showing.",
        "breaks_principle": True,
        "otherwise_as_good": False,
    }
    jsonschema.validate(good, JUDGE_SCHEMA)
    for key in ("breaks_principle", "otherwise_as_good"):
        for value in ("true", 1, 0, None, "yes"):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate({**good, key: value}, JUDGE_SCHEMA)
    for key in good:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({k: v for k, v in good.items() if k != key}, JUDGE_SCHEMA)


# What the prompts show.


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_select_prompt_lists_every_label_and_restricts_the_answer_to_them(lang):
    principles = PRINCIPLES[lang] + [replace(PRINCIPLES[lang][0], label="P7", title="Extra")]
    user = user_of(select_messages(POSITIVES[lang], principles))
    for principle in principles:
        assert f"[{principle.label}] {principle.title}\n{principle.description}" in user
    assert user.endswith('{"reason": "...", "principle": "<P1|P2|P3|P7>"}')
    listed = "P1、P2、P3、P7" if lang == "zh" else "P1, P2, P3, P7"
    assert listed in user
    assert POSITIVES[lang].response in user
    assert POSITIVES[lang].instruction in user
    # The cases appear only as a gist, not as whole texts.
    assert PRINCIPLES[lang][0].following_text not in user
    assert PRINCIPLES[lang][0].violating_text not in user


def test_select_prompt_shows_a_one_line_gist_of_long_rationales():
    long = "The nervousness is shown\nthrough gestures. " + "More detail here. " * 30
    principle = replace(PRINCIPLES["en"][0], following_rationale=long)
    user = user_of(select_messages(POSITIVES["en"], [principle]))
    line = next(x for x in user.splitlines() if x.startswith("Following case: "))
    assert line.startswith("Following case: The nervousness is shown through gestures. More")
    assert line.endswith("…")
    assert len(line) == len("Following case: ") + 160
    short = user_of(select_messages(POSITIVES["en"], [PRINCIPLES["en"][0]]))
    assert "Following case: " + PRINCIPLES["en"][0].following_rationale + "\n" in short


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rewrite_prompt_carries_the_worked_example_and_the_response(lang):
    principle = PRINCIPLES[lang][CHOSEN[lang]]
    system, user = (m["content"] for m in rewrite_messages(POSITIVES[lang], principle))
    assert POSITIVES[lang].domain in system and POSITIVES[lang].subdomain in system
    assert "<<<\n" + principle.following_text + "\n>>>" in user
    assert "<<<\n" + principle.violating_text + "\n>>>" in user
    assert principle.following_rationale in user and principle.violating_rationale in user
    assert principle.description in user
    # The example comes before the response to rewrite, and the following case before the
    # violating one.
    assert (
        user.index(principle.following_text)
        < user.index(principle.violating_text)
        < user.index(POSITIVES[lang].response)
    )
    # Only the chosen principle is shown.
    for other in PRINCIPLES[lang]:
        if other is not principle:
            assert other.title not in user and other.following_text not in user
    # Both cases share one instruction: it is shown once.
    assert user.count(principle.following_instruction) == 1
    assert user.endswith('{"rationale": "...", "rejected": "..."}')


def test_rewrite_prompt_shows_each_cases_instruction_when_they_differ():
    principle = replace(
        PRINCIPLES["en"][0], violating_instruction="Describe a nervous woman, in two sentences."
    )
    user = user_of(rewrite_messages(POSITIVES["en"], principle))
    assert (
        user.index(principle.following_instruction)
        < user.index(principle.following_text)
        < user.index("Describe a nervous woman, in two sentences.")
        < user.index(principle.violating_text)
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_judge_prompt_shows_both_responses_and_the_principle(lang):
    principle = PRINCIPLES[lang][CHOSEN[lang]]
    user = user_of(judge_messages(POSITIVES[lang], principle, REJECTED[lang]))
    assert principle.title in user and principle.description in user
    a = "<<<\n" + POSITIVES[lang].response + "\n>>>"
    b = "<<<\n" + REJECTED[lang] + "\n>>>"
    assert a in user and b in user and user.index(a) < user.index(b)
    assert "breaks_principle" in user and "otherwise_as_good" in user
    assert user.endswith(
        '{"reason": "...", "breaks_principle": <true|false>, "otherwise_as_good": <true|false>}'
    )


def test_context_is_shown_only_when_there_is_one():
    for lang, marker in (("en", "Context:"), ("zh", "上下文：")):
        positive = POSITIVES[lang]
        principle = PRINCIPLES[lang][0]
        renders = (
            lambda p, principle=principle: select_messages(p, [principle]),
            lambda p, principle=principle: rewrite_messages(p, principle),
            lambda p, principle=principle: judge_messages(p, principle, "B"),
        )
        for build in renders:
            assert marker not in user_of(build(positive))
            with_context = user_of(build(replace(positive, context="  A first draft.  ")))
            assert marker + "\n<<<\nA first draft.\n>>>" in with_context


def test_prompt_language_follows_the_positive():
    zh = replace(POSITIVES["zh"], language="zh-hans")
    assert select_messages(zh, PRINCIPLES["zh"])[0]["content"].startswith("你是一位资深的写作导师")
    assert "请仿照示例" in user_of(rewrite_messages(zh, PRINCIPLES["zh"][0]))
    assert judge_messages(zh, PRINCIPLES["zh"][0], "B")[0]["content"].startswith(
        "你是一位严格的评审"
    )
    fr = replace(POSITIVES["en"], language="fr", subdomain="", task="")
    system, user = (m["content"] for m in rewrite_messages(fr, PRINCIPLES["en"][0]))
    assert system.startswith("You are a teacher of the writing principles of Fiction. ")
    assert "Subdomain:" not in user and "Task type:" not in user
    assert "Domain: Fiction\n" in user


def test_braces_in_user_text_render_verbatim():
    braces = 'He wrote {x} and {0} and {{y}} and "}" on the wall.'
    positive = PositiveInfo(
        language="en",
        domain="Fiction {genre}",
        subdomain="{sub}",
        task="{task}",
        instruction="Write {n} words.",
        context="{ctx}",
        response=braces,
    )
    principle = PrincipleInfo(
        label="{P1}",
        title="{title}",
        description="{description}",
        following_instruction="{fi}",
        following_text="{ft}",
        following_rationale="{fr}",
        violating_instruction="{vi}",
        violating_text="{vt}",
        violating_rationale="{vr}",
    )
    system, user = (m["content"] for m in select_messages(positive, [principle]))
    assert "your field is Fiction {genre} ({sub})." in system
    assert "<<<\n" + braces + "\n>>>" in user
    assert "[{P1}] {title}\n{description}\nFollowing case: {fr}\nViolating case: {vr}" in user
    assert "labels listed above: {P1}." in user
    assert "Domain: Fiction {genre}\nSubdomain: {sub}\nTask type: {task}" in user
    jsonschema.validate({"reason": "{}", "principle": "{P1}"}, select_schema(["{P1}"]))

    user = user_of(rewrite_messages(positive, principle))
    for value in ("{fi}", "{ft}", "{fr}", "{vi}", "{vt}", "{vr}", "{ctx}", "Write {n} words."):
        assert value in user
    assert "<<<\n" + braces + "\n>>>" in user
    assert "violates the principle “{title}”" in user

    user = user_of(judge_messages(positive, principle, "B said {rejected} }{"))
    assert "<<<\nB said {rejected} }{\n>>>" in user
    assert "<<<\n" + braces + "\n>>>" in user

    zh = replace(positive, language="zh")
    assert "违背“{title}”这条原则" in user_of(rewrite_messages(zh, principle))
