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
    path("generations/images/<uuid:pk>/", views.input_image, name="input-image"),
    path("shots/<uuid:pk>/", views.shot_detail, name="shot-detail"),
    path("history/", views.history, name="history"),
    path("compare/", views.compare, name="compare"),
    path("activity/", views.activity_updates, name="activity"),
    # A generation's stored files, all through one access-checked view (views.MEDIA).
    *(
        path(f"generations/<uuid:pk>/{file}", views.generation_file, {"field": field}, name=name)
        for file, field, name in (
            ("video.mp4", "video", "generation-video"),
            ("poster.jpg", "poster", "generation-poster"),
            ("poster-1x.jpg", "poster_1x", "generation-poster-1x"),
        )
    ),
]
