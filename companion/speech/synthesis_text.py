"""Turning a chat reply into text a speech engine can read aloud.

A persona's reply is written for the eye: Markdown, emoji, links, lists. Read literally, an
engine says "asterisk" or spells out a URL, so markup is removed, emoji dropped (the voice
carries the tone), and the result is capped (a voice note is a short answer, not an audiobook)
and split into sentence-sized pieces that engines with input limits accept.
"""

from __future__ import annotations

import re

import emoji

# [label](url) -> label; bare links are not read out at all.
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)\s]+)\)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`]*)`")
# HTML the bot itself sends (<b>, <i>, <a href>...), and Markdown emphasis/heading/list marks.
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|~~|\|\|)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_LINE_MARK = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+•]\s+|\d{1,3}[.)]\s+)", re.MULTILINE)
_STRAY_MARKS = re.compile(r"[*_#~|`]+")
# Role-play stage directions (*smiles*) are kept as words: they are part of the persona's voice.
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
# Sentence ends: . ! ? … followed by space; also line breaks (paragraphs).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&amp;": "&"}


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text


def clean_for_speech(text: str) -> str:
    """Plain words and punctuation: no markup, links, code or emoji; whitespace collapsed."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _unescape(text)
    text = _URL.sub(" ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    for _ in range(3):  # nested emphasis (***bold italic***, **_both_**)
        text = _EMPHASIS.sub(r"\2", text)
    text = _LINE_MARK.sub("", text)
    text = _STRAY_MARKS.sub(" ", text)
    text = emoji.replace_emoji(text, replace=" ")
    # Variation selectors and joiners left from emoji sequences the library did not match.
    text = re.sub(r"[\u200d\ufe0e\ufe0f\u20e3]", "", text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return text.strip()


def cap_length(text: str, max_chars: int) -> str:
    """At most ``max_chars``: cut at the last sentence end that fits, else at a word."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in re.finditer(r"[.!?…](?=\s|$)", head)]
    if ends and ends[-1] >= max_chars // 3:
        return head[: ends[-1]].strip()
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(",;:—- ") + "…"


def split_sentences(text: str, max_chunk_chars: int) -> list[str]:
    """Pieces of at most ``max_chunk_chars``, each whole sentences where possible."""
    chunks: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        while len(sentence) > max_chunk_chars:  # one very long sentence: cut at words
            cut = sentence.rfind(" ", 0, max_chunk_chars)
            cut = cut if cut > 0 else max_chunk_chars
            if current:
                chunks.append(current)
                current = ""
            chunks.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chunk_chars:
            chunks.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        chunks.append(current)
    return chunks


def has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def prepare(text: str, *, max_chars: int, max_chunk_chars: int) -> list[str]:
    """Reply text -> pieces to synthesise in order; empty when nothing is worth saying."""
    cleaned = cap_length(clean_for_speech(text), max_chars)
    if not has_words(cleaned):
        return []
    return [chunk for chunk in split_sentences(cleaned, max_chunk_chars) if has_words(chunk)]
