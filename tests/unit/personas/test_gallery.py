"""Choosing a photo for the moment, photo requests and the [photo: hint] marker."""

from __future__ import annotations

import random

import pytest

from companion.domain.personas import GalleryImage, LocalizedText, Persona
from companion.personas.gallery import (
    PhotoMarkerStream,
    extract_photo_marker,
    pick_image,
    score_image,
    wants_photo,
)
from companion.personas.loader import load_persona_file
from companion.personas.repository import packaged_library_dir


@pytest.fixture(scope="module")
def kylie() -> Persona:
    return load_persona_file(packaged_library_dir() / "kylie.yaml")


def _image(file: str, ru: str, en: str, tags: list[str], adult: bool = False) -> GalleryImage:
    return GalleryImage(
        file=file, caption=LocalizedText({"ru": ru, "en": en}), tags=tags, adult=adult
    )


@pytest.fixture
def persona(kylie: Persona) -> Persona:
    gallery = [
        _image("a.png", "На пляже у моря", "At the beach by the sea", ["beach", "summer"]),
        _image("b.png", "Утро в кафе с кофе", "Morning in a café with coffee", ["cafe", "coffee"]),
        _image("c.png", "Ночной город и огни", "The city at night, lights", ["city", "night"]),
        _image("d.png", "Вечер в платье", "Evening in a dress", ["evening", "dress"], adult=True),
    ]
    return kylie.model_copy(update={"gallery": gallery})


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("пришли фото с пляжа", "ru", "a.png"),
        ("скинь фотку, где ты на море", "ru", "a.png"),
        ("send me a pic from the beach", "en", "a.png"),
        ("what are you drinking at the café? coffee?", "en", "b.png"),
        ("покажи, как ты пьёшь кофе утром", "ru", "b.png"),
        ("хочу увидеть ночной город", "ru", "c.png"),
        ("show me the city lights at night", "en", "c.png"),
    ],
)
def test_context_picks_the_matching_image(
    persona: Persona, text: str, language: str, expected: str
) -> None:
    image = pick_image(persona, text, language=language)
    assert image is not None and image.file == expected


def test_tags_weigh_more_than_caption_words(persona: Persona) -> None:
    beach, cafe = persona.gallery[0], persona.gallery[1]
    assert score_image(beach, "beach", language="en") > score_image(beach, "sea", language="en")
    assert score_image(cafe, "beach", language="en") == 0


def test_never_the_same_photo_twice_in_a_row(persona: Persona) -> None:
    last: str | None = None
    for _ in range(6):
        image = pick_image(persona, "пришли фото с пляжа", language="ru", exclude_file=last)
        assert image is not None
        assert image.file != last
        last = image.file


def test_the_only_image_may_repeat(persona: Persona) -> None:
    single = persona.model_copy(update={"gallery": persona.gallery[:1]})
    image = pick_image(single, "beach", language="en", exclude_file="a.png")
    assert image is not None and image.file == "a.png"


def test_adult_images_only_when_allowed(persona: Persona) -> None:
    for _ in range(3):
        image = pick_image(persona, "evening dress", language="en")
        assert image is not None and not image.adult
    image = pick_image(persona, "evening dress", language="en", allow_adult=True)
    assert image is not None and image.file == "d.png"


def test_only_adult_images_and_not_allowed_gives_none(persona: Persona) -> None:
    adult_only = persona.model_copy(update={"gallery": persona.gallery[3:]})
    assert pick_image(adult_only, "evening", language="en") is None
    assert pick_image(persona.model_copy(update={"gallery": []}), "x", language="en") is None


def test_no_match_uses_rng_among_all(persona: Persona) -> None:
    rng = random.Random(7)
    seen = {
        image.file
        for _ in range(40)
        if (image := pick_image(persona, "hello there", language="en", rng=rng)) is not None
    }
    assert seen == {"a.png", "b.png", "c.png"}


def test_shipped_kylie_gallery_matches_context(kylie: Persona) -> None:
    image = pick_image(kylie, "ты сейчас на пляже?", language="ru")
    assert image is not None and "beach" in image.tags


@pytest.mark.parametrize(
    "text",
    [
        "пришли фото",
        "Скинь селфи)",
        "а можешь прислать фотку?",
        "покажи себя",
        "как ты выглядишь?",
        "хочу тебя увидеть",
        "есть фото?",
        "send me a pic",
        "can I see you?",
        "What do you look like?",
        "show me a selfie please",
        "got any pics?",
        "photo please",
    ],
)
def test_photo_requests(text: str) -> None:
    assert wants_photo(text, "ru") is True


@pytest.mark.parametrize(
    "text",
    [
        "привет, как дела?",
        "не присылай фото, пожалуйста",
        "я вчера смотрел старые фото",
        "у меня есть фото кота",
        "я пришлю тебе фото позже",
        "don't send pics",
        "I took a photo of my cat yesterday",
        "I have photos of my trip",
        "how are you?",
    ],
)
def test_not_photo_requests(text: str) -> None:
    assert wants_photo(text, "en") is False


def test_marker_is_removed_and_hint_returned() -> None:
    assert extract_photo_marker("Держи! [photo: beach sunset] Нравится?") == (
        "Держи! Нравится?",
        "beach sunset",
    )
    assert extract_photo_marker("Here you go\n[Фото: пляж]") == ("Here you go", "пляж")
    assert extract_photo_marker("Look [photo]") == ("Look", "")
    assert extract_photo_marker("No marker [here] at all") == ("No marker [here] at all", None)


def _stream(chunks: list[str]) -> tuple[list[str], str, str | None]:
    stream = PhotoMarkerStream()
    shown = [stream.feed(chunk) for chunk in chunks]
    tail = stream.finish()
    return shown, "".join(shown) + tail, stream.hint


def test_streamed_marker_split_across_chunks() -> None:
    shown, text, hint = _stream(["Смотри ", "[ph", "oto: пля", "ж]", " красиво?"])
    assert text == "Смотри красиво?"
    assert hint == "пляж"
    # Nothing of the marker was ever shown, not even its first bracket.
    assert all("[" not in part for part in shown)


def test_streamed_partial_marker_that_is_not_one_is_released() -> None:
    shown, text, hint = _stream(["Цена ", "[p", "lan B] ok"])
    assert text == "Цена [plan B] ok"
    assert hint is None
    assert shown[1] == ""  # "[p" might have been a marker: held back until the next chunk


def test_unfinished_marker_at_the_end_is_plain_text() -> None:
    _, text, hint = _stream(["Wait [phot"])
    assert text == "Wait [phot"
    assert hint is None


def test_stream_char_by_char_equals_whole_text() -> None:
    source = "Hi! [photo: city at night] Here I am [x] and [selfie] bye"
    _, text, hint = _stream(list(source))
    assert text == extract_photo_marker(source)[0] == "Hi! Here I am [x] and bye"
    assert hint == "city at night"
