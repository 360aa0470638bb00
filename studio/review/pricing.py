"""What a video costs in upstream units, before it is made: the price table lives in
settings (STUDIO_UNIT_PRICES) as data, this module only reads it.

The table maps model -> mode -> prices. A model without a std/pro split (the master
models) has the mode "". Each mode maps durations in seconds (strings, as the request
body has them) to units; "per_second" prices any duration not listed, and "sound_factor"
multiplies the price when `sound` is on. Actual charges come from the upstream
(`final_unit_deduction`, saved as Generation.units_charged by the poller).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings

from studio.kling.capabilities import MODELS

DEFAULT_MODEL = "kling-v1"  # docs/upstream.md §3: an omitted model_name means kling-v1


class PriceUnknown(ValueError):
    """The table has no price for this model, mode and duration."""


def estimate_units(params: dict) -> Decimal:
    """Units the upstream is expected to charge for one create with these request-body
    shaped `params` (model_name, mode, duration, optionally sound). Raises PriceUnknown."""
    name = params.get("model_name") or DEFAULT_MODEL
    spec = MODELS.get(name)
    mode = (params.get("mode") or "std") if spec is None or spec.modes else ""
    duration = str(params.get("duration") or "5")
    prices = settings.STUDIO_UNIT_PRICES.get(name, {}).get(mode)
    if prices is None:
        raise PriceUnknown(f"No unit price is set for {name} in {mode or 'its only'} mode.")
    if duration in prices:
        units = _decimal(prices[duration])
    elif "per_second" in prices and duration.isdigit():
        units = _decimal(prices["per_second"]) * int(duration)
    else:
        raise PriceUnknown(f"No unit price is set for {duration} s of {name} {mode}.".strip())
    if params.get("sound") == "on" and "sound_factor" in prices:
        units *= _decimal(prices["sound_factor"])
    return units.quantize(Decimal("0.001"))


def sound_prices(params: dict) -> tuple[Decimal, Decimal] | None:
    """What the sound choice costs for these params: (silent, with sound), or None when the
    model makes no sound in this mode or the table has no price for it."""
    spec = MODELS.get(params.get("model_name") or DEFAULT_MODEL)
    if spec is None or not spec.takes_sound(params.get("mode") if spec.modes else None):
        return None
    try:
        return estimate_units({**params, "sound": "off"}), estimate_units({**params, "sound": "on"})
    except PriceUnknown:
        return None


def price_table() -> dict:
    """The table as the studio form's script reads it (json_script): strings, never floats."""
    return {
        model: {
            mode: {key: str(value) for key, value in prices.items()}
            for mode, prices in modes.items()
        }
        for model, modes in settings.STUDIO_UNIT_PRICES.items()
    }


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PriceUnknown(f"The unit price {value!r} is not a number.") from None
