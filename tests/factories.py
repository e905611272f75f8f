"""factory_boy factories. Principles are made through the services, as users make them."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from principles import services
from principles.models import Domain, Task

PASSWORD = "correct-horse-battery-7"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if extracted:
            self.groups.set([Group.objects.get_or_create(name=name)[0] for name in extracted])
            self.is_staff = "Admin" in extracted
        self.save()


def principle_content(**overrides) -> dict:
    content = {
        "title": "Show, don't tell",
        "description": "Reveal feelings through action and detail rather than naming them.",
        "following_instruction": "Write a scene where a girl waits for her father.",
        "following_text": "She pressed her face to the cold window until her breath fogged it.",
        "following_rationale": "Her longing shows through what she does.",
        "violating_instruction": "Write a scene where a girl waits for her father.",
        "violating_text": "She was very sad and missed her father a lot.",
        "violating_rationale": "The feeling is named, not shown.",
    }
    content.update(overrides)
    return content


def make_principle(owner, *, domain="fiction", task="outlining", language="en", **content):
    return services.principle_create(
        owner=owner,
        domain=Domain.objects.get(slug=domain),
        task=Task.objects.get(slug=task) if task else None,
        language=language,
        content=principle_content(**content),
        change_note="first draft",
    )


def make_approved(owner, admin, **kwargs):
    principle = make_principle(owner, **kwargs)
    services.principle_submit(principle=principle, user=owner)
    services.principle_approve(principle=principle, user=admin)
    principle.refresh_from_db()
    return principle


def api_body(**overrides) -> dict:
    """A new principle as the API takes it (nested cases)."""
    c = principle_content()
    body = {
        "domain": "fiction",
        "task": None,
        "language": "en",
        "title": c["title"],
        "description": c["description"],
        "following": {k: c[f"following_{k}"] for k in ("instruction", "text", "rationale")},
        "violating": {k: c[f"violating_{k}"] for k in ("instruction", "text", "rationale")},
    }
    body.update(overrides)
    return body


def form_data(**overrides) -> dict:
    """A new principle as the page's form posts it."""
    return {**principle_content(), "domain": "fiction", "task": "", "language": "en", **overrides}


def make_texts_with_spans(
    n_texts: int,
    *,
    spans_per_text: int = 1,
    language: str = "en",
    domain: str = "fiction",
    subdomain: str = "short_story",
    name: str = "fixture",
    selection: str | None = None,
):
    """Corpus texts (one import) with their spans cut by hand, optionally in a selection.

    Returns the texts; each text's spans are paragraphs ``Paragraph j of text i ...``.
    """
    import hashlib

    from pairs.models import CorpusImport, CorpusText, Selection, SelectionItem, TextSpan
    from principles.models import Subdomain

    dom = Domain.objects.get(slug=domain)
    sub = Subdomain.objects.get(domain=dom, slug=subdomain) if subdomain else None
    corpus_import = CorpusImport.objects.create(
        name=name, format="jsonl", path="", original_name=f"{name}.jsonl"
    )
    texts = []
    for i in range(n_texts):
        if language == "zh":
            paragraphs = [
                f"第{i}篇第{j}段。月光照在河面上，船夫慢慢摇着橹。" for j in range(spans_per_text)
            ]
        else:
            paragraphs = [
                f"Paragraph {j} of text {i}. The river ran slow under the moon, and the "
                "ferryman leaned on his oar."
                for j in range(spans_per_text)
            ]
        body = "\n\n".join(paragraphs)
        text = CorpusText.objects.create(
            corpus_import=corpus_import,
            source_line=i + 1,
            title=f"{name} {i}",
            text=body,
            language=language,
            domain=dom,
            subdomain=sub,
            content_hash=hashlib.sha256(f"{name}-{i}-{body}".encode()).hexdigest(),
            length=len(body),
        )
        start = 0
        for j, paragraph in enumerate(paragraphs):
            TextSpan.objects.create(text=text, ordinal=j, start=start, end=start + len(paragraph))
            start += len(paragraph) + 2
        texts.append(text)
    if selection:
        sel = Selection.objects.create(name=selection, size=len(texts))
        SelectionItem.objects.bulk_create(
            SelectionItem(selection=sel, text=t, rank=k + 1, score=1.0) for k, t in enumerate(texts)
        )
    return texts


def make_instruction_pair(*, span=None, task="content_writing", **fields):
    """An instruction pair (from ``span`` when given, else a standalone one)."""
    from pairs.models import InstructionPair
    from principles.models import Task as TaskModel

    task_obj = TaskModel.objects.get(slug=task)
    defaults = {
        "instruction": "Write a short scene on a river at night.",
        "response": "The river ran slow under the moon.",
        "language": "en",
        "recipe_version": "v1",
    }
    if span is not None:
        text = span.text
        defaults.update(
            span=span,
            source_text=text,
            domain=text.domain,
            subdomain=text.subdomain,
            language=text.language,
            response=span.content,
        )
    defaults.update(fields)
    return InstructionPair.objects.create(task=task_obj, **defaults)


def make_preference_pair(*, positive, principle_version=None, **fields):
    """A preference pair whose chosen side is ``positive``'s response (one word changed)."""
    from pairs.generation.metrics import minimality_metrics
    from pairs.models import NegativeMode, PreferencePair

    rejected = fields.pop("rejected", positive.response.replace("slow", "very slow", 1))
    defaults = {
        "mode": NegativeMode.EXPLAIN,
        "task": positive.task,
        "domain": positive.domain,
        "subdomain": positive.subdomain,
        "language": positive.language,
        "instruction": positive.instruction,
        "context": positive.context,
        "chosen": positive.response,
        "rejected": rejected,
        "prompt_version": "cdpo-v1",
        "metrics": minimality_metrics(positive.response, rejected, language=positive.language),
    }
    defaults.update(fields)
    return PreferencePair.objects.create(
        positive=positive, principle_version=principle_version, **defaults
    )


def make_review_pairs(count: int, *, principle_version, language="en", **fields) -> list:
    """``count`` preference pairs breaking ``principle_version``, each from its own standalone
    positive (no corpus text), ready to be put in a review queue."""
    pairs = []
    for k in range(count):
        positive = make_instruction_pair(
            instruction=f"Write scene {k} on a river at night.",
            response=f"Scene {k}: the river ran slow under the moon.",
            language=language,
        )
        pairs.append(
            make_preference_pair(positive=positive, principle_version=principle_version, **fields)
        )
    return pairs


def dpo_snapshot(engineer, author, admin_user, n: int = 32, name: str = "dpo-train"):
    """A ready DPO snapshot of ``n`` accepted preference pairs, all in the train split."""
    from pairs.datasets import services
    from pairs.models import PreferencePair, PreferenceStatus

    version = make_approved(author, admin_user, task="content_writing").approved_version
    pairs = make_review_pairs(n, principle_version=version)
    PreferencePair.objects.filter(pk__in=[p.pk for p in pairs]).update(
        status=PreferenceStatus.ACCEPTED
    )
    return services.dataset_snapshot_create(
        name=name, kind="dpo", created_by=engineer, test_fraction=0
    )


def sft_snapshot(engineer, n: int = 16, name: str = "sft-train"):
    from pairs.datasets import services

    for k in range(n):
        make_instruction_pair(
            instruction=f"Write line {k} about the sea.",
            response=f"Line {k}: the waves came in slow.",
            status="kept",
        )
    return services.dataset_snapshot_create(
        name=name, kind="sft", created_by=engineer, test_fraction=0
    )
