"""Signals the accounts app sends for the apps above it (the audit log lives in review, which
accounts may not import)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by every admin page (accounts/admin.py StudioAdmin) after an add or change, before a
# delete, and after a bulk action. Arguments: request, action ("add", "change", "delete",
# or "action.<name>"), target (the row, or a sentence for a bulk action), before, after
# (small JSON-able dicts, or None). The review app writes each one to the audit log.
admin_changed = Signal()
