from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Domain, FewShotCaseVersion, Language, PrincipleVersion, Subdomain, Task


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


# --- Few-shot cases ------------------------------------------------------------------------

# What the context and the output of a case hold, per task (shown beside the form).
FEWSHOT_TASK_GUIDE = {
    "content_writing": (
        _("Usually empty."),
        _("The span itself: the instruction asks for the text the span is."),
    ),
    "outlining": (
        _("Usually empty."),
        _("An outline derived from the span."),
    ),
    "polishing": (
        _("A worse version of the span (clumsy wording, errors) for the instruction to fix."),
        _("The span itself."),
    ),
    "style_transfer": (
        _("The span rewritten in another style."),
        _("The span itself, in its own style."),
    ),
    "expanding": (
        _("A condensed version of the span."),
        _("The span itself."),
    ),
    "summarizing": (
        _("The span itself."),
        _("A summary or simplified version of the span."),
    ),
    "brainstorming": (
        _("Usually empty."),
        _("Ideas drawn from the span, as a list."),
    ),
    "reviewing": (
        _("The span itself."),
        _("A critique of the span."),
    ),
}


class SubdomainChoiceField(forms.ModelChoiceField):
    """Subdomains labelled "Domain / Subdomain" (slugs repeat across domains, so ids are sent)."""

    def label_from_instance(self, obj):
        return f"{obj.domain.name} / {obj.name}"


class FewShotCaseForm(forms.Form):
    """One form for a new few-shot case and for a new version of an existing one."""

    subdomain = SubdomainChoiceField(
        queryset=Subdomain.objects.select_related("domain"), label=_("Subdomain")
    )
    task = forms.ModelChoiceField(
        queryset=Task.objects.all(), to_field_name="slug", label=_("Task")
    )
    language = forms.ChoiceField(choices=Language.choices, label=_("Language"))
    source_span = forms.CharField(
        label=_("Source span"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "A span of good human writing from the subdomain, as the generator will be given it."
        ),
    )
    context = forms.CharField(
        label=_("Context"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "The text the instruction works on, when the task has one. Polishing: a worse "
            "version of the span. Style transfer: the span in another style. Expanding: a "
            "condensed version of the span. Summarizing and reviewing: the span itself. Leave "
            "empty for content writing, outlining and brainstorming."
        ),
    )
    instruction = forms.CharField(
        label=_("Instruction"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What a user would ask for, so that the output is a fitting answer."),
    )
    output = forms.CharField(
        label=_("Output"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "The answer to the instruction. Content writing, polishing, style transfer and "
            "expanding: the span itself. Outlining: an outline derived from the span. "
            "Summarizing: the summary. Brainstorming: ideas. Reviewing: a critique of the span."
        ),
    )
    rationale = forms.CharField(
        label=_("Rationale"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why this instruction fits the span: what the model should learn from it."),
    )
    change_note = forms.CharField(
        label=_("Change note"),
        required=False,
        max_length=FewShotCaseVersion._meta.get_field("change_note").max_length,
        help_text=_("What this version changes, for the history."),
    )

    def clean(self):
        cleaned = super().clean()
        content = {f: cleaned.get(f) for f in FewShotCaseVersion.CONTENT_FIELDS}
        if all(content[f] for f in FewShotCaseVersion.CONTENT_FIELDS if f != "context"):
            try:
                cleaned.update(services.fewshot_content_validate(content=content))
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(field, message)
        return cleaned

    def content(self) -> dict:
        return {f: self.cleaned_data[f] for f in FewShotCaseVersion.CONTENT_FIELDS}

    @classmethod
    def initial_from(cls, case, version) -> dict:
        initial = {
            "subdomain": case.subdomain_id,
            "task": case.task.slug,
            "language": case.language,
        }
        if version is not None:
            initial.update(version.content())
        return initial
