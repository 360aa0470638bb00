"""The presets pages: the list with the form for a new one, editing, deleting, and making
one the studio form's default. Applying presets to the studio form: studio/composer/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from studio.accounts.decorators import member
from studio.library.forms import PresetForm
from studio.library.models import DefaultPreset, Preset
from studio.library.views import done


@member
def presets(request: HttpRequest) -> TemplateResponse:
    form = PresetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        preset = Preset.objects.create(
            owner=request.user,
            name=form.cleaned_data["name"],
            visibility=form.cleaned_data["visibility"],
            params=form.params(),
        )
        return done(request, f"Saved the preset “{preset.name}”.", "presets")
    visible = Preset.objects.visible_to(request.user).select_related("owner")
    default = DefaultPreset.objects.filter(user=request.user).values_list("preset", flat=True)
    context = {"form": form, "presets": visible, "default_id": next(iter(default), None)}
    return TemplateResponse(request, "library/presets.html", context)


@member
def preset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    preset = get_object_or_404(Preset.objects.owned_by(request.user), pk=pk)
    if request.method == "POST":
        form = PresetForm(request.POST)
        if form.is_valid():
            preset.name = form.cleaned_data["name"]
            preset.visibility = form.cleaned_data["visibility"]
            preset.params = form.params()
            preset.save()
            return done(request, f"Saved the preset “{preset.name}”.", "presets")
    else:
        form = PresetForm.for_params(preset.name, preset.visibility, preset.params)
    return TemplateResponse(request, "library/preset_edit.html", {"form": form, "preset": preset})


@require_POST
@member
def preset_delete(request: HttpRequest, pk: int) -> HttpResponse:
    preset = get_object_or_404(Preset.objects.owned_by(request.user), pk=pk)
    preset.delete()  # generations keep their own record of it
    return done(request, f"Deleted the preset “{preset.name}”.", "presets")


@require_POST
@member
def preset_default(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a preset the user's default, or stop it being the default."""
    preset = get_object_or_404(Preset.objects.visible_to(request.user), pk=pk)
    current = DefaultPreset.objects.filter(user=request.user, preset=preset)
    if current.exists():
        current.delete()
        return done(request, f"“{preset.name}” is no longer your default preset.", "presets")
    DefaultPreset.objects.update_or_create(user=request.user, defaults={"preset": preset})
    return done(request, f"The studio form now starts with “{preset.name}”.", "presets")
