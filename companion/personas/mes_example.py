"""A card's ``mes_example`` text and the persona's example dialogues, both ways.

``<START>`` opens a dialogue; ``{{user}}:`` / ``<user>:`` and ``{{char}}:`` / ``<bot>:`` /
``<char>:`` open a turn; other lines continue the turn before them.
"""

from __future__ import annotations

import re

from companion.domain.personas import ExampleDialogue, ExampleTurn

# --- mes_example <-> example dialogues -----------------------------------------------------------

_START_RE = re.compile(r"^\s*<START>\s*$", re.IGNORECASE | re.MULTILINE)
_USER_RE = re.compile(r"^\s*(?:\{\{user\}\}|<user>)\s*:\s?(.*)$", re.IGNORECASE)
_CHAR_RE = re.compile(r"^\s*(?:\{\{char\}\}|<bot>|<char>)\s*:\s?(.*)$", re.IGNORECASE)


def parse_mes_example(text: str, *, language: str, char_name: str = "") -> list[ExampleDialogue]:
    """``<START>`` blocks of ``{{user}}: ...`` / ``{{char}}: ...`` lines as example dialogues."""
    name_re = (
        re.compile(rf"^\s*{re.escape(char_name)}\s*:\s?(.*)$", re.IGNORECASE) if char_name else None
    )
    dialogues: list[ExampleDialogue] = []
    for block in _START_RE.split(text):
        messages: list[tuple[str, list[str]]] = []
        for line in block.split("\n"):
            user = _USER_RE.match(line)
            char = _CHAR_RE.match(line) or (name_re.match(line) if name_re else None)
            if user:
                messages.append(("user", [user.group(1)]))
            elif char:
                messages.append(("char", [char.group(1)]))
            elif messages:
                messages[-1][1].append(line)
        turns: list[ExampleTurn] = []
        pending_user: str | None = None
        for speaker, lines in messages:
            said = "\n".join(lines).strip()
            if speaker == "user":
                if pending_user is not None:
                    turns.append(ExampleTurn(user=pending_user, persona=""))
                pending_user = said
            else:
                turns.append(ExampleTurn(user=pending_user or "", persona=said))
                pending_user = None
        if pending_user is not None:
            turns.append(ExampleTurn(user=pending_user, persona=""))
        if turns:
            dialogues.append(ExampleDialogue(language=language, turns=turns))
    return dialogues


def render_mes_example(dialogues: list[ExampleDialogue]) -> str:
    blocks = []
    for dialogue in dialogues:
        lines = ["<START>"]
        for turn in dialogue.turns:
            if turn.user:
                lines.append(f"{{{{user}}}}: {turn.user}")
            if turn.persona:
                lines.append(f"{{{{char}}}}: {turn.persona}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
