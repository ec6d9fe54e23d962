"""Choosing a persona's photo for the moment, noticing when a user asks for one, and the
``[photo: hint]`` marker a model writes when the persona decides to send a picture.

Matching is lexical on purpose: captions and tags are short, written by the product owner in
both languages, and a Snowball stem overlap picks "the beach one" from "пришли фото с пляжа"
without loading an embedding model into the bot process.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer

from companion.domain.personas import GalleryImage, Persona

TAG_WEIGHT = 2.0
OWN_LANGUAGE_WEIGHT = 1.0
OTHER_LANGUAGE_WEIGHT = 0.75
_PREFIX_MATCH_MIN = 4

_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
_CYRILLIC_RE = re.compile(r"[а-яё]")

_STOPWORDS = frozenset(
    """
    a an and are as at be but by can could do does for from have her here his how i if in is it
    its me my of on or our please she so that the their them then there they this to too us was
    we were what when where which who will with would you your yours just some any one more
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней
    для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того
    потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем
    всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего
    них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя
    такой им более всегда конечно всю между твой твоя твое твоё твои тебе пожалуйста плиз
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Words of a photo request say nothing about which photo fits.
_PHOTO_WORDS = frozenset(
    """
    photo photos pic pics picture pictures selfie selfies image images snap send show
    фото фотку фотка фотки фоточку фотографию фотография фотографии селфи снимок снимки картинку
    пришли скинь кинь покажи отправь
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@lru_cache(maxsize=2)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(language)


def tokens(text: str) -> list[str]:
    """Lower-cased words without stop words, stemmed by their script (Cyrillic: Russian)."""
    words = _WORD_RE.findall(text.lower().replace("ё", "е"))
    result: list[str] = []
    for word in words:
        if word in _STOPWORDS or word in _PHOTO_WORDS or len(word) < 2:
            continue
        language = "russian" if _CYRILLIC_RE.search(word) else "english"
        result.append(str(_stemmer(language).stemWord(word)))
    return result


def _matches(term: str, context: set[str]) -> bool:
    if term in context:
        return True
    if len(term) < _PREFIX_MATCH_MIN:
        return False
    return any(
        len(word) >= _PREFIX_MATCH_MIN and (word.startswith(term) or term.startswith(word))
        for word in context
    )


def _image_terms(image: GalleryImage, language: str) -> dict[str, float]:
    weights: dict[str, float] = {}

    def add(words: Iterable[str], weight: float) -> None:
        for word in words:
            weights[word] = max(weights.get(word, 0.0), weight)

    caption = image.caption.root
    if isinstance(caption, str):
        add(tokens(caption), OWN_LANGUAGE_WEIGHT)
    else:
        for lang, text in caption.items():
            add(tokens(text), OWN_LANGUAGE_WEIGHT if lang == language else OTHER_LANGUAGE_WEIGHT)
    for tag in image.tags:
        add(tokens(tag.replace("_", " ").replace("-", " ")), TAG_WEIGHT)
    return weights


def score_image(image: GalleryImage, context_text: str, *, language: str) -> float:
    """How well an image fits a text: summed weights of its caption and tag stems found there."""
    context = set(tokens(context_text))
    if not context:
        return 0.0
    return sum(
        weight for term, weight in _image_terms(image, language).items() if _matches(term, context)
    )


def pick_image(
    persona: Persona,
    context_text: str,
    *,
    language: str,
    exclude_file: str | None = None,
    allow_adult: bool = False,
    rng: random.Random | None = None,
) -> GalleryImage | None:
    """The gallery image that fits ``context_text`` best.

    Never ``exclude_file`` (the photo sent last) while another image is allowed; adult images
    only with ``allow_adult``. Ties go to ``rng`` when given (variety), else to gallery order.
    """
    allowed = [image for image in persona.gallery if allow_adult or not image.adult]
    fresh = [image for image in allowed if image.file != exclude_file]
    candidates = fresh or allowed
    if not candidates:
        return None
    scored = [(score_image(image, context_text, language=language), image) for image in candidates]
    best = max(score for score, _ in scored)
    top = [image for score, image in scored if score == best]
    return rng.choice(top) if rng is not None else top[0]


# --- "send me a photo" ------------------------------------------------------------------------

_RU_NOUN = r"(?:фот\w*|селфи|селфак\w*|снимо?к\w*|картинк\w*|фоточк\w*)"
_RU_VERB = (
    r"(?:пришли|пришлешь|пришлите|присылай|прислать|скинь|скинешь|скиньте|скидывай|кинь|кинешь|"
    r"покажи|покажешь|покажите|показывай|отправь|отправишь|отправьте|вышли|вышлешь|дай|дашь|"
    r"хочу|можно|глянуть|посмотреть|увидеть|жду|сделай|сфоткай|сфоткайся)"
)
_EN_NOUN = r"(?:pics?|pictures?|photos?|selfies?|snaps?|images?|photographs?)"
_EN_VERB = r"(?:send|show|share|post|drop|give|see|want|wanna|need|another|new|snap|attach)"
_REQUEST_PATTERNS = [
    re.compile(rf"\b{_RU_VERB}\b.*\b{_RU_NOUN}", re.IGNORECASE | re.DOTALL),
    re.compile(rf"\b{_RU_NOUN}.*\b{_RU_VERB}\b", re.IGNORECASE | re.DOTALL),
    re.compile(rf"\b{_RU_NOUN}\s*[?!]", re.IGNORECASE),
    re.compile(r"\bкак\s+ты\s+(?:сейчас\s+)?выгляд\w*", re.IGNORECASE),
    re.compile(r"\bпокаж\w*\s+(?:мне\s+)?(?:себя|тебя)\b|\bпокажись\b", re.IGNORECASE),
    re.compile(r"\b(?:хочу|хотел\w*|можно|дай)\s+(?:\w+\s+)?(?:тебя\s+)?увидеть\b", re.IGNORECASE),
    re.compile(r"\bувидеть\s+тебя\b|\bна\s+тебя\s+(?:по)?смотреть\b", re.IGNORECASE),
    re.compile(rf"\b{_EN_VERB}\b.*\b{_EN_NOUN}\b", re.IGNORECASE | re.DOTALL),
    re.compile(rf"\b{_EN_NOUN}\b.*\bof\s+(?:you|yourself)\b", re.IGNORECASE),
    re.compile(rf"\b(?:do|did)\s+you\s+(?:have|got)\b.*\b{_EN_NOUN}\b", re.IGNORECASE),
    re.compile(rf"\bgot\s+(?:any|a)\b.*\b{_EN_NOUN}\b.*\?", re.IGNORECASE),
    re.compile(rf"^\s*(?:a\s+)?{_EN_NOUN}\s*(?:please|pls)?\s*[?!.]*\s*$", re.IGNORECASE),
    re.compile(
        r"\b(?:can|could|may)\s+i\s+see\s+(?:you|yourself|what\s+you\s+look)", re.IGNORECASE
    ),
    re.compile(r"\blet\s+me\s+see\s+you\b|\bshow\s+(?:me\s+)?yourself\b", re.IGNORECASE),
    re.compile(r"\bwhat\s+do\s+you\s+look\s+like\b|\bhow\s+do\s+you\s+look\b", re.IGNORECASE),
]
_NEGATION_PATTERNS = [
    re.compile(
        r"\b(?:не|нельзя|хватит|перестань|больше\s+не)\s+(?:\w+\s+){0,2}?"
        r"(?:присыл|пришл|скид|скин|кида|кин|показ|покаж|отправ|надо|нужно|хочу|фот|селфи)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:don'?t|do\s+not|never|no\s+more|stop|quit|without)\b\s+(?:\w+\s+){0,2}?"
        r"(?:send|show|share|want|need|pics?|photos?|pictures?|selfies?|sending|showing)",
        re.IGNORECASE,
    ),
]


def wants_photo(text: str, language: str | None = None) -> bool:
    """Whether a user message asks the persona for a photo or selfie (Russian or English).

    Both languages are checked whatever ``language`` says: people mix them.
    """
    del language  # kept for callers that know it; the patterns of both languages always apply
    sample = text.replace("ё", "е")
    if any(pattern.search(sample) for pattern in _NEGATION_PATTERNS):
        return False
    return any(pattern.search(sample) for pattern in _REQUEST_PATTERNS)


# --- the [photo: hint] marker -----------------------------------------------------------------

_MARKER_KEYWORDS = ("photo", "фото", "pic", "image", "selfie", "селфи")
_MAX_HINT = 80
_MARKER_RE = re.compile(
    r"\[\s*(?:"
    + "|".join(_MARKER_KEYWORDS)
    + r")\s*(?::\s*([^\]\n]{0,"
    + str(_MAX_HINT)
    + r"}))?\]"
    r"[ \t]*",
    re.IGNORECASE,
)


def _keyword_prefixes() -> str:
    prefixes = {keyword[:n] for keyword in _MARKER_KEYWORDS for n in range(len(keyword) + 1)}
    return "|".join(sorted((re.escape(p) for p in prefixes), key=len, reverse=True))


_PARTIAL_RE = re.compile(
    r"\[\s*(?:(?:" + "|".join(_MARKER_KEYWORDS) + r")\s*(?::[^\]\n]{0," + str(_MAX_HINT) + r"})?"
    r"|(?:" + _keyword_prefixes() + r"))$",
    re.IGNORECASE,
)


def extract_photo_marker(text: str) -> tuple[str, str | None]:
    """Remove every ``[photo: hint]`` marker; return the clean text and the first hint.

    The hint is None when there was no marker and "" for a bare ``[photo]``.
    """
    hint: str | None = None
    for match in _MARKER_RE.finditer(text):
        hint = (match.group(1) or "").strip()
        break
    if hint is None:
        return text, None
    clean = _MARKER_RE.sub("", text)
    clean = re.sub(r"[ \t]+\n", "\n", clean)
    return clean.strip(), hint


class PhotoMarkerStream:
    """`extract_photo_marker` for a streamed reply.

    `feed` returns the text that is safe to show now; a tail that may be the start of a marker
    (``"Look [pho"``) is held back until the next chunk shows what it is. `finish` returns what
    is still held (an unfinished marker is ordinary text after all). ``hint`` is set once a
    marker was seen.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._eat_space = False
        self.hint: str | None = None

    def feed(self, chunk: str) -> str:
        buffer = self._pending + chunk
        if self._eat_space:
            stripped = buffer.lstrip(" \t")
            if stripped or not buffer:
                self._eat_space = False
            buffer = stripped
        found = list(_MARKER_RE.finditer(buffer))
        if found:
            if self.hint is None:
                self.hint = (found[0].group(1) or "").strip()
            self._eat_space = found[-1].end() == len(buffer)
            buffer = _MARKER_RE.sub("", buffer)
        partial = _PARTIAL_RE.search(buffer)
        cut = partial.start() if partial else len(buffer)
        self._pending = buffer[cut:]
        return buffer[:cut]

    def finish(self) -> str:
        rest, self._pending = self._pending, ""
        return rest
