"""The license gate: which declared sources may become training data at all.

Rules, checked before anything is read:
- a source of kind `user_conversations` is always refused (the service's users' chats are
  never training data, whatever flag is set);
- a source without a license, or with a placeholder such as "unknown", is refused;
- a non-commercial license (CC-BY-NC-*, "non-commercial", "research only") is refused unless
  the source sets `allow_noncommercial: true`, and the model card then says so.
While loading, a record that carries the service's own identifiers (user_id, chat_id, ...) marks
the whole source as user conversations and refuses it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from training.config import SourceConfig, SourceKind

_PLACEHOLDERS = {"", "unknown", "none", "n/a", "na", "tbd", "todo", "?", "unspecified"}
_NONCOMMERCIAL = re.compile(
    r"(^|[-_\s.])nc([-_\s.]|$)|non[-\s]?commercial|research[-\s]?only|no[-\s]?commercial",
    re.IGNORECASE,
)
# Keys that the service's own stored messages have (companion/domain/models.py) and that
# public chat datasets do not: a record with them is an export of our users' conversations.
USER_DATA_KEYS = frozenset({"user_id", "telegram_id", "chat_id", "conversation_id", "tg_user_id"})


class SourceRefusedError(Exception):
    """A source the build will not use; the message says which and why, and how to fix it."""


def is_noncommercial(license_id: str) -> bool:
    return bool(_NONCOMMERCIAL.search(license_id))


def refusal_reason(source: SourceConfig) -> str | None:
    if source.kind is SourceKind.USER_CONVERSATIONS:
        return (
            "user conversations are never used for training (privacy: users were promised "
            "their chats stay theirs); remove this source"
        )
    license_id = (source.license or "").strip()
    if license_id.lower() in _PLACEHOLDERS:
        return "no license declared; set `license:` to the dataset's license (an SPDX id)"
    if is_noncommercial(license_id) and not source.allow_noncommercial:
        return (
            f"license {license_id!r} is non-commercial; this product is commercial, so the "
            "source is refused unless `allow_noncommercial: true` is set deliberately"
        )
    return None


def check_sources(sources: Iterable[SourceConfig]) -> None:
    """Raise SourceRefusedError listing every refused source, or return when all may be used."""
    problems = [
        f"source {source.name!r} ({source.path}): {reason}"
        for source in sources
        if (reason := refusal_reason(source)) is not None
    ]
    if problems:
        raise SourceRefusedError("refused data source(s):\n  " + "\n  ".join(problems))


def check_record(source: SourceConfig, record: Mapping[str, Any]) -> None:
    """Refuse the source when one of its records looks like our users' stored messages."""
    found = sorted(USER_DATA_KEYS.intersection(record))
    if found:
        raise SourceRefusedError(
            f"source {source.name!r} ({source.path}) looks like user conversations "
            f"(records carry {found}); user conversations are never used for training"
        )
