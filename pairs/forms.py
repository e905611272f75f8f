from django import forms
from django.utils.translation import gettext_lazy as _

from principles.models import Domain, Language, Subdomain

from .models import CorpusImport, ImportFormat

#: Mapping targets in the order the mapping page shows them, with their labels.
MAPPING_TARGETS = (
    ("text", _("Text")),
    ("title", _("Title")),
    ("author", _("Author")),
    ("language", _("Language")),
    ("domain", _("Domain")),
    ("subdomain", _("Subdomain")),
    ("licence", _("Licence")),
    ("source", _("Source")),
    ("external_id", _("Id in the source")),
)
DEFAULT_TARGETS = ("language", "domain", "subdomain", "licence", "source")


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))
    format = forms.ChoiceField(choices=ImportFormat.choices, label=_("Format"))
    name = forms.CharField(
        label=_("Name"),
        max_length=CorpusImport._meta.get_field("name").max_length,
        required=False,
        help_text=_("Shown in the list of imports; the file name when left empty."),
    )


class MappingForm(forms.Form):
    """One select per target (the file's fields as choices), signal checkboxes and defaults.

    The choices come from the preview, so a bound form keeps what the user chose when the
    service refuses it.
    """

    def __init__(self, *args, fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        options = [("", _("— not in the file —"))] + [(f, f) for f in fields]
        for key, label in MAPPING_TARGETS:
            self.fields[f"map_{key}"] = forms.ChoiceField(
                choices=options, required=False, label=label
            )
        self.fields["signals"] = forms.MultipleChoiceField(
            choices=[(f, f) for f in fields],
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label=_("Popularity signals"),
            help_text=_("Numeric fields (votes, reads, ratings) used to rank near-duplicates."),
        )
        self.fields["default_language"] = forms.ChoiceField(
            choices=[("", "—")] + list(Language.choices), required=False, label=_("Language")
        )
        self.fields["default_domain"] = forms.ChoiceField(
            choices=[("", "—")] + [(d.slug, d.name) for d in Domain.objects.all()],
            required=False,
            label=_("Domain"),
        )
        self.fields["default_subdomain"] = forms.ChoiceField(
            choices=[("", "—")]
            + [
                (s.slug, f"{s.domain.name} / {s.name}")
                for s in Subdomain.objects.select_related("domain")
            ],
            required=False,
            label=_("Subdomain"),
        )
        self.fields["default_licence"] = forms.CharField(
            max_length=200, required=False, label=_("Licence")
        )
        self.fields["default_source"] = forms.CharField(
            max_length=500, required=False, label=_("Source")
        )

    @classmethod
    def initial_from(cls, corpus_import: CorpusImport, fields: list[str]) -> dict:
        """What the import already has, else fields named like a target."""
        initial = {}
        mapping = corpus_import.mapping or {}
        lowered = {f.lower(): f for f in fields}
        guesses = {
            "text": ("text", "body", "content"),
            "title": ("title",),
            "author": ("author",),
            "language": ("language", "lang"),
            "domain": ("domain",),
            "subdomain": ("subdomain",),
            "licence": ("licence", "license"),
            "source": ("source", "url"),
            "external_id": ("id", "external_id", "uid"),
        }
        for key, _label in MAPPING_TARGETS:
            if mapping.get(key) in fields:
                initial[f"map_{key}"] = mapping[key]
            elif not mapping:
                initial[f"map_{key}"] = next((lowered[g] for g in guesses[key] if g in lowered), "")
        initial["signals"] = [s for s in mapping.get("signals", []) if s in fields]
        for key in DEFAULT_TARGETS:
            initial[f"default_{key}"] = (corpus_import.defaults or {}).get(key, "")
        return initial

    def mapping(self) -> dict:
        data = self.cleaned_data
        out = {key: data[f"map_{key}"] for key, _label in MAPPING_TARGETS if data[f"map_{key}"]}
        if data["signals"]:
            out["signals"] = list(data["signals"])
        return out

    def defaults(self) -> dict:
        data = self.cleaned_data
        return {k: data[f"default_{k}"] for k in DEFAULT_TARGETS if data[f"default_{k}"]}

    def add_service_errors(self, message_dict: dict) -> None:
        """Put the service's errors (keyed by target or ``defaults.<target>``) on the fields."""
        for key, errors in message_dict.items():
            name = key
            if key.startswith("mapping."):
                name = f"map_{key.split('.', 1)[1]}"
            elif key.startswith("defaults."):
                name = f"default_{key.split('.', 1)[1]}"
            elif f"map_{key}" in self.fields:
                name = f"map_{key}"
            elif f"default_{key}" in self.fields and f"map_{key}" not in self.fields:
                name = f"default_{key}"
            self.add_error(name if name in self.fields else None, errors)
