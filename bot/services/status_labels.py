"""A patient's status as the clinicians read it, shared by the group's commands and the digest's call list."""

from __future__ import annotations

from bot.i18n import _


def status_label(status: str) -> str:
    """A patient status as the clinicians read it."""
    labels = {
        "invited": _("invited"), "joined": _("joined"), "active": _("active"), "paused": _("paused"),
        "withdrawn": _("withdrawn"), "unreachable": _("unreachable"), "deceased": _("deceased"),
    }
    return labels.get(status, status)
