from rest_framework import serializers

from ..models import Domain, Language, Principle, PrincipleVersion, Subdomain, Task


class DomainSerializer(serializers.ModelSerializer):
    class Meta:
        model = Domain
        fields = ("id", "slug", "name_en", "name_zh", "position")


class SubdomainSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", queryset=Domain.objects.all())

    class Meta:
        model = Subdomain
        fields = ("id", "domain", "slug", "name_en", "name_zh", "position")


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ("id", "slug", "name_en", "name_zh", "position")


class CaseSerializer(serializers.Serializer):
    instruction = serializers.CharField()
    text = serializers.CharField()
    rationale = serializers.CharField()


def _case(version: PrincipleVersion, side: str) -> dict:
    return {k: getattr(version, f"{side}_{k}") for k in ("instruction", "text", "rationale")}


class VersionSerializer(serializers.ModelSerializer):
    following = serializers.SerializerMethodField()
    violating = serializers.SerializerMethodField()
    author = serializers.CharField(source="author.username", read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, default=None)

    class Meta:
        model = PrincipleVersion
        fields = (
            "number",
            "state",
            "title",
            "description",
            "following",
            "violating",
            "change_note",
            "author",
            "created_at",
            "submitted_at",
            "approved_at",
            "reviewed_at",
            "reviewed_by",
            "review_comment",
        )

    def get_following(self, obj) -> CaseSerializer:
        return _case(obj, "following")

    def get_violating(self, obj) -> CaseSerializer:
        return _case(obj, "violating")


class PrincipleSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(source="domain.slug")
    task = serializers.CharField(source="task.slug", default=None)
    owner = serializers.CharField(source="owner.username")
    latest_version = serializers.IntegerField(source="latest_version.number", default=None)
    approved_version = serializers.IntegerField(source="approved_version.number", default=None)
    version = serializers.SerializerMethodField(
        help_text="The version this user sees: the latest, or the approved one for other authors."
    )

    class Meta:
        model = Principle
        fields = (
            "id",
            "domain",
            "task",
            "language",
            "status",
            "owner",
            "latest_version",
            "approved_version",
            "created_at",
            "updated_at",
            "retired_at",
            "version",
        )

    def get_version(self, obj) -> VersionSerializer:
        version = getattr(obj, "shown", None)
        return VersionSerializer(version).data if version else None


class VersionWriteSerializer(serializers.Serializer):
    """A new version's content; domain, task and language move the principle when given."""

    domain = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), required=False
    )
    task = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Task.objects.all(),
        required=False,
        allow_null=True,
        help_text="A task slug, or null for every task of the domain.",
    )
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField()
    following = CaseSerializer()
    violating = CaseSerializer()
    change_note = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def content(self) -> dict:
        data = self.validated_data
        content = {"title": data["title"], "description": data["description"]}
        for side in ("following", "violating"):
            for key, value in data[side].items():
                content[f"{side}_{key}"] = value
        return content


class PrincipleCreateSerializer(VersionWriteSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", queryset=Domain.objects.all())
    task = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Task.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A task slug, or null for every task of the domain.",
    )
    language = serializers.ChoiceField(choices=Language.choices)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ImportResultSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.IntegerField())


class ImportErrorSerializer(serializers.Serializer):
    errors = serializers.ListField(child=serializers.DictField())
