"""The prompt recipes of instruction backtranslation, and the curation prompt that scores pairs.

One recipe per writing task says how a pair is built from a span of human writing: which of
instruction, context and output the LLM writes, and which come from the span itself. One LLM
call per item: the model writes a short reasoning first, then the pair, as JSON. Prompts are in
the span's language (Chinese or English; English for anything else).

Curation follows Humpback: the model rates a pair 1-5, reasoning first.

Plain Python, no Django: the generator feeds the messages to the LLM gateway with ``schema()``
and turns the validated answer into a pair with ``pair()``. Bump a recipe's ``version`` (or
``CURATION_PROMPT_VERSION``) whenever its template changes; the golden files in
``tests/pairs/golden/backtranslation/`` show every rendered prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from principles.taxonomy import TASKS

FIELDS = ("instruction", "context", "output")
_TASK_NAMES = {slug: {"en": name_en, "zh": name_zh} for slug, name_en, name_zh in TASKS}


@dataclass(frozen=True)
class Example:
    """One expert few-shot case version, as the prompt shows it."""

    source_span: str
    context: str  # may be ""
    instruction: str
    output: str
    rationale: str


@dataclass(frozen=True)
class SpanInfo:
    """The span of human writing a pair is built from, with its metadata."""

    text: str
    language: str  # "zh" or "en" (anything else: en)
    domain: str  # in the prompt's language, e.g. "小说" / "Fiction"
    subdomain: str = ""
    title: str = ""


def prompt_language(language: str) -> str:
    """The language of the prompt for a text: "zh" for Chinese, "en" for anything else."""
    return "zh" if (language or "").lower().startswith("zh") else "en"


def _block(text: str) -> str:
    return "<<<\n" + text + "\n>>>"


def _json_hint(keys: list[str]) -> str:
    return "{" + ", ".join(f'"{key}": "..."' for key in keys) + "}"


# Text shared by every recipe, per prompt language.
_COMMON = {
    "en": {
        "system": (
            "You are an expert writing teacher and editor; your field is {field}. You are "
            "building training data for a writing assistant: from published human writing you "
            "make instruction-response pairs that show how an expert writer answers real "
            "writing requests."
        ),
        "field_writing": "writing",
        "task": "Task type: ",
        "rules": "Rules:",
        "common_rules": [
            "The instruction must be self-contained: someone who has never seen the source "
            "text understands what to do from the instruction alone (and the context, when the "
            "task has one).",
            "Write the instruction as a real user would ask a writing assistant, in the "
            "language of the source text: natural, specific and of a reasonable length.",
            'Never mention the source text, "the passage above", "this excerpt", the author '
            "or where the text comes from, and do not copy sentences of the source text into "
            "the instruction. When the task has a context, the instruction may refer to it as "
            'the user\'s own text ("the paragraph below", "my draft").',
            "Write everything you generate in the language of the source text. Keep names, "
            "facts and details consistent with it; invent nothing that contradicts it.",
            "Reason first: in two to four sentences, say what the text is, what a user might "
            "have asked for and how you will build the pair; then give the result.",
        ],
        "examples": "Examples annotated by experts; each shows a source text and the expected "
        "answer for it:",
        "example": "Example {n}",
        "source": "Source text:",
        "answer": "Answer:",
        "now": "Now build the pair from this text.",
        "domain": "Domain: ",
        "subdomain": "Subdomain: ",
        "title": "Title: ",
        "final": "Think briefly first, then answer with JSON only: ",
    },
    "zh": {
        "system": (
            "你是一位资深的写作导师和编辑，擅长的领域是{field}。你正在为一个写作助手准备训练数据："
            "以已经发表的优秀作品为素材，构造“指令—回答”对，示范专业作者如何回应真实的写作需求。"
        ),
        "field_writing": "写作",
        "task": "任务类型：",
        "rules": "要求：",
        "common_rules": [
            "指令必须自成一体：没有读过原文的人，只凭指令（以及上下文，如果该任务有的话）"
            "就能明白要做什么。",
            "指令要像真实用户向写作助手提出的请求：用中文书写，自然、具体，长短适中。",
            "指令里不要提到原文、“上文”“这段节选”、作者或出处，也不要把原文的句子抄进指令。"
            "带上下文的任务中，指令可以把上下文当作用户自己提供的文字来称呼"
            "（如“下面这段文字”“我的初稿”）。",
            "你写的所有内容都用中文；人名、事实和细节要与原文一致，不要编造与原文矛盾的内容。",
            "先写推理：用两三句话说明这段文字是什么、用户可能提出怎样的需求、你打算如何构建"
            "这组数据，然后再给出结果。",
        ],
        "examples": "以下是专家标注的示例，每个示例给出一段原文和对应的标准答案：",
        "example": "示例 {n}",
        "source": "原文：",
        "answer": "答案：",
        "now": "现在请根据下面的原文构建数据。",
        "domain": "领域：",
        "subdomain": "子领域：",
        "title": "标题：",
        "final": "先简短思考，再只用 JSON 回答：",
    },
}

# Per task and prompt language: how the pair is built, and the task's own rules.
_TASK_TEXT = {
    "content_writing": {
        "en": {
            "how": "The response is the source text itself, unchanged. Infer the writing "
            "instruction a user could have given for which this text is an excellent answer: "
            "the kind of piece, its subject and the requirements the text visibly meets (point "
            "of view, tone, length, elements it must contain).",
            "rules": [
                "Do not list every detail of the text: a good writing request leaves room for "
                "the writer; but the core of the text must follow from the instruction.",
                "If the text is an excerpt of a longer work, the instruction may give the "
                "background it needs (characters, situation), so that the text reads as "
                "written for this request.",
            ],
        },
        "zh": {
            "how": "回答就是原文本身，一字不改。请推断用户提出了怎样的写作指令，才会让这段文字"
            "成为一个出色的回答：写什么体裁、什么主题，以及原文明显满足的要求（叙述视角、语气、"
            "篇幅、必须包含的要素等）。",
            "rules": [
                "指令不必罗列原文的所有细节，好的写作请求会给作者留出发挥的空间；"
                "但原文的核心内容要能从指令中找到依据。",
                "如果原文是长篇作品的片段，指令可以交代必要的背景（人物、情境），"
                "让这段文字读起来像是为这个请求而写的。",
            ],
        },
    },
    "outlining": {
        "en": {
            "how": "First write an outline of the source text: its structure as a numbered or "
            "nested list, the main parts in order with the key point or event of each. This "
            "outline is the response. Then infer the instruction: a request to outline a piece "
            "like this one (its kind, its subject and what it should achieve) that the outline "
            "answers.",
            "rules": [
                "The outline must follow the text faithfully and be usable as a plan for "
                "writing it: a heading or a short line per item, not full prose.",
                "The instruction asks for an outline of a piece still to be written; it must "
                "not assume that the finished text exists.",
            ],
        },
        "zh": {
            "how": "先为原文写一份大纲：用编号或分级列表呈现它的结构，按顺序列出各个部分及其"
            "要点或情节。这份大纲就是回答。再推断指令：用户请写作助手为一篇类似的作品"
            "（体裁、主题、想达到的效果）拟写大纲，而这份大纲正好回应了这个请求。",
            "rules": [
                "大纲要忠实于原文的结构和内容，可以直接拿来当写作提纲用；每一项写成小标题或"
                "一句短语，不要写成完整的段落。",
                "指令是请助手为一篇尚未动笔的作品拟大纲，不能假定成品已经存在。",
            ],
        },
    },
    "polishing": {
        "en": {
            "how": "The response is the source text itself, unchanged. Write the context: a "
            "deliberately worse draft of the same text, as a competent but unpolished writer "
            "might produce it, with the same content, order and roughly the same length, but "
            "clumsier wording, weaker rhythm and a few small errors (word choice, grammar, "
            "punctuation, needless repetition). Then infer the instruction: a request to "
            "polish or edit that draft, which the source text answers.",
            "rules": [
                "The draft must be clearly improvable into the source text: keep every event, "
                "fact and name, add or remove no content, and do not make it so bad that it "
                "needs rewriting from scratch.",
                "The instruction may say what to improve (fluency, concision, rhythm, word "
                "choice), but it must not list the specific fixes.",
            ],
        },
        "zh": {
            "how": "回答就是原文本身，一字不改。请写出上下文：同一段文字的一个刻意写差的版本，"
            "像一位文字通顺但欠打磨的作者写出的初稿——内容、顺序和篇幅与原文大致相同，但措辞"
            "笨拙、节奏拖沓，并带有少量小毛病（用词不当、语病、标点错误、不必要的重复）。"
            "再推断指令：用户请写作助手润色或修改这份初稿，而原文正是理想的修改结果。",
            "rules": [
                "初稿必须能明显地改成原文：保留所有情节、事实和人名，不增删内容，"
                "也不要差到需要推倒重写。",
                "指令可以说明希望改进哪些方面（流畅、简洁、节奏、用词），但不要逐条列出具体的改法。",
            ],
        },
    },
    "style_transfer": {
        "en": {
            "how": "The response is the source text itself, unchanged. Write the context: the "
            "same content rewritten in a clearly different style, for example plain modern "
            "prose, a news report, a casual chat message or a formal report, keeping every "
            "event and fact. Then write the instruction: a request to rewrite the context in "
            "the target style, which is the source text's own style.",
            "rules": [
                "Describe the target style concretely in the instruction (tone, diction, "
                "sentence rhythm, point of view, genre conventions), or name a recognisable "
                "style or template; do not name the source text.",
                "The context must differ from the source text in style only, not in content, "
                "so that the source text is a faithful transfer of it.",
            ],
        },
        "zh": {
            "how": "回答就是原文本身，一字不改。请写出上下文：把同样的内容改写成另一种明显不同"
            "的风格，例如平实的白话、新闻报道、随意的聊天口吻、正式的公文或报告，保留所有情节"
            "和事实。再写出指令：用户请写作助手把上下文改写成目标风格，而目标风格就是原文自身"
            "的风格。",
            "rules": [
                "指令要具体描述目标风格（语气、用词、句式节奏、叙述视角、文体特征），"
                "或点明一种公认的风格或文体范式；不要提到原文。",
                "上下文与原文只在风格上不同，内容保持一致，使原文恰好是对它的忠实改写。",
            ],
        },
    },
    "expanding": {
        "en": {
            "how": "The response is the source text itself, unchanged. Write the context: a "
            "condensed version of it, about a quarter to a third of its length, keeping the "
            "main events or points but dropping the details, descriptions and dialogue that "
            "bring it to life. Then infer the instruction: a request to expand that condensed "
            "text into a fuller piece, which the source text answers.",
            "rules": [
                "The condensed version must be a plausible short draft or synopsis in its own "
                "right, not a list of fragments; everything in it must appear in the source "
                "text.",
                "The instruction may state what to add (scenes, dialogue, detail, argument) "
                "or the length and tone wanted, consistent with the source text.",
            ],
        },
        "zh": {
            "how": "回答就是原文本身，一字不改。请写出上下文：原文的压缩版，篇幅约为原文的四分"
            "之一到三分之一，保留主要情节或观点，删去让文字生动起来的细节、描写和对话。再推断"
            "指令：用户请写作助手把这段压缩的文字扩写成一篇更完整的作品，而原文正是理想的扩写"
            "结果。",
            "rules": [
                "压缩版本身应当是一段像样的短稿或梗概，而不是零散的要点；其中的每一处内容都要"
                "能在原文中找到。",
                "指令可以说明要补充什么（场景、对话、细节、论证）或期望的篇幅和语气，"
                "但要与原文相符。",
            ],
        },
    },
    "summarizing": {
        "en": {
            "how": "The context is the source text itself, unchanged. Write the response: a "
            "condensed or simplified version of it, such as a faithful summary in a few "
            "sentences, a one-paragraph synopsis or a plainer retelling for young or "
            "non-specialist readers; choose what suits the text. Then write the instruction: a "
            "request to summarise or simplify the given text, stating the form and length that "
            "your response meets.",
            "rules": [
                "The response must be faithful: no fact, opinion or event that is not in the "
                "source text, and nothing essential left out.",
                "Make the response clearly shorter or simpler than the source text, and write "
                "it as finished text, not notes.",
            ],
        },
        "zh": {
            "how": "上下文就是原文本身，一字不改。请写出回答：原文的缩写或简化版本，例如几句话"
            "的忠实摘要、一段话的梗概，或者面向少年读者、普通读者的浅白复述，视原文情况选择"
            "合适的形式。再写出指令：用户请写作助手对所给文字进行概括或简化，并说明你的回答"
            "所符合的形式和篇幅。",
            "rules": [
                "回答必须忠实于原文：不添加原文没有的事实、观点或情节，也不遗漏关键内容。",
                "回答要明显比原文简短或浅显，写成完整的文字，而不是笔记。",
            ],
        },
    },
    "brainstorming": {
        "en": {
            "how": "Write the response: a list of ideas derived from the source text that a "
            "writer working in this vein could draw on, for example premises, angles, plot "
            "turns, images, titles or topics; 5 to 10 items, each one or two sentences. Then "
            "infer the instruction: a brainstorming request from a writer planning a piece "
            "like this one, which the list answers.",
            "rules": [
                "The ideas must be concrete, varied and usable; at least one should lead to "
                "what the source text actually does, and the others should be fresh, not "
                "rewordings of it.",
                "The instruction gives the writer's situation (the kind of piece, subject, "
                "audience, or where they are stuck), not the content of the source text.",
            ],
        },
        "zh": {
            "how": "请写出回答：从原文出发提炼出的一组创意，供按这个路子创作的作者参考，例如故事"
            "设定、切入角度、情节转折、意象、标题或选题，列出 5 到 10 条，每条一两句话。再推断"
            "指令：一位正在构思类似作品的作者向写作助手提出的头脑风暴请求，而这份创意清单正好"
            "回应了它。",
            "rules": [
                "创意要具体、多样、可用；至少有一条能引出原文实际的写法，其余应当有新意，"
                "而不是把原文换个说法。",
                "指令交代作者的处境（作品类型、题材、读者，或卡在哪里），而不是原文的具体内容。",
            ],
        },
    },
    "reviewing": {
        "en": {
            "how": "The context is the source text itself, unchanged. Write the response: a "
            "literary critique of it as an experienced editor or critic would write it: what "
            "it does well, with concrete references to the text; where it is weaker; and "
            "concrete suggestions for improvement. Then write the instruction: a request to "
            "review or critique the given text, which may say what to focus on.",
            "rules": [
                "Be fair and specific: praise real strengths, point to actual sentences or "
                "choices, and do not invent flaws; the suggestions must be actionable.",
                "Organise the critique clearly (strengths, weaknesses, suggestions) and keep it "
                "to a few hundred words.",
            ],
        },
        "zh": {
            "how": "上下文就是原文本身，一字不改。请写出回答：一位经验丰富的编辑或评论者对它的"
            "文学评论——指出它的长处并具体引证原文，指出不足之处，再提出切实可行的修改建议。"
            "再写出指令：用户请写作助手评论或点评所给的文字，可以说明希望侧重的方面。",
            "rules": [
                "评论要公允、具体：肯定真正的长处，指向具体的句子或写法，不要凭空挑毛病；"
                "建议要能落到实处。",
                "评论要条理清楚（长处、不足、建议），篇幅控制在几百字以内。",
            ],
        },
    },
}


@dataclass(frozen=True)
class Recipe:
    """How one writing task builds a pair from a span, and the prompt that asks for it."""

    task: str
    version: str
    generates: tuple[str, ...]
    context_from_span: bool = False
    output_from_span: bool = False

    def __post_init__(self):
        if "instruction" not in self.generates:
            raise ValueError(f"recipe {self.task!r} must generate the instruction")
        unknown = set(self.generates) - set(FIELDS)
        if unknown:
            raise ValueError(f"recipe {self.task!r} generates unknown fields {sorted(unknown)}")
        if self.context_from_span and "context" in self.generates:
            raise ValueError(f"recipe {self.task!r}: context both from the span and generated")
        if self.output_from_span and "output" in self.generates:
            raise ValueError(f"recipe {self.task!r}: output both from the span and generated")

    def schema(self) -> dict:
        """The JSON schema of the answer: reasoning first, then each generated field."""
        properties: dict = {"reasoning": {"type": "string"}}
        for field in self.generates:
            properties[field] = {"type": "string", "minLength": 1}
        return {"type": "object", "properties": properties, "required": list(properties)}

    def messages(self, span: SpanInfo, examples: list[Example]) -> list[dict]:
        """The chat messages that ask for one pair from ``span``, in the span's language."""
        lang = prompt_language(span.language)
        common, text = _COMMON[lang], _TASK_TEXT[self.task][lang]
        field = span.domain.strip() or common["field_writing"]
        if span.subdomain.strip():
            field += ("（" if lang == "zh" else " (") + span.subdomain.strip()
            field += "）" if lang == "zh" else ")"
        system = common["system"].replace("{field}", field)

        rules = common["common_rules"] + text["rules"]
        parts = [
            common["task"] + _TASK_NAMES.get(self.task, {}).get(lang, self.task),
            text["how"],
            common["rules"] + "\n" + "\n".join(f"- {rule}" for rule in rules),
        ]
        if examples:
            shown = [common["examples"]]
            for n, example in enumerate(examples, 1):
                shown.append(
                    common["example"].replace("{n}", str(n))
                    + "\n"
                    + common["source"]
                    + "\n"
                    + _block(example.source_span.strip())
                    + "\n"
                    + common["answer"]
                    + "\n"
                    + json.dumps(self._example_answer(example), ensure_ascii=False, indent=2)
                )
            parts.append("\n\n".join(shown))
        about = [common["now"], common["domain"] + (span.domain.strip() or "-")]
        if span.subdomain.strip():
            about.append(common["subdomain"] + span.subdomain.strip())
        if span.title.strip():
            about.append(common["title"] + span.title.strip())
        about += [common["source"], _block(span.text.strip())]
        parts.append("\n".join(about))
        parts.append(common["final"] + _json_hint(["reasoning", *self.generates]))
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _example_answer(self, example: Example) -> dict:
        values = {
            "instruction": example.instruction,
            "context": example.context,
            "output": example.output,
        }
        answer = {"reasoning": example.rationale.strip()}
        for field in self.generates:
            answer[field] = values[field].strip()
        return answer

    def pair(self, span_text: str, data: dict) -> dict:
        """The pair from the span and a validated answer: instruction, context, response and
        reasoning, stripped; raises ValueError when a generated field is missing or blank."""
        if not isinstance(data, dict):
            raise ValueError(f"{self.task}: the answer is not a JSON object")
        values: dict[str, str] = {}
        for field in self.generates:
            value = data.get(field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{self.task}: the generated field {field!r} is missing or blank")
            values[field] = value.strip()
        span = (span_text or "").strip()
        if (self.context_from_span or self.output_from_span) and not span:
            raise ValueError(f"{self.task}: the span is blank")
        context = span if self.context_from_span else values.get("context", "")
        response = span if self.output_from_span else values.get("output", "")
        reasoning = data.get("reasoning")
        return {
            "instruction": values["instruction"],
            "context": context,
            "response": response,
            "reasoning": reasoning.strip() if isinstance(reasoning, str) else "",
        }


RECIPES: dict[str, Recipe] = {
    recipe.task: recipe
    for recipe in (
        Recipe("content_writing", "v1", ("instruction",), output_from_span=True),
        Recipe("outlining", "v1", ("instruction", "output")),
        Recipe("polishing", "v1", ("instruction", "context"), output_from_span=True),
        Recipe("style_transfer", "v1", ("instruction", "context"), output_from_span=True),
        Recipe("expanding", "v1", ("instruction", "context"), output_from_span=True),
        Recipe("summarizing", "v1", ("instruction", "output"), context_from_span=True),
        Recipe("brainstorming", "v1", ("instruction", "output")),
        Recipe("reviewing", "v1", ("instruction", "output"), context_from_span=True),
    )
}


def recipe_for(task_slug: str) -> Recipe:
    """The recipe of a task; ValueError for a task without one."""
    try:
        return RECIPES[task_slug]
    except KeyError:
        known = ", ".join(RECIPES)
        raise ValueError(f"no recipe for task {task_slug!r}; known: {known}") from None


# Curation, in the manner of Humpback: a 1-5 score with a short reasoning first.

CURATION_PROMPT_VERSION = "curate-v1"
_RATING = {"type": "integer", "minimum": 1, "maximum": 5}
CURATION_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "instruction_clarity": _RATING,
        "response_relevance": _RATING,
        "overall_quality": _RATING,
        "score": _RATING,
    },
    "required": [
        "reasoning",
        "instruction_clarity",
        "response_relevance",
        "overall_quality",
        "score",
    ],
}

_CURATION = {
    "en": {
        "system": (
            "You are a senior editor who checks the training data of a writing assistant. You "
            "judge whether an instruction-response pair is a good example of how an expert "
            "writer answers a writing request."
        ),
        "intro": (
            "Below are a writing request from a user, the context it provides (if any) and a "
            "candidate response. Evaluate whether the response is a good example of how an "
            "expert writer should respond to the instruction.\n\n"
            "First rate three aspects from 1 to 5:\n"
            "- instruction_clarity: 5 = clear, specific, self-contained and natural, as a real "
            "user would ask; 3 = understandable but vague, or oddly specific; 1 = unclear, "
            "impossible to answer, or dependent on text the user does not give.\n"
            "- response_relevance: 5 = does exactly what the instruction asks (task, subject, "
            "form, constraints) and uses the context well; 3 = broadly on task but ignores some "
            "requirements or adds things not asked for; 1 = off-topic, or a different task.\n"
            "- overall_quality: the response as writing: 5 = expert and polished; "
            "3 = competent but unremarkable; 1 = poor or broken.\n\n"
            "Then give the overall score on this 5-point scale:\n"
            "1: The response is incomplete, vague, off-topic or not what the user asked for: "
            "content seems missing, it starts or stops mid-way, it answers a different request, "
            "or it contains promotional text, navigation text, notes or other irrelevant "
            "material.\n"
            "2: The response addresses most of the request but misses something it asks for, "
            "or does not do it directly (for example it describes what it would write instead "
            "of writing it).\n"
            "3: The response is helpful and addresses all the basic asks, but it does not read "
            "as written for this request: it looks like an excerpt that depends on text outside "
            "it, carries details the instruction gives no reason for, or its quality is only "
            "ordinary.\n"
            "4: The response is written to answer the instruction; it is complete, clear and "
            "well organised, with nothing missing or irrelevant. There is minor room for "
            "improvement, such as a tighter fit to the instruction or finer writing.\n"
            "5: A perfect answer from an expert writer: clearly written to fulfil the "
            "instruction, with no irrelevant sentence; well organised, vivid and polished, "
            "showing real craft in this kind of writing."
        ),
        "task": "Task type: ",
        "instruction": "Instruction:",
        "context": "Context:",
        "response": "Response:",
        "final": "First write a short reasoning (two to four sentences), then the ratings. "
        "Answer with JSON only: ",
    },
    "zh": {
        "system": (
            "你是一位资深编辑，负责审核写作助手的训练数据，判断一组“指令—回答”"
            "是否很好地示范了专业作者应当如何回应写作请求。"
        ),
        "intro": (
            "下面是用户提出的一条写作请求、它附带的上下文（如果有）和一个候选回答。请评估这个"
            "回答是否很好地示范了专业作者应当如何回应这条指令。\n\n"
            "先从三个方面各打 1 到 5 分：\n"
            "- instruction_clarity（指令清晰度）：5 分：清楚、具体、自成一体，像真实用户会提出"
            "的请求；3 分：能看懂但含糊，或具体得不自然；1 分：不清楚、无法完成，"
            "或依赖用户没有提供的文字。\n"
            "- response_relevance（回答切题度）：5 分：完全做到了指令要求的事（任务、主题、形式、"
            "限制），并用好了上下文；3 分：大体切题，但忽略了部分要求或加入了没要求的内容；"
            "1 分：答非所问，或做成了另一种任务。\n"
            "- overall_quality（整体质量）：回答作为文字作品的水准：5 分：专业、精到；"
            "3 分：通顺但平淡；1 分：粗劣或残缺。\n\n"
            "再按下面的 5 分制给出总分 score：\n"
            "1 分：回答残缺、含糊、跑题，或不是用户要的东西：内容似乎有缺失、从中间开始或戛然"
            "而止、回应的是另一个请求，或夹杂广告、导航文字、注释等无关内容。\n"
            "2 分：回答照顾到了请求的大部分，但漏掉了某项要求，或没有直接完成任务（比如只描述"
            "打算怎么写，而没有真正写出来）。\n"
            "3 分：回答有用，满足了基本要求，但读起来不像是为这条指令而写：像是依赖外部文字的"
            "节选，带有指令无从引出的细节，或者质量只是一般。\n"
            "4 分：回答确实是为回应指令而写，完整、清楚、条理分明，没有缺漏或无关内容；"
            "仍有小的提升空间，比如与指令贴合得更紧，或文笔更精。\n"
            "5 分：专业作者给出的完美回答：明确为完成指令而写，没有一句多余；结构清楚、"
            "生动精炼，体现出这类写作的真功夫。"
        ),
        "task": "任务类型：",
        "instruction": "指令：",
        "context": "上下文：",
        "response": "回答：",
        "final": "先用两到四句话写出理由，再打分。只用 JSON 回答：",
    },
}


def curation_messages(
    *, language: str, task: str, instruction: str, context: str, response: str
) -> list[dict]:
    """The chat messages that score one pair 1-5, reasoning first, in the pair's language.

    ``task`` is a task slug (shown by its name in the prompt's language) or a name as is.
    """
    lang = prompt_language(language)
    text = _CURATION[lang]
    task_name = _TASK_NAMES.get(task, {}).get(lang, task)
    parts = [text["task"] + task_name, text["instruction"] + "\n" + _block(instruction.strip())]
    if (context or "").strip():
        parts.append(text["context"] + "\n" + _block(context.strip()))
    parts.append(text["response"] + "\n" + _block(response.strip()))
    hint = '{"reasoning": "...", ' + ", ".join(
        f'"{key}": <1-5>' for key in list(CURATION_SCHEMA["properties"])[1:]
    )
    user = "\n\n".join([text["intro"], *parts, text["final"] + hint + "}"])
    return [{"role": "system", "content": text["system"]}, {"role": "user", "content": user}]
