"""Pages that start and watch LLM jobs (scoring, backtranslation, curation), selections and
cleaning."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views import View

from principles.models import Domain
from weaver_site.forms import form_add_service_errors
from weaver_site.jobs import job_cancel, job_is_resumable, job_pause, job_resume
from weaver_site.llm.models import CallStatus, Endpoint, LLMCall
from weaver_site.models import Job, JobStatus
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from . import charts
from .corpus import scoring
from .corpus.selection import selection_create
from .generation import kinds
from .models import (
    CorpusImport,
    InstructionPair,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
    Selection,
)

LANGUAGES = [("", _("All")), ("zh", _("Chinese")), ("en", _("English"))]


class ScoringForm(forms.Form):
    endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.filter(is_active=True), label=_("Endpoint")
    )
    language = forms.ChoiceField(choices=LANGUAGES, required=False, label=_("Language"))
    domain = forms.ModelChoiceField(
        queryset=Domain.objects.all(), to_field_name="slug", required=False, label=_("Domain")
    )
    corpus_import = forms.ModelChoiceField(
        queryset=CorpusImport.objects.all(), required=False, label=_("Import")
    )
    budget_usd = forms.DecimalField(
        label=_("Budget (USD)"),
        required=False,
        min_value=0,
        decimal_places=4,
        help_text=_("The job stops before the call that would pass it. Empty: no limit."),
    )


class SelectionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    top_n = forms.IntegerField(label=_("Texts per domain and subdomain"), min_value=1, initial=500)
    score_weight = forms.FloatField(label=_("Weight of the LLM score"), initial=1.0)
    signal_weights = forms.CharField(
        label=_("Weights of the signals"),
        required=False,
        help_text=_("e.g. upvotes=1, reads=0.5 (each signal counts by its percentile rank)"),
    )
    language = forms.ChoiceField(choices=LANGUAGES, required=False, label=_("Language"))
    min_score = forms.IntegerField(
        label=_("Minimum LLM score"), required=False, min_value=1, max_value=5
    )

    def clean_signal_weights(self) -> dict[str, float]:
        weights = {}
        for part in filter(
            None, (p.strip() for p in self.cleaned_data["signal_weights"].split(","))
        ):
            name, sep, value = part.partition("=")
            try:
                if not sep or not name.strip():
                    raise ValueError
                weights[name.strip()] = float(value)
            except ValueError:
                raise ValidationError(
                    _("Write name=number pairs separated by commas; “%(part)s” is not one."),
                    params={"part": part},
                ) from None
        return weights


class _EngineerView(RoleRequiredMixin, View):
    roles = (ENGINEER, ADMIN)


class ScoringStartView(_EngineerView):
    def get(self, request):
        return render(request, "pairs/jobs/score_form.html", {"form": ScoringForm()})

    def post(self, request):
        form = ScoringForm(request.POST)
        if not form.is_valid():
            return render(request, "pairs/jobs/score_form.html", {"form": form}, status=400)
        data = form.cleaned_data
        job = scoring.corpus_scoring_create(
            endpoint=data["endpoint"],
            created_by=request.user,
            budget_usd=data["budget_usd"],
            language=data["language"],
            domain=data["domain"].slug if data["domain"] else "",
            import_id=data["corpus_import"].pk if data["corpus_import"] else None,
        )
        return redirect("pairs:job", pk=job.pk)


JOB_KINDS = (scoring.KIND, kinds.BACKTRANSLATION, kinds.CURATION, kinds.NEGATIVES)
PAIR_KINDS = (kinds.BACKTRANSLATION, kinds.CURATION)


def negatives_distributions(job: Job) -> dict:
    """The running metric distributions of a negatives job's pairs so far."""
    rows = list(
        PreferencePair.objects.filter(job=job)
        .exclude(status=PreferenceStatus.FAILED)
        .values_list("metrics", "flagged", "judge_verdict")
    )
    metrics = [m for m, _f, _j in rows if m]
    judged = [j for _m, _f, j in rows if j]
    charts_ = []
    for key, title, low, high in (
        ("char_similarity", _("Character similarity"), 0, 1),
        ("edit_ratio", _("Edit ratio"), 0, 1),
        ("length_ratio", _("Length ratio"), 0, 2),
    ):
        values = [min(float(m[key]), high) for m in metrics]
        charts_.append(
            (
                title,
                charts.histogram_svg(
                    values,
                    title=title,
                    description=_("Number of pairs per range of %(metric)s.") % {"metric": title},
                    low=low,
                    high=high,
                    chart_id=f"metric-{key}",
                ),
            )
        )
    sentences = [min(int(m["sentences_changed"]), 10) for m in metrics]
    charts_.append(
        (
            _("Sentences changed"),
            charts.histogram_svg(
                sentences,
                title=_("Sentences changed"),
                description=_("Number of pairs per number of sentences changed (10 or more)."),
                bins=11,
                low=0,
                high=11,
                chart_id="metric-sentences_changed",
            ),
        )
    )
    return {
        "pairs": len(rows),
        "flagged": sum(1 for _m, f, _j in rows if f),
        "identical": sum(1 for m in metrics if m.get("identical")),
        "judged": len(judged),
        "judge_passed": sum(1 for j in judged if j == "pass"),
        "charts": charts_,
    }


class JobView(_EngineerView):
    """An LLM job: live progress, cost against budget, pause, resume, cancel, and its failures
    with the raw answers."""

    def get(self, request, pk):
        job = get_object_or_404(Job, pk=pk, kind__in=JOB_KINDS)
        resumable = job_is_resumable(job)
        ctx = {
            "job": job,
            "finished": min(job.done + job.failed, job.total),
            "live": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
            "can_pause": resumable and job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
            "can_resume": resumable
            and job.status in (JobStatus.PAUSED, JobStatus.STOPPED_BUDGET, JobStatus.FAILED),
            "can_cancel": job.status
            in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.STOPPED_BUDGET),
            "makes_pairs": job.kind in PAIR_KINDS,
            "is_backtranslation": job.kind == kinds.BACKTRANSLATION,
            "is_negatives": job.kind == kinds.NEGATIVES,
        }
        if request.headers.get("HX-Request") == "true":
            # The live status polls every second: only the job row, no failures or charts.
            return render(request, "pairs/jobs/_job_status.html", ctx)
        ctx.update(
            failures=Paginator(self._failures(job), 20).get_page(request.GET.get("page")),
            pair_failures=job.kind == kinds.BACKTRANSLATION,
            preference_failures=job.kind == kinds.NEGATIVES,
            distributions=negatives_distributions(job) if job.kind == kinds.NEGATIVES else None,
        )
        return render(request, "pairs/jobs/job.html", ctx)

    @staticmethod
    def _failures(job: Job):
        if job.kind == kinds.BACKTRANSLATION:
            return InstructionPair.objects.filter(job=job, status=PairStatus.FAILED).order_by("pk")
        if job.kind == kinds.NEGATIVES:
            return PreferencePair.objects.filter(job=job, status=PreferenceStatus.FAILED).order_by(
                "pk"
            )
        return LLMCall.objects.filter(
            job=job, status__in=[CallStatus.FAILED, CallStatus.INVALID]
        ).order_by("-created_at")

    def post(self, request, pk):
        """Pause, resume or cancel (the default): a running job stops after its chunks in
        flight."""
        job = get_object_or_404(Job, pk=pk, kind__in=JOB_KINDS)
        action = request.POST.get("action", "cancel")
        if action == "pause":
            job_pause(job=job)
        elif action == "resume":
            job_resume(job=job)
        elif action == "cancel":
            job_cancel(job=job)
        else:
            return HttpResponseBadRequest(_("Unknown action."))
        return redirect("pairs:job", pk=pk)


class SelectionCreateView(_EngineerView):
    def get(self, request):
        return render(request, "pairs/jobs/selection_form.html", {"form": SelectionForm()})

    def post(self, request):
        form = SelectionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                selection = selection_create(
                    name=data["name"],
                    top_n=data["top_n"],
                    weights={"score": data["score_weight"], "signals": data["signal_weights"]},
                    filters={"language": data["language"], "min_score": data["min_score"]},
                    created_by=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                return redirect("pairs:selection", pk=selection.pk)
        return render(request, "pairs/jobs/selection_form.html", {"form": form}, status=400)


class SelectionDetailView(_EngineerView):
    def get(self, request, pk):
        selection = get_object_or_404(Selection, pk=pk)
        items = Paginator(
            selection.items.select_related("text__domain", "text__subdomain").order_by(
                "text__domain__position", "text__subdomain__position", "rank"
            ),
            100,
        ).get_page(request.GET.get("page"))
        return render(
            request, "pairs/jobs/selection.html", {"selection": selection, "items": items}
        )


THRESHOLD_LABELS = {
    "min_chars_zh": _("Shortest Chinese text (visible characters)"),
    "max_chars_zh": _("Longest Chinese text (visible characters)"),
    "min_chars_en": _("Shortest English text (visible characters)"),
    "max_chars_en": _("Longest English text (visible characters)"),
    "max_duplicate_line_share": _("Largest share of duplicate lines"),
    "duplicate_line_min_chars": _("Shortest line counted as a duplicate (characters)"),
    "max_repeated_ngram_share": _("Largest share of text in repeated n-grams"),
    "ngram_words_en": _("n-gram size in English (words)"),
    "ngram_chars_zh": _("n-gram size in Chinese (characters)"),
    "max_symbol_ratio": _("Largest share of symbols"),
    "max_digit_ratio": _("Largest share of digits"),
    "max_url_ratio": _("Largest share of URLs and e-mail addresses"),
    "max_boilerplate_share": _("Largest share of boilerplate lines"),
    "max_mojibake_per_1000": _("Most mojibake sequences per 1,000 characters"),
    "max_control_chars": _("Most control characters"),
    "min_cjk_ratio_zh": _("Smallest share of Chinese characters in Chinese text"),
    "max_cjk_ratio_en": _("Largest share of Chinese characters in English text"),
}


class CleaningForm(forms.Form):
    """Which cleaning steps to run, on which texts, with which quality thresholds."""

    corpus_import = forms.ModelChoiceField(
        queryset=CorpusImport.objects.all(),
        required=False,
        label=_("Import"),
        help_text=_("Empty: the texts not checked yet (filters) or without spans (spans)."),
    )
    run_filters = forms.BooleanField(
        label=_("Run the quality filters"), required=False, initial=True
    )
    run_spans = forms.BooleanField(label=_("Cut texts into spans"), required=False, initial=True)
    target_chars = forms.IntegerField(
        label=_("Span target length (characters)"), min_value=100, initial=800
    )
    run_dedup = forms.BooleanField(
        label=_("Find near-duplicates across the corpus"), required=False, initial=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .corpus.quality import QualityConfig

        for name, value in QualityConfig().as_dict().items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            field_class = forms.IntegerField if isinstance(value, int) else forms.FloatField
            self.fields[f"q_{name}"] = field_class(
                label=THRESHOLD_LABELS.get(name, name.replace("_", " ")),
                initial=value,
                min_value=0,
                required=True,
            )

    def quality_config(self) -> dict:
        return {k[2:]: v for k, v in self.cleaned_data.items() if k.startswith("q_")}


class CleaningView(_EngineerView):
    def get(self, request):
        return render(request, "pairs/jobs/clean_form.html", {"form": CleaningForm()})

    def post(self, request):
        from django.contrib import messages
        from django.db import transaction

        from .corpus import cleaning_tasks

        form = CleaningForm(request.POST)
        if not form.is_valid():
            return render(request, "pairs/jobs/clean_form.html", {"form": form}, status=400)
        data = form.cleaned_data
        import_id = data["corpus_import"].pk if data["corpus_import"] else None
        if data["run_filters"]:
            config = form.quality_config()
            transaction.on_commit(lambda: cleaning_tasks.run_filter.delay(import_id, config))
        if data["run_spans"]:
            target = data["target_chars"]
            transaction.on_commit(lambda: cleaning_tasks.run_spans.delay(import_id, target))
        if data["run_dedup"]:
            transaction.on_commit(cleaning_tasks.run_dedup.delay)
        messages.success(
            request, _("Started. Verdicts, spans and clusters appear as the worker gets to them.")
        )
        return redirect("pairs:clean")
