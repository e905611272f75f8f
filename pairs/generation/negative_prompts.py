"""The prompts of Constitutional DPO negative synthesis, and of the judge that checks a negative.

Per positive (an expert-quality instruction pair), two LLM calls in the manner of the Weaver
paper:

1. ``select_messages``: the model sees the task's principles and names the ONE that best
   explains why the accepted response is good (a short reason first).
2. ``rewrite_messages``: as a teacher of this domain's writing principles, with the principle's
   own cases as the worked example, the model rewrites the accepted response into a copy that
   breaks that principle with the smallest possible change (its rationale first).

The paper has no check of the result; this product adds ``judge_messages``: a strict judge says
whether the rewrite clearly breaks the principle and whether it is otherwise as good as the
accepted response.

Prompts are in the positive's language (Chinese for anything starting "zh", English for the
rest). User text is inserted by concatenation only, so braces in it never matter. Plain Python,
no Django. Bump ``PROMPT_VERSION`` (steps 1 and 2) or ``JUDGE_PROMPT_VERSION`` whenever a
template changes; the golden files in ``tests/pairs/golden/negatives/`` show every rendered
prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipes import prompt_language

PROMPT_VERSION = "cdpo-v1"
JUDGE_PROMPT_VERSION = "cdpo-judge-v1"

# The most characters of a rationale shown as the one-line gist of a principle's case.
GIST_CHARS = {"en": 160, "zh": 80}


@dataclass(frozen=True)
class PrincipleInfo:
    """One expert-written principle version, as the prompts show it."""

    label: str  # "P1", "P2", ... as offered in step 1
    title: str
    description: str
    following_instruction: str
    following_text: str  # a case that follows the principle
    following_rationale: str
    violating_instruction: str
    violating_text: str  # a case that violates it
    violating_rationale: str


@dataclass(frozen=True)
class PositiveInfo:
    """The expert-quality instruction pair whose response is rewritten into a negative."""

    language: str  # "zh" or "en" (anything starting "zh": Chinese prompts; else English)
    domain: str  # in that language, e.g. "小说" / "Fiction"
    subdomain: str  # may be ""
    task: str  # task name in that language, e.g. "大纲撰写" / "Outlining"
    instruction: str
    context: str  # may be ""
    response: str  # the accepted (chosen) response


def _block(text: str) -> str:
    return "<<<\n" + (text or "").strip() + "\n>>>"


def _gist(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join((text or "").split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def _bullets(rules: list[str]) -> str:
    return "\n".join("- " + rule for rule in rules)


_TEXT = {
    "en": {
        "field_writing": "writing",
        "open": " (",
        "close": ")",
        "domain": "Domain: ",
        "subdomain": "Subdomain: ",
        "task": "Task type: ",
        "instruction": "Instruction:",
        "context": "Context:",
        "following_case": "Following case: ",
        "violating_case": "Violating case: ",
        "rules": "Rules:",
        # Step 1: which principle explains the quality?
        "select_system": (
            "You are an expert writing teacher; your field is {field}. You know the principles "
            "that expert authors have written for this kind of writing, and you can tell which "
            "of them makes a given piece of writing work."
        ),
        "select_intro": (
            "Below are a writing request and a response that experts accepted as an excellent "
            "answer to it, followed by the principles experts wrote for this kind of writing. "
            "Decide which ONE principle best explains why this response is good: the principle "
            "the response follows most clearly and that matters most to its quality, so that "
            "breaking it would make the response noticeably worse."
        ),
        "response": "Response:",
        "principles": "Principles:",
        "select_rules": [
            "Choose exactly one principle, and only among the labels listed above: {labels}. "
            "Do not invent a principle or a label.",
            "Prefer the principle you can point to in specific sentences of the response; a "
            "principle that the response merely does not break is not an explanation of its "
            "quality.",
            "Reason first: in one to three sentences, name the passages of the response that "
            "show the principle; then give its label.",
        ],
        "select_final": "Answer with JSON only: ",
        # Step 2: the minimal rewrite that breaks the principle.
        "rewrite_system": (
            "You are a teacher of the writing principles of {field}. You teach a principle by "
            "contrast: a good text that follows it beside an almost identical text that breaks "
            "it, so that the one difference shows exactly what the principle asks for."
        ),
        "principle": "Writing principle: ",
        "example": "A worked example of this principle, from the expert who wrote it:",
        "accepted_example": "Accepted output (follows the principle):",
        "why_follows": "Why it follows: ",
        "rejected_example": "Rejected output (violates the principle):",
        "why_violates": "Why it violates: ",
        "now": "Now your turn. Here are the request and its accepted output.",
        "accepted": "Accepted output:",
        "rewrite_task": (
            "Rewrite the accepted output into a rejected output that violates the principle "
            "“{title}”, as the rejected output of the example does."
        ),
        "rewrite_rules": [
            "Violate this principle and only this one. The violation must be real and clear, "
            "one that a reader who knows the principle would point to at once; it must not be "
            "a different quality problem (typos, grammar mistakes, factual errors, missing or "
            "off-topic content, a broken format).",
            "Change as little as possible: edit only the sentences the violation needs and "
            "copy every other sentence word for word.",
            "Keep every other good aspect intact: content, facts, names, structure, length, "
            "tone and the text's other qualities. The rejected output must still answer the "
            "instruction.",
            "Write in the same language as the accepted output.",
            "The rejected output is a finished text: put no comments, notes, markers or "
            "explanations inside it, and no <<< >>> delimiters.",
            "Think first: in “rationale”, say which sentences you will change and how, and "
            "why the change breaks the principle; then give the full rejected text in "
            "“rejected”, from beginning to end, unchanged parts included.",
        ],
        "rewrite_final": "Answer with JSON only: ",
        # The judge.
        "judge_system": (
            "You are a strict judge of the preference data of a writing assistant. Each item "
            "pairs an expert-quality response with a rewrite that should break exactly one "
            "writing principle and change nothing else; you check whether it does."
        ),
        "judge_intro": (
            "Below are a writing principle, a writing request, response A (accepted by "
            "experts) and response B, a rewrite of A meant to break the principle with the "
            "smallest possible change. Check B strictly."
        ),
        "principle_judged": "Principle: ",
        "response_a": "Response A (accepted):",
        "response_b": "Response B (rewrite):",
        "questions": "Answer two questions:",
        "judge_questions": [
            "breaks_principle: does B clearly break this principle, in a way that a reader "
            "who knows the principle would point to? Answer false if B still follows it, if "
            "the violation is slight or arguable, or if B's problem is a different one "
            "(errors, missing content, another principle).",
            "otherwise_as_good: apart from that violation, is B as good as A? Answer false if "
            "B adds any other flaw (typos or grammar mistakes, changed facts, missing or added "
            "content, a different structure, length or tone, comments or notes inside the "
            "text, a worse answer to the instruction), or if it changes more than the "
            "violation needs.",
        ],
        "judge_strict": (
            "Be strict: when in doubt, answer false. Reason first: in two to four sentences, "
            "say what B changed and judge each question; then give the answers."
        ),
        "judge_final": "Answer with JSON only: ",
    },
    "zh": {
        "field_writing": "写作",
        "open": "（",
        "close": "）",
        "domain": "领域：",
        "subdomain": "子领域：",
        "task": "任务类型：",
        "instruction": "指令：",
        "context": "上下文：",
        "following_case": "正面示例：",
        "violating_case": "反面示例：",
        "rules": "要求：",
        "select_system": (
            "你是一位资深的写作导师，擅长的领域是{field}。你熟悉专家为这类写作总结的写作原则，"
            "善于看出一篇好文字究竟好在哪里。"
        ),
        "select_intro": (
            "下面是一条写作请求和专家认可的一个优秀回答，再往下是专家为这类写作总结的若干写作"
            "原则。请判断：这个回答之所以好，最能用哪一条原则来解释——也就是回答遵循得最明显、"
            "对其质量最要紧的那一条；一旦违背了它，回答就会明显变差。"
        ),
        "response": "回答：",
        "principles": "写作原则：",
        "select_rules": [
            "只能从上面列出的编号中选一个：{labels}；不要自创原则，也不要自编编号。",
            "优先选能落到回答里具体句子上的原则；回答只是“没有违背”的原则，并不能解释它好在哪里。",
            "先写理由：用一到三句话指出回答中体现这条原则的具体地方，再给出它的编号。",
        ],
        "select_final": "只用 JSON 回答：",
        "rewrite_system": (
            "你是一位讲授{field}写作原则的老师。你用对比来讲解原则：一段遵循原则的好文字，"
            "配上一段几乎一模一样、只是违背了这条原则的文字，让唯一的差别说明这条原则究竟"
            "要求什么。"
        ),
        "principle": "写作原则：",
        "example": "下面是编写这条原则的专家给出的示例：",
        "accepted_example": "合格的回答（遵循原则）：",
        "why_follows": "为什么遵循：",
        "rejected_example": "不合格的回答（违背原则）：",
        "why_violates": "为什么违背：",
        "now": "现在轮到你。下面是一条写作请求和它的合格回答。",
        "accepted": "合格的回答：",
        "rewrite_task": (
            "请仿照示例中不合格的回答，把上面这个合格的回答改写成一个违背“{title}”"
            "这条原则的不合格版本。"
        ),
        "rewrite_rules": [
            "只违背这一条原则，而且要违背得真实、明确，熟悉这条原则的读者一眼就能指出问题"
            "所在；不要拿别的毛病来凑数（错别字、语病、事实错误、内容缺失或跑题、格式混乱）。",
            "改动越少越好：只改实现违背所必需的句子，其余句子一字不动地照抄。",
            "原回答的其他优点全部保留：内容、事实、人名、结构、篇幅、语气以及其他方面的质量"
            "都不变；改写后的文字仍然要回应指令。",
            "使用与原回答相同的语言。",
            "改写结果是一篇完整的正文：文中不要夹带任何注释、说明、标记或提示，"
            "也不要加 <<< >>> 分隔符。",
            "先思考：在 rationale 中说明要改哪几句、怎么改，以及为什么这样改就违背了这条原则；"
            "再在 rejected 中写出改写后的完整文字，从头到尾，没有改动的部分也要写全。",
        ],
        "rewrite_final": "只用 JSON 回答：",
        "judge_system": (
            "你是一位严格的评审，负责检查写作助手的偏好数据。每条数据包含一个专家认可的回答，"
            "以及对它的一个改写：改写应当只违背一条写作原则、其余一概不变。你要判断它是否做到了。"
        ),
        "judge_intro": (
            "下面是一条写作原则、一条写作请求、专家认可的回答 A，以及回答 B。B 是对 A 的改写，"
            "目的是用尽可能小的改动违背这条原则。请严格检查 B。"
        ),
        "principle_judged": "写作原则：",
        "response_a": "回答 A（专家认可）：",
        "response_b": "回答 B（改写）：",
        "questions": "请回答两个问题：",
        "judge_questions": [
            "breaks_principle：B 是否明确违背了这条原则，熟悉这条原则的读者能直接指出来？"
            "如果 B 仍然遵循这条原则、违背得轻微或有争议，或者 B 的问题其实是别的毛病"
            "（错误、内容缺失、违背的是另一条原则），都答 false。",
            "otherwise_as_good：除了这处违背，B 是否和 A 一样好？如果 B 带来了任何别的问题"
            "（错别字或语病、改动了事实、删减或增添了内容、结构、篇幅或语气变了、正文里夹着"
            "注释或说明、对指令的回应变差），或者改动超出了违背原则所需的范围，答 false。",
        ],
        "judge_strict": (
            "宁严勿宽：拿不准时答 false。先写理由：用两到四句话说明 B 改了什么，"
            "并就两个问题分别作出判断，再给出答案。"
        ),
        "judge_final": "只用 JSON 回答：",
    },
}


def _field(positive: PositiveInfo, text: dict) -> str:
    field = positive.domain.strip() or text["field_writing"]
    if positive.subdomain.strip():
        field += text["open"] + positive.subdomain.strip() + text["close"]
    return field


def _about(positive: PositiveInfo, text: dict) -> str:
    lines = [text["domain"] + (positive.domain.strip() or "-")]
    if positive.subdomain.strip():
        lines.append(text["subdomain"] + positive.subdomain.strip())
    if positive.task.strip():
        lines.append(text["task"] + positive.task.strip())
    return "\n".join(lines)


def _request(positive: PositiveInfo, text: dict) -> list[str]:
    parts = [text["instruction"] + "\n" + _block(positive.instruction)]
    if (positive.context or "").strip():
        parts.append(text["context"] + "\n" + _block(positive.context))
    return parts


def _principle_gist(principle: PrincipleInfo, lang: str) -> str:
    """The principle's description and a one-line gist of each of its cases."""
    text, limit = _TEXT[lang], GIST_CHARS[lang]
    lines = [principle.description.strip()]
    if principle.following_rationale.strip():
        lines.append(text["following_case"] + _gist(principle.following_rationale, limit))
    if principle.violating_rationale.strip():
        lines.append(text["violating_case"] + _gist(principle.violating_rationale, limit))
    return "\n".join(lines)


def _check_labels(labels: list[str]) -> None:
    if not labels:
        raise ValueError("at least one principle is needed")
    if any(not isinstance(label, str) or not label.strip() for label in labels):
        raise ValueError("every principle needs a non-blank label")
    if len(set(labels)) != len(labels):
        raise ValueError(f"principle labels must be unique: {labels}")


def _messages(system: str, parts: list[str]) -> list[dict]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


# Step 1: which principle best explains why the response is good?


def select_schema(labels: list[str]) -> dict:
    """The JSON schema of the step-1 answer: a reason first, then one of ``labels``."""
    _check_labels(list(labels))
    return {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "minLength": 1},
            "principle": {"type": "string", "enum": list(labels)},
        },
        "required": ["reason", "principle"],
    }


def select_messages(positive: PositiveInfo, principles: list[PrincipleInfo]) -> list[dict]:
    """The chat messages of step 1: name the ONE principle that best explains the response."""
    labels = [principle.label for principle in principles]
    _check_labels(labels)
    lang = prompt_language(positive.language)
    text = _TEXT[lang]
    listed = [text["principles"]]
    for principle in principles:
        heading = "[" + principle.label + "] " + principle.title.strip()
        listed.append(heading + "\n" + _principle_gist(principle, lang))
    joined = ("、" if lang == "zh" else ", ").join(labels)
    rules = [rule.replace("{labels}", joined) for rule in text["select_rules"]]
    parts = [
        text["select_intro"],
        _about(positive, text),
        *_request(positive, text),
        text["response"] + "\n" + _block(positive.response),
        "\n\n".join(listed),
        text["rules"] + "\n" + _bullets(rules),
        text["select_final"] + '{"reason": "...", "principle": "<' + "|".join(labels) + '>"}',
    ]
    system = text["select_system"].replace("{field}", _field(positive, text))
    return _messages(system, parts)


# Step 2: the minimal rewrite that violates the chosen principle.

REWRITE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string", "minLength": 1},
        "rejected": {"type": "string", "minLength": 1},
    },
    "required": ["rationale", "rejected"],
}


def _worked_example(principle: PrincipleInfo, text: dict) -> str:
    """The principle's own cases as one example: instruction, accepted and rejected output.

    The instruction is shown once when both cases share it, else before each output.
    """
    following_instruction = principle.following_instruction.strip()
    violating_instruction = principle.violating_instruction.strip()
    shared = following_instruction == violating_instruction or not violating_instruction
    lines = [text["example"]]
    if following_instruction:
        lines += [text["instruction"], _block(following_instruction)]
    lines += [
        text["accepted_example"],
        _block(principle.following_text),
        text["why_follows"] + principle.following_rationale.strip(),
    ]
    if not shared:
        lines += [text["instruction"], _block(violating_instruction)]
    lines += [
        text["rejected_example"],
        _block(principle.violating_text),
        text["why_violates"] + principle.violating_rationale.strip(),
    ]
    return "\n".join(lines)


def rewrite_messages(positive: PositiveInfo, principle: PrincipleInfo) -> list[dict]:
    """The chat messages of step 2: rewrite the accepted response so that it breaks
    ``principle`` with the smallest possible change; rationale first, then the full text."""
    lang = prompt_language(positive.language)
    text = _TEXT[lang]
    parts = [
        text["principle"] + principle.title.strip() + "\n" + principle.description.strip(),
        _worked_example(principle, text),
        text["now"] + "\n" + _about(positive, text),
        *_request(positive, text),
        text["accepted"] + "\n" + _block(positive.response),
        text["rewrite_task"].replace("{title}", principle.title.strip())
        + "\n"
        + text["rules"]
        + "\n"
        + _bullets(text["rewrite_rules"]),
        text["rewrite_final"] + '{"rationale": "...", "rejected": "..."}',
    ]
    system = text["rewrite_system"].replace("{field}", _field(positive, text))
    return _messages(system, parts)


# The judge: does the rewrite break the principle, and only that?

JUDGE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "breaks_principle": {"type": "boolean"},
        "otherwise_as_good": {"type": "boolean"},
    },
    "required": ["reason", "breaks_principle", "otherwise_as_good"],
}


def judge_messages(positive: PositiveInfo, principle: PrincipleInfo, rejected: str) -> list[dict]:
    """The chat messages that check a rewrite: does response B (``rejected``) clearly break
    ``principle``, and is it otherwise as good as response A (the accepted one)?"""
    lang = prompt_language(positive.language)
    text = _TEXT[lang]
    questions = "\n".join(
        str(n) + ". " + question for n, question in enumerate(text["judge_questions"], 1)
    )
    parts = [
        text["judge_intro"],
        text["principle_judged"]
        + principle.title.strip()
        + "\n"
        + _principle_gist(principle, lang),
        _about(positive, text),
        *_request(positive, text),
        text["response_a"] + "\n" + _block(positive.response),
        text["response_b"] + "\n" + _block(rejected),
        text["questions"] + "\n" + questions + "\n" + text["judge_strict"],
        text["judge_final"]
        + '{"reason": "...", "breaks_principle": <true|false>, "otherwise_as_good": <true|false>}',
    ]
    return _messages(text["judge_system"], parts)
