import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from principles import services
from principles.models import Principle, PrincipleStatus, PrincipleVersion, VersionState

from ..factories import make_principle, principle_content


def edit(principle, user, **changes):
    return services.principle_version_create(
        principle=principle, author=user, content=principle_content(**changes), change_note="edit"
    )


def test_lifecycle_keeps_approved_version_in_use_while_next_is_drafted(author, admin_user):
    p = make_principle(author)
    assert p.status == PrincipleStatus.DRAFT and p.latest_version.number == 1

    services.principle_submit(principle=p, user=author)
    assert p.status == PrincipleStatus.IN_REVIEW
    v1 = services.principle_approve(principle=p, user=admin_user)
    assert v1.state == VersionState.APPROVED and p.approved_version_id == v1.pk

    v2 = edit(p, author, title="Show, don't tell (revised)")
    p.refresh_from_db()
    assert (v2.number, v2.state) == (2, VersionState.DRAFT)
    assert p.status == PrincipleStatus.DRAFT
    assert p.approved_version_id == v1.pk  # still in use
    v1.refresh_from_db()
    assert v1.state == VersionState.APPROVED and v1.title == "Show, don't tell"

    services.principle_submit(principle=p, user=author)
    services.principle_send_back(principle=p, user=admin_user, comment="Sharper example, please")
    v2.refresh_from_db()
    assert v2.state == VersionState.DRAFT and v2.review_comment == "Sharper example, please"

    v3 = edit(p, author, title="Show, don't tell (v3)")
    v2.refresh_from_db()
    assert v2.state == VersionState.SUPERSEDED
    services.principle_submit(principle=p, user=author)
    services.principle_approve(principle=p, user=admin_user)
    p.refresh_from_db()
    v1.refresh_from_db()
    assert p.approved_version_id == v3.pk and v1.state == VersionState.SUPERSEDED
    assert list(p.versions.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


def test_versions_are_never_changed_in_place(author, admin_user):
    p = make_principle(author)
    before = p.latest_version.content()
    edit(p, author, description="A new description")
    assert PrincipleVersion.objects.get(principle=p, number=1).content() == before


def test_only_owner_edits(author, author2, admin_user, reviewer):
    p = make_principle(author)
    for other in (author2, admin_user, reviewer):
        with pytest.raises(PermissionDenied):
            edit(p, other, title="hijacked")
    assert p.versions.count() == 1


def test_roles_for_transitions(author, author2, admin_user, reviewer, engineer):
    p = make_principle(author)
    with pytest.raises(PermissionDenied):
        services.principle_submit(principle=p, user=author2)
    with pytest.raises(PermissionDenied):
        services.principle_approve(principle=p, user=admin_user)  # not in review yet
    services.principle_submit(principle=p, user=author)
    for user in (author, author2, reviewer, engineer):
        with pytest.raises(PermissionDenied):
            services.principle_approve(principle=p, user=user)
    with pytest.raises(PermissionDenied):
        services.principle_retire(principle=p, user=author2)
    services.principle_retire(principle=p, user=author)
    with pytest.raises(PermissionDenied):
        edit(p, author, title="after retiring")


def test_reviewers_and_engineers_cannot_create(reviewer, engineer, norole):
    for user in (reviewer, engineer, norole):
        with pytest.raises(PermissionDenied):
            make_principle(user)
    assert Principle.objects.count() == 0


def test_send_back_needs_a_comment(author, admin_user):
    p = make_principle(author)
    services.principle_submit(principle=p, user=author)
    with pytest.raises(ValidationError) as exc:
        services.principle_send_back(principle=p, user=admin_user, comment="  ")
    assert "comment" in exc.value.message_dict


def test_content_validation_names_fields(author):
    with pytest.raises(ValidationError) as exc:
        make_principle(author, description="", violating_rationale="  ")
    assert set(exc.value.message_dict) == {"description", "violating_rationale"}
    with pytest.raises(ValidationError) as exc:
        make_principle(
            author,
            violating_text="She pressed her face to the cold window until her breath fogged it.",
        )
    assert "violating_text" in exc.value.message_dict
    assert Principle.objects.count() == 0


def test_saving_an_unchanged_version_is_refused(author):
    p = make_principle(author)
    with pytest.raises(ValidationError):
        edit(p, author)
    assert p.versions.count() == 1
