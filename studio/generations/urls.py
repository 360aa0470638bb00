"""URLs of the generation page, a shot's takes, history, compare and media."""

from django.urls import path

from studio.generations import views

urlpatterns = [
    path("generations/<uuid:pk>/", views.generation_detail, name="generation-detail"),
    path(
        "generations/<uuid:pk>/run-again/",
        views.generation_run_again,
        name="generation-run-again",
    ),
    path("generations/<uuid:pk>/archive/", views.generation_archive, name="generation-archive"),
    path("generations/<uuid:pk>/continue/", views.generation_continue, name="generation-continue"),
    path(
        "generations/<uuid:pk>/video.mp4",
        views.generation_file,
        {"field": "video"},
        name="generation-video",
    ),
    path("generations/images/<uuid:pk>/", views.input_image, name="input-image"),
    path(
        "generations/<uuid:pk>/poster.jpg",
        views.generation_file,
        {"field": "poster"},
        name="generation-poster",
    ),
    path(
        "generations/<uuid:pk>/poster-1x.jpg",
        views.generation_file,
        {"field": "poster_1x"},
        name="generation-poster-1x",
    ),
    path("shots/<uuid:pk>/", views.shot_detail, name="shot-detail"),
    path("history/", views.history, name="history"),
    path("compare/", views.compare, name="compare"),
    path("activity/", views.activity_updates, name="activity"),
]
