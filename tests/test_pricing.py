"""The unit price table: estimates per model, mode and duration, read from settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from studio.kling.capabilities import IMAGE_MODELS, MODELS
from studio.review.pricing import PriceUnknown, estimate_units, price_table, sound_prices


def test_kling_v1_std_5s_costs_one_unit_as_in_the_api_example() -> None:
    params = {"model_name": "kling-v1", "mode": "std", "duration": "5"}
    assert estimate_units(params) == Decimal("1")


def test_pro_and_longer_videos_cost_more() -> None:
    std5 = estimate_units({"model_name": "kling-v1-6", "mode": "std", "duration": "5"})
    std10 = estimate_units({"model_name": "kling-v1-6", "mode": "std", "duration": "10"})
    pro5 = estimate_units({"model_name": "kling-v1-6", "mode": "pro", "duration": "5"})
    assert std5 < std10 and std5 < pro5


def test_every_model_mode_and_duration_the_form_offers_has_a_price() -> None:
    for spec in (*MODELS.values(), *IMAGE_MODELS.values()):  # text and image to video
        for mode in spec.modes or ("",):
            for duration in spec.durations:
                params = {"model_name": spec.name, "mode": mode or None, "duration": duration}
                assert estimate_units(params) > 0, params


def test_per_second_prices_cover_any_duration_and_sound_multiplies() -> None:
    seven = estimate_units({"model_name": "kling-v3", "mode": "pro", "duration": "7"})
    assert seven == Decimal("3.5")
    loud = {"model_name": "kling-v3", "mode": "pro", "duration": "7", "sound": "on"}
    assert estimate_units(loud) == Decimal("5.25")


def test_master_models_ignore_a_mode_and_a_missing_model_means_kling_v1() -> None:
    assert estimate_units({"model_name": "kling-v2-master", "mode": "pro", "duration": "5"}) == 10
    assert estimate_units({"duration": "10"}) == estimate_units(
        {"model_name": "kling-v1", "mode": "std", "duration": "10"}
    )


def test_the_table_comes_from_settings(settings) -> None:
    settings.STUDIO_UNIT_PRICES = {"kling-v1": {"std": {"5": "0.25"}}}
    assert estimate_units({"model_name": "kling-v1", "mode": "std", "duration": "5"}) == Decimal(
        "0.25"
    )
    with pytest.raises(PriceUnknown):
        estimate_units({"model_name": "kling-v1", "mode": "pro", "duration": "5"})
    with pytest.raises(PriceUnknown):
        estimate_units({"model_name": "kling-v1", "mode": "std", "duration": "10"})
    assert price_table() == {"kling-v1": {"std": {"5": "0.25"}}}


def load_prices(tmp_path, raw: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path), "STUDIO_UNIT_PRICES": raw}
    env["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    code = (
        "import json, django; django.setup()\n"
        "from django.conf import settings\n"
        "print(json.dumps(settings.STUDIO_UNIT_PRICES))"
    )
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )


def test_the_environment_can_replace_the_table_and_bad_json_is_refused(tmp_path) -> None:
    table = {"kling-v1": {"std": {"5": "0.7"}}}
    done = load_prices(tmp_path, json.dumps(table))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == table
    for bad in ("{not json", "[1, 2]"):
        refused = load_prices(tmp_path, bad)
        assert refused.returncode != 0
        assert "STUDIO_UNIT_PRICES must be a JSON object" in refused.stderr


def test_sound_off_costs_the_silent_price_and_on_costs_the_sound_factor_more() -> None:
    silent = {"model_name": "kling-v2-6", "mode": "pro", "duration": "5"}
    assert estimate_units({**silent, "sound": "off"}) == estimate_units(silent) == Decimal("2.5")
    assert estimate_units({**silent, "sound": "on"}) == Decimal("5")
    v3 = {"model_name": "kling-v3", "mode": "std", "duration": "10"}
    assert estimate_units({**v3, "sound": "off"}) == Decimal("3")
    assert estimate_units({**v3, "sound": "on"}) == Decimal("4.5")


def test_every_mode_that_makes_sound_has_a_price_for_it(settings) -> None:
    for spec in MODELS.values():
        for mode in spec.sound_modes:
            assert "sound_factor" in settings.STUDIO_UNIT_PRICES[spec.name][mode], spec.name


def test_sound_prices_are_given_only_where_the_model_makes_sound() -> None:
    pro = {"model_name": "kling-v2-6", "mode": "pro", "duration": "10", "sound": "on"}
    assert sound_prices(pro) == (Decimal("5"), Decimal("10"))
    assert sound_prices({"model_name": "kling-v3", "mode": "std", "duration": "5"}) == (
        Decimal("1.5"),
        Decimal("2.25"),
    )
    assert sound_prices({**pro, "mode": "std"}) is None
    assert sound_prices({"model_name": "kling-v1", "mode": "std", "duration": "5"}) is None
    assert sound_prices({"model_name": "kling-v2-master", "duration": "5"}) is None
