from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Domain, Language, PrincipleVersion, Task


class PrincipleForm(forms.Form):
    """One form for a new principle and for a new version of an existing one."""

    domain = forms.ModelChoiceField(
        queryset=Domain.objects.all(), to_field_name="slug", label=_("Domain")
    )
    task = forms.ModelChoiceField(
        queryset=Task.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label=_("All tasks of the domain"),
        label=_("Task"),
    )
    language = forms.ChoiceField(choices=Language.choices, label=_("Language"))
    title = forms.CharField(
        label=_("Title"), max_length=PrincipleVersion._meta.get_field("title").max_length
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the principle asks of a piece of writing, in a few sentences."),
    )
    following_instruction = forms.CharField(
        label=_("Instruction"), widget=forms.Textarea(attrs={"rows": 2})
    )
    following_text = forms.CharField(
        label=_("Text that follows the principle"), widget=forms.Textarea(attrs={"rows": 8})
    )
    following_rationale = forms.CharField(
        label=_("Why it follows"), widget=forms.Textarea(attrs={"rows": 3})
    )
    violating_instruction = forms.CharField(
        label=_("Instruction"), widget=forms.Textarea(attrs={"rows": 2})
    )
    violating_text = forms.CharField(
        label=_("Text that violates the principle"), widget=forms.Textarea(attrs={"rows": 8})
    )
    violating_rationale = forms.CharField(
        label=_("Why it violates"), widget=forms.Textarea(attrs={"rows": 3})
    )
    change_note = forms.CharField(
        label=_("Change note"),
        required=False,
        max_length=PrincipleVersion._meta.get_field("change_note").max_length,
        help_text=_("What this version changes, for reviewers and the history."),
    )

    def clean(self):
        cleaned = super().clean()
        content = {f: cleaned.get(f) for f in PrincipleVersion.CONTENT_FIELDS}
        if all(content.values()):
            try:
                cleaned.update(services.principle_content_validate(content=content))
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(field, message)
        return cleaned

    def content(self) -> dict:
        return {f: self.cleaned_data[f] for f in PrincipleVersion.CONTENT_FIELDS}

    @classmethod
    def initial_from(cls, principle, version) -> dict:
        initial = {
            "domain": principle.domain.slug,
            "task": principle.task.slug if principle.task_id else "",
            "language": principle.language,
        }
        initial.update(version.content())
        return initial


class SendBackForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment for the author"), widget=forms.Textarea(attrs={"rows": 3})
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("JSON file"), help_text=_("The format is described in docs/principles-json.md.")
    )
