"""The prompt recipes of instruction backtranslation and the curation prompt.

Every rendered prompt is compared with a golden file under ``golden/backtranslation/``; after a
deliberate change to a template, re-run with ``WEAVER_UPDATE_GOLDEN=1`` to rewrite the files,
read their diff, and bump the recipe's version.
"""

import jsonschema
import pytest

from pairs.generation.recipes import (
    CURATION_PROMPT_VERSION,
    CURATION_SCHEMA,
    RECIPES,
    Example,
    Recipe,
    SpanInfo,
    curation_messages,
    recipe_for,
)
from principles.taxonomy import TASKS

from .golden_files import GOLDEN as GOLDEN_ROOT
from .golden_files import check_golden, render

GOLDEN = GOLDEN_ROOT / "backtranslation"
SLUGS = [slug for slug, _, _ in TASKS]

# Passages from the shared sample corpus (public domain), copied here so the golden files
# never move with the corpus.
SPANS = {
    "zh": SpanInfo(
        text=(
            "正在吵吵叫叫的时候，祖父奔到了，祖父说：“你在干什么？”\n"
            "我说：\n"
            "“赶鸭子，鸭子掉井，捞出来好烧吃。”\n"
            "祖父说：“不用赶了，爷爷抓个鸭子给你烧着。”\n"
            "我不听他的话，我还是追在鸭子的后边跑着。\n"
            "祖父上前来把我拦住了，抱在怀里，一面给我擦着汗一面说：“跟爷爷回家，抓个鸭子烧上。”\n"
            "我想：不掉井的鸭子，抓都抓不住，可怎么能规规矩矩贴起黄泥来让烧呢？"
            "于是我从祖父的身上往下挣扎着，喊着：“我要掉井的！我要掉井的！”\n"
            "祖父几乎抱不住我了。"
        ),
        language="zh",
        domain="小说",
        subdomain="长篇小说章节",
        title="呼兰河传·第三章",
    ),
    "en": SpanInfo(
        text=(
            "And that afternoon Sue came to the bed where Johnsy lay, contentedly knitting a "
            "very blue and very useless woolen shoulder scarf, and put one arm around her, "
            "pillows and all.\n\n"
            "“I have something to tell you, white mouse,” she said. “Mr. Behrman died of "
            "pneumonia today in the hospital. He was ill only two days. The janitor found him on "
            "the morning of the first day in his room downstairs helpless with pain. His shoes "
            "and clothing were wet through and icy cold. They couldn’t imagine where he had been "
            "on such a dreadful night. And then they found a lantern, still lighted, and a ladder "
            "that had been dragged from its place, and some scattered brushes, and a palette with "
            "green and yellow colors mixed on it, and—look out the window, dear, at the last ivy "
            "leaf on the wall. Didn’t you wonder why it never fluttered or moved when the wind "
            "blew? Ah, darling, it’s Behrman’s masterpiece—he painted it there the night that "
            "the last leaf fell.”"
        ),
        language="en",
        domain="Fiction",
        subdomain="Short story",
        title="The Last Leaf",
    ),
}

EXAMPLES = {
    "zh": [
        Example(
            source_span=(
                "老胡家的团圆媳妇死了不久，他家的大孙子媳妇就跟人跑了。\n"
                "奶奶婆婆后来也死了。\n"
                "她变成一个半疯了。\n"
                "老胡家从此不大被人记得了。"
            ),
            context="老胡家的团圆媳妇死后，大孙子媳妇跟人跑了，奶奶婆婆也死了。从此老胡家不大被人记得了。",
            instruction="写一段小说片段，用平静克制的白描，讲一户小城人家在接连的变故后怎样败落下去，三百字以内。",
            output="1. 团圆媳妇死后，大孙子媳妇出走\n2. 奶奶婆婆去世\n3. 儿媳妇成了半疯\n4. 这家人渐渐被人遗忘",
            rationale="这段文字用短句白描一户人家的败落，叙述冷静，情感藏在事实里。指令应点明题材、克制的语气和篇幅，而不透露具体人物。",
        ),
        Example(
            source_span=(
                "我在年青时候也曾经做过许多梦，后来大半忘却了，但自己也并不以为可惜。"
                "所谓回忆者，虽说可以使人欢欣，有时也不免使人寂寞。"
            ),
            context="我年轻时做过很多梦，后来大多都忘了，我也不觉得可惜。回忆有时让人快乐，有时也让人寂寞。",
            instruction="请用含蓄、略带自嘲的笔调写一段书的自序开头，谈谈年轻时的梦想与回忆，一百字左右。",
            output="- 写一个忘不掉旧梦的中年人，把回忆当作写作的起点\n- 以“回忆使人欢欣也使人寂寞”为题写一篇随笔",
            rationale="这是一篇自序的开头，语气沉郁而克制，用长句缓缓铺陈回忆的两面。指令应说明体裁、主题和语气，不照搬原句。",
        ),
    ],
    "en": [
        Example(
            source_span=(
                "Suddenly there would come a loud knock at the gate.\n\n"
                "Olenka would wake up breathless with alarm, her heart throbbing. Half a minute "
                "later would come another knock.\n\n"
                "“Well, thank God!” she would think."
            ),
            context="At night Olenka hears a knock at the gate and fears the worst, but it is only a neighbour coming home.",
            instruction="Write a short scene, about 150 words, in which a woman is woken by a knock at night and fears the boy in her care is about to be taken from her. Keep it quiet and close to her feelings.",
            output="1. A knock at the gate in the night\n2. Olenka's fear\n3. Relief: a false alarm",
            rationale="The scene turns on one night-time fright, told through the woman's body and thoughts. A natural request names the situation, the stakes and the restrained tone without giving away the false alarm.",
        ),
        Example(
            source_span=(
                "It was said that a new person had appeared on the seafront: a lady with a little "
                "dog. Dmitri Dmitritch Gurov, who had by then been a fortnight at Yalta, had begun "
                "to take an interest in new arrivals."
            ),
            context="A new woman with a small dog had arrived on the seafront. Gurov, two weeks in Yalta, noticed her.",
            instruction="Write the opening paragraph of a short story set in a seaside resort: an unhurried, observant narrator and a hero whose idle curiosity is caught by a newcomer.",
            output="- A man on holiday notices a stranger who is always alone\n- Gossip on a promenade as the engine of a love story",
            rationale="An opening that introduces the hero through his boredom and the heroine through rumour. The instruction gives setting, tone and the hook without quoting the text.",
        ),
    ],
}

CURATION_PAIRS = {
    "zh": {
        "task": "polishing",
        "instruction": "帮我润色下面这段话，让它读起来更流畅、更有画面感。",
        "context": "祖父跑过来了，他问我在干什么，我说我在赶鸭子，鸭子掉进井里，捞出来就可以烧着吃了。",
        "response": "正在吵吵叫叫的时候，祖父奔到了，祖父说：“你在干什么？”\n我说：\n“赶鸭子，鸭子掉井，捞出来好烧吃。”",
    },
    "en": {
        "task": "reviewing",
        "instruction": "Could you critique this scene from my story? I care most about the ending.",
        "context": "“I have something to tell you, white mouse,” she said. “Mr. Behrman died of pneumonia today in the hospital.”",
        "response": "Strengths: the news arrives plainly, which makes it land harder.\nWeaknesses: the reveal is rushed.\nSuggestion: let a beat of silence follow the news.",
    },
}


def good_answer(recipe: Recipe) -> dict:
    values = {
        "instruction": "  Write a scene about a child chasing ducks.  ",
        "context": "\n A clumsier draft of the scene. \n",
        "output": " 1. The chase\n2. Grandfather arrives ",
    }
    return {"reasoning": " Because. ", **{f: values[f] for f in recipe.generates}}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("task", SLUGS)
def test_rendered_prompt_matches_golden_file(task, lang):
    messages = recipe_for(task).messages(SPANS[lang], EXAMPLES[lang])
    assert [m["role"] for m in messages] == ["system", "user"]
    check_golden(
        "backtranslation/" + f"{task}.{lang}.txt", render(messages), bump="the recipe's version"
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_curation_prompt_matches_golden_file(lang):
    messages = curation_messages(language=lang, **CURATION_PAIRS[lang])
    assert [m["role"] for m in messages] == ["system", "user"]
    check_golden(
        "backtranslation/" + f"curation.{lang}.txt", render(messages), bump="the recipe's version"
    )


def test_every_task_has_a_recipe():
    assert set(RECIPES) == set(SLUGS)
    for slug in SLUGS:
        recipe = recipe_for(slug)
        assert recipe.task == slug
        assert recipe.version
        assert "instruction" in recipe.generates
        assert set(recipe.generates) <= {"instruction", "context", "output"}
    assert CURATION_PROMPT_VERSION


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no recipe for task 'poems'; known: content_writing"):
        recipe_for("poems")


@pytest.mark.parametrize(
    "task, generates, context_from_span, output_from_span",
    [
        ("content_writing", ("instruction",), False, True),
        ("outlining", ("instruction", "output"), False, False),
        ("polishing", ("instruction", "context"), False, True),
        ("style_transfer", ("instruction", "context"), False, True),
        ("expanding", ("instruction", "context"), False, True),
        ("summarizing", ("instruction", "output"), True, False),
        ("brainstorming", ("instruction", "output"), False, False),
        ("reviewing", ("instruction", "output"), True, False),
    ],
)
def test_recipe_semantics(task, generates, context_from_span, output_from_span):
    recipe = recipe_for(task)
    assert recipe.generates == generates
    assert recipe.context_from_span is context_from_span
    assert recipe.output_from_span is output_from_span


@pytest.mark.parametrize("task", SLUGS)
def test_schema_accepts_a_good_answer_and_rejects_a_missing_field(task):
    recipe = recipe_for(task)
    schema = recipe.schema()
    assert list(schema["properties"]) == ["reasoning", *recipe.generates]
    assert schema["required"] == ["reasoning", *recipe.generates]
    answer = good_answer(recipe)
    jsonschema.validate(answer, schema)
    for field in recipe.generates:
        missing = {k: v for k, v in answer.items() if k != field}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(missing, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**answer, field: ""}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in answer.items() if k != "reasoning"}, schema)


@pytest.mark.parametrize(
    "task, context, response",
    [
        ("content_writing", "", "SPAN"),
        ("outlining", "", "1. The chase\n2. Grandfather arrives"),
        ("polishing", "A clumsier draft of the scene.", "SPAN"),
        ("style_transfer", "A clumsier draft of the scene.", "SPAN"),
        ("expanding", "A clumsier draft of the scene.", "SPAN"),
        ("summarizing", "SPAN", "1. The chase\n2. Grandfather arrives"),
        ("brainstorming", "", "1. The chase\n2. Grandfather arrives"),
        ("reviewing", "SPAN", "1. The chase\n2. Grandfather arrives"),
    ],
)
def test_pair_takes_context_and_response_from_the_span_or_the_answer(task, context, response):
    span = "祖父几乎抱不住我了。"
    recipe = recipe_for(task)
    pair = recipe.pair(f"\n  {span} \n", good_answer(recipe))
    assert pair == {
        "instruction": "Write a scene about a child chasing ducks.",
        "context": span if context == "SPAN" else context,
        "response": span if response == "SPAN" else response,
        "reasoning": "Because.",
    }


@pytest.mark.parametrize("task", SLUGS)
def test_pair_refuses_a_blank_or_missing_generated_field(task):
    recipe = recipe_for(task)
    for field in recipe.generates:
        with pytest.raises(ValueError, match=rf"{task}: the generated field '{field}'"):
            recipe.pair("span", {**good_answer(recipe), field: " \n "})
        answer = good_answer(recipe)
        del answer[field]
        with pytest.raises(ValueError, match=rf"'{field}' is missing or blank"):
            recipe.pair("span", answer)


def test_a_span_and_examples_with_braces_render():
    span = SpanInfo(
        text='He wrote {x} and {0} and {{y}} and "}" on the wall.',
        language="en",
        domain="Fiction {genre}",
        subdomain="{sub}",
        title="{title}",
    )
    example = Example("{a}", "{b}", "{c}", "{d}", "{e}")
    for recipe in RECIPES.values():
        user = recipe.messages(span, [example])[1]["content"]
        assert 'He wrote {x} and {0} and {{y}} and "}" on the wall.' in user
        assert "Subdomain: {sub}\nTitle: {title}" in user
        assert '"instruction": "{c}"' in user
    system = RECIPES["outlining"].messages(span, [])[0]["content"]
    assert "your field is Fiction {genre} ({sub})." in system
    user = curation_messages(
        language="zh", task="{t}", instruction="{i}", context="{c}", response="{r}"
    )[1]["content"]
    assert "任务类型：{t}" in user and "<<<\n{r}\n>>>" in user


def test_a_prompt_without_examples_has_no_examples_section():
    for lang, marker in (("en", "Examples annotated by experts"), ("zh", "专家标注的示例")):
        with_examples = recipe_for("polishing").messages(SPANS[lang], EXAMPLES[lang])
        assert marker in with_examples[1]["content"]
        user = recipe_for("polishing").messages(SPANS[lang], [])[1]["content"]
        assert marker not in user
        assert EXAMPLES[lang][0].rationale not in user
        assert SPANS[lang].text in user


def test_examples_show_only_the_generated_fields():
    example = EXAMPLES["en"][0]
    for task in ("content_writing", "summarizing", "polishing"):
        recipe = recipe_for(task)
        user = recipe.messages(SPANS["en"], [example])[1]["content"]
        assert f'"reasoning": "{example.rationale}"' in user
        assert (example.context in user) is ("context" in recipe.generates)
        assert (example.output.splitlines()[0] in user) is ("output" in recipe.generates)


def test_prompt_language_follows_the_span():
    span = SpanInfo(text="Il pleuvait.", language="fr", domain="Fiction", subdomain="", title="")
    system, user = (m["content"] for m in recipe_for("expanding").messages(span, []))
    assert system.startswith("You are an expert writing teacher")
    assert "Subdomain:" not in user and "Title:" not in user
    assert user.endswith(
        'answer with JSON only: {"reasoning": "...", "instruction": "...", "context": "..."}'
    )
    zh = recipe_for("expanding").messages(SPANS["zh"], [])
    assert zh[0]["content"].startswith("你是一位资深的写作导师")
    assert "任务类型：扩写" in zh[1]["content"]
    assert "子领域：长篇小说章节\n标题：呼兰河传·第三章" in zh[1]["content"]


def test_curation_schema_and_context():
    assert list(CURATION_SCHEMA["properties"]) == [
        "reasoning",
        "instruction_clarity",
        "response_relevance",
        "overall_quality",
        "score",
    ]
    good = {
        "reasoning": "Fine.",
        "instruction_clarity": 5,
        "response_relevance": 4,
        "overall_quality": 4,
        "score": 4,
    }
    jsonschema.validate(good, CURATION_SCHEMA)
    for bad in ({**good, "score": 6}, {**good, "score": 0}, {**good, "score": "4"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, CURATION_SCHEMA)
    for key in good:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({k: v for k, v in good.items() if k != key}, CURATION_SCHEMA)
    pair = dict(CURATION_PAIRS["en"], context="  ")
    user = curation_messages(language="en", **pair)[1]["content"]
    assert "Context:" not in user
    assert "Task type: Reviewing" in user
    assert "Context:" in curation_messages(language="en", **CURATION_PAIRS["en"])[1]["content"]
