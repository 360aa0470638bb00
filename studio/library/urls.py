"""URLs of the library (included under library/). The studio form's parts under library/
(preset-apply, batch-preview, batch-create, recipe-run) are the composer's: composer/urls.py."""

from django.urls import path

from studio.library import preset_views, views

urlpatterns = [
    path("", views.library, name="library"),
    path("prompts/new/", views.prompt_create, name="prompt-create"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt-detail"),
    path("prompts/<int:pk>/edit/", views.prompt_edit, name="prompt-edit"),
    path("prompts/<int:pk>/diff/", views.prompt_diff, name="prompt-diff"),
    path("prompts/<int:pk>/star/", views.prompt_star, name="prompt-star"),
    path("prompts/<int:pk>/fork/", views.prompt_fork, name="prompt-fork"),
    path("prompts/<int:pk>/remove/", views.prompt_remove, name="prompt-remove"),
    path("prompts/<int:pk>/restore/", views.prompt_restore, name="prompt-restore"),
    path("prompts/<int:pk>/export/", views.prompt_export, name="prompt-export"),
    path("presets/", preset_views.presets, name="presets"),
    path("presets/<int:pk>/", preset_views.preset_edit, name="preset-edit"),
    path("presets/<int:pk>/delete/", preset_views.preset_delete, name="preset-delete"),
    path("presets/<int:pk>/default/", preset_views.preset_default, name="preset-default"),
    path("batches/<uuid:pk>/", views.batch_detail, name="batch-detail"),
    path("export/", views.library_export, name="library-export"),
    path("import/", views.library_import, name="library-import"),
    path("recipes/<uuid:pk>/", views.generation_recipe, name="generation-recipe"),
]
