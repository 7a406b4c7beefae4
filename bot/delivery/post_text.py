"""The French text of a group post (`bot.storage.group_posts`): a patient's words that are not an alert of their own.

Pseudonymous like an alert (study id and site only). A `words` post carries the messages held by burst control, each
with its time ("3 autres messages de P-001 : …"); a `followup` post carries a red flag joined to the open alert of its
danger group, said as such, so the team reads the new words at once without a second urgent alert.
"""

from __future__ import annotations

from datetime import tzinfo

from bot.delivery.alert_text import media_label
from bot.i18n import _
from bot.storage.alerts import AlertRow
from bot.storage.group_posts import CarriedMessage, PostRow

#: Telegram takes 4,096 characters a message; what a post carries is cut to stay below (never in practice: a post
#: takes held texts up to `group_posts.WORDS_POST_CHARS`).
_POST_LIMIT = 3900


def _quoted(message: CarriedMessage) -> str:
    parts = []
    if message.kind != "text":
        parts.append(_("{what} (copied below)").format(what=media_label(message.kind)))
    if message.text:
        parts.append(f"« {message.text} »")
    return " ".join(parts) or "« »"


def post_text(
    post: PostRow, carried: list[CarriedMessage], *, study_id: str, site: str, alert: AlertRow | None, timezone: tzinfo
) -> str:
    """Render a `words` or `followup` post."""
    lines: list[str] = []
    if post.kind == "followup":
        since = alert.created_at.astimezone(timezone).strftime("%H:%M") if alert is not None else "?"
        title = str(alert.payload.get("title", "")) if alert is not None else ""
        lines.append(
            _("🔴 New message from {study_id} ({site}), joined to the open alert of {time}: {title}").format(
                study_id=study_id, site=site, time=since, title=title
            )
        )
    else:
        many = (
            _("ℹ️ {n} more messages from {study_id} ({site}):")
            if len(carried) > 1
            else _("ℹ️ One more message from {study_id} ({site}):")
        )
        lines.append(many.format(n=len(carried), study_id=study_id, site=site))
    for message in carried:
        at = message.received_at.astimezone(timezone).strftime("%H:%M")
        lines.append(f"{at} {_quoted(message)}")
    text = "\n".join(lines)
    return text if len(text) <= _POST_LIMIT else text[:_POST_LIMIT] + "…"


def copy_refused_text(kind: str, study_id: str) -> str:
    """Telegram refused, again and again, to copy a media (the patient deleted it): the team is told, not silent."""
    return _(
        "{study_id} sent {what} that could not be copied here (the patient may have deleted it). It is listed "
        "in the patient's messages."
    ).format(study_id=study_id, what=media_label(kind))
