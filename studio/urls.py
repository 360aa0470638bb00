"""URLs of the studio. Media is never served from MEDIA_URL: videos and posters go
through access-checked views (studio/generations/views.py)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studio import health
from studio.generations import webhooks

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("hooks/kling/<uuid:pk>/<str:token>/", webhooks.kling_callback, name="kling-callback"),
    path("library/", include("studio.library.urls")),
    path("", include("studio.generations.urls")),
    path("", include("studio.review.urls")),
]
