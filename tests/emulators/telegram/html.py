"""Telegram's HTML parse mode, as strict as the real one where it matters to a bot.

https://core.telegram.org/bots/api#html-style: only the listed tags; ``<``, ``>`` and ``&``
outside tags must be entities (a bare ``<`` is an error; Telegram keeps a lone ``&`` that starts
no entity as text); named entities are only ``&lt; &gt; &amp; &quot;``; every tag is closed in
order. `parse_html` returns the text the user sees, or raises `EntityParseError` carrying
Telegram's description ("can't parse entities: ...").
"""

from __future__ import annotations

import re

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
        "tg-time",
    }
)
_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Bad Request: can't parse entities: {detail}")
        self.description = str(self)


def parse_html(text: str) -> str:
    """The visible text of `text` in Telegram HTML, or EntityParseError."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == "<":
            match = _TAG_RE.match(text, pos)
            offset = len(text[:pos].encode("utf-8"))
            if match is None:
                nxt = text[pos + 1 : pos + 2]
                if nxt and (nxt.isalpha() or nxt == "/"):
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
                raise EntityParseError(f"Unexpected end of name token at byte offset {offset}")
            closing, name = match.group(1) == "/", match.group(2).lower()
            if not closing:
                if name not in ALLOWED_TAGS:
                    raise EntityParseError(
                        f'Unsupported start tag "{name}" at byte offset {offset}'
                    )
                stack.append(name)
            else:
                if not stack:
                    raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
                if stack[-1] != name:
                    raise EntityParseError(
                        f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
                    )
                stack.pop()
            pos = match.end()
            continue
        if char == "&":
            match = _ENTITY_RE.match(text, pos)
            if match is not None:
                body = match.group(1)
                if body.startswith("#"):
                    code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
                    out.append(chr(code) if 0 < code <= 0x10FFFF else "\ufffd")
                else:
                    out.append(_NAMED[body])
                pos = match.end()
                continue
        out.append(char)
        pos += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
