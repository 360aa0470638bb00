"""URLs of the studio page and its fragments. The form's library parts keep their paths
under library/ (the names and paths other pages and bookmarks know)."""

from django.urls import include, path

from studio.composer import views

# What the studio form itself posts: a preset applied, a batch previewed or queued.
form_parts = [
    path("presets/apply/", views.preset_apply, name="preset-apply"),
    path("batches/preview/", views.batch_preview, name="batch-preview"),
    path("batches/new/", views.batch_create, name="batch-create"),
]
# What the import page posts and the studio form opens: a recipe card, or either kind of file.
uploads = [
    path("recipes/run/", views.recipe_run, name="recipe-run"),
    path("import/file/", views.import_file, name="import-file"),
]

urlpatterns = [
    path("", views.studio, name="studio"),
    path("generations/new/", views.generation_create, name="generation-create"),
    path("queue/updates/", views.queue_updates, name="queue-updates"),
    path("library/", include(form_parts + uploads)),
]
