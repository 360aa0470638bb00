"""URLs of the studio. Media is never served from MEDIA_URL: videos and posters go
through access-checked views (studio/generations/views.py)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from studio import health
from studio.generations import webhooks

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password-change-done",
    ),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("hooks/kling/<uuid:pk>/<str:token>/", webhooks.kling_callback, name="kling-callback"),
    path("", include("studio.composer.urls")),
    path("library/", include("studio.library.urls")),
    path("ops/", include("studio.ops.urls")),
    path("", include("studio.generations.urls")),
    path("", include("studio.review.urls")),
]
