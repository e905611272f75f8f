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
