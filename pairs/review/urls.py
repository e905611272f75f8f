from django.urls import path

from . import views, views_manage

app_name = "review"

urlpatterns = [
    # Managers (engineers, admins) and the reviewers' list of their queues: views_manage.
    path("", views_manage.QueueListView.as_view(), name="queues"),
    path("queues/new/", views_manage.QueueCreateView.as_view(), name="queue-new"),
    path("queues/<int:pk>/", views_manage.QueueDetailView.as_view(), name="queue"),
    path("queues/<int:pk>/edit/", views_manage.QueueEditView.as_view(), name="queue-edit"),
    path("queues/<int:pk>/gold/", views_manage.QueueGoldView.as_view(), name="queue-gold"),
    path("queues/<int:pk>/agreement/", views_manage.AgreementView.as_view(), name="agreement"),
    path("adjudicate/", views_manage.ConflictListView.as_view(), name="conflicts"),
    path("adjudicate/<int:pk>/", views_manage.AdjudicateView.as_view(), name="adjudicate"),
    path("feedback/", views_manage.FeedbackView.as_view(), name="feedback"),
    # The review screen: views.
    path("queues/<int:pk>/next/", views.NextView.as_view(), name="next"),
    path("r/<int:pk>/", views.ReviewScreenView.as_view(), name="screen"),
    path("r/<int:pk>/draft/", views.DraftView.as_view(), name="draft"),
    path("r/<int:pk>/submit/", views.SubmitView.as_view(), name="submit"),
    path("r/<int:pk>/skip/", views.SkipView.as_view(), name="skip"),
]
