"""Detects messages about suicide or self-harm (ru/en) so the reply can step out of role-play.

Deliberately phrase-based: recall matters more than precision here (a caring message sent
when it was not needed costs little), but idioms such as "dying of laughter" or "убил время"
must not trigger it. A classifier model can replace this behind the same function.
"""

from __future__ import annotations

import re

_PATTERNS = [
    # English
    r"\bsuicid\w*",
    r"\bkill(?:ing)?\s+my\s*self\b",
    r"\bend(?:ing)?\s+(?:it\s+all|my\s+life)\b",
    r"\btake\s+my\s+(?:own\s+)?life\b",
    r"\b(?:want|wanna|going)\s+(?:to\s+)?die\b",
    r"\bdon'?t\s+want\s+to\s+(?:live|be\s+alive|wake\s+up|exist)\b",
    r"\bself[\s-]?harm\w*",
    r"\b(?:cut|cutting|hurt|hurting|harm|harming)\s+my\s*self\b",
    r"\bbetter\s+off\s+dead\b",
    r"\bno\s+reason\s+to\s+live\b",
    r"\boverdos\w*",
    # Russian
    r"суицид\w*",
    r"самоубийств\w*",
    r"поконч\w*\s+с\s+собой",
    r"поконч\w*\s+с\s+жизнью",
    r"св(?:ести|еду|ожу)\s+сч[её]ты\s+с\s+жизнью",
    r"(?:убить|убью|убиваю)\s+себя",
    r"не\s+хочу\s+(?:больше\s+)?(?:жить|просыпаться|существовать)",
    r"хочу\s+умереть",
    r"лучше\s+бы\s+я\s+умер\w*",
    r"(?:нет|не\s+вижу)\s+смысла\s+жить",
    r"(?:порезать|режу|резать|порежу)\s+(?:себя|себе\s+(?:вены|руки))",
    r"причин\w*\s+себе\s+(?:вред|боль)",
    r"выпилиться",
    r"наглотаться\s+таблеток",
]
_CRISIS_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def is_crisis_message(text: str) -> bool:
    """True when the text talks about suicide or self-harm in Russian or English."""
    return _CRISIS_RE.search(text.replace("ё", "е").replace("Ё", "Е")) is not None
