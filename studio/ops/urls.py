"""URLs of the operating pages (admins)."""

from django.urls import path

from studio.ops import views

urlpatterns = [
    path("retention/", views.retention_page, name="retention"),
    path("health/", views.health_page, name="health"),
]
