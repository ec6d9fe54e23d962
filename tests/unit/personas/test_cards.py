"""Character Card V2/V3 import and export: JSON and PNG round trips lose nothing."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from companion.domain.personas import Module
from companion.personas.card_files import (
    CardError,
    card_to_json,
    card_to_png,
    png_text_chunks,
    read_card_bytes,
)
from companion.personas.cards import (
    CARD_KEY,
    COMPANION_KEY,
    V3_BACKFILL_NOTE,
    CardVersion,
    card_from_persona,
    detect_language,
    persona_from_card,
    v2_backfill,
)
from companion.personas.loader import dump_persona_yaml, load_persona_file
from companion.personas.mes_example import parse_mes_example, render_mes_example
from companion.personas.repository import packaged_library_dir


def community_v2() -> dict[str, Any]:
    """A card as community editors write it: odd layouts, lorebook, foreign extensions."""
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Aria",
            "description": "{{char}} keeps the lighthouse on a stormy island.",
            "personality": "calm, wry, protective",
            "scenario": "{{user}} washes up on the shore during a storm.",
            "first_mes": "*holds up a lantern* You're soaked. Come in, {{user}}.",
            "mes_example": (
                "<START>\n{{char}}: *waves from the tower*\n{{user}}: Hello!\n"
                "Is anyone there?\n{{char}}: Only me and the gulls.\n"
                "<START>\n{{user}}: a\n{{user}}: b\n"
            ),
            "creator_notes": "Slow-burn mystery.\n\nBest with long replies.",
            "system_prompt": "You are {{char}}.",
            "post_history_instructions": "Stay in character.",
            "alternate_greetings": ["The storm is over. Tea?", ""],
            "character_book": {
                "name": "Island lore",
                "extensions": {},
                "entries": [
                    {
                        "keys": ["lighthouse"],
                        "content": "Built in 1871.",
                        "extensions": {},
                        "enabled": True,
                        "insertion_order": 10,
                    }
                ],
            },
            "tags": ["mystery", "sea"],
            "creator": "someone",
            "character_version": "1.2",
            "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4, "prompt": "x"}},
            "some_future_field": [1, 2, 3],
        },
        "legacy_root_field": "kept",
    }


def community_v3() -> dict[str, Any]:
    card = community_v2()
    data = card["data"]
    data.update(
        {
            "name": "Алиса",
            "description": "{{char}} — смотритель маяка на острове.",
            "first_mes": "Ты промок насквозь. Заходи, {{user}}.",
            "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
            "nickname": "Аля",
            "creator_notes_multilingual": {"en": "Slow burn", "ja": "スローバーン"},
            "source": ["https://example.com/cards/1"],
            "group_only_greetings": ["Всем привет!"],
            "creation_date": 1_700_000_000,
            "modification_date": 1_700_000_500,
        }
    )
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


@pytest.mark.parametrize("make", [community_v2, community_v3])
def test_json_round_trip_is_exact(make: Any) -> None:
    card = make()
    original = copy.deepcopy(card)
    persona = persona_from_card(card, module=Module.PRACTICE)
    version: CardVersion = 3 if card["spec"] == "chara_card_v3" else 2
    exported = json.loads(card_to_json(card_from_persona(persona, version=version)))
    assert exported == original
    assert card == original  # import does not change its input


@pytest.mark.parametrize("make", [community_v2, community_v3])
def test_png_round_trip_is_exact(make: Any, tmp_path: Path) -> None:
    card = make()
    version: CardVersion = 3 if card["spec"] == "chara_card_v3" else 2
    png = card_to_png(card, Image.new("RGB", (40, 60), (10, 20, 30)))
    imported = read_card_bytes(png)
    assert imported == card
    persona = persona_from_card(imported)
    # Through a YAML file on disk too, as `companion personas import` stores it.
    path = tmp_path / f"{persona.id}.yaml"
    path.write_text(dump_persona_yaml(persona), encoding="utf-8")
    reloaded = load_persona_file(path)
    backfill = v2_backfill(reloaded) if version == 3 else None
    again = card_to_png(card_from_persona(reloaded, version=version), v2_backfill=backfill)
    assert read_card_bytes(again) == card
    chunks = png_text_chunks(again)
    assert set(chunks) == ({"ccv3", "chara"} if version == 3 else {"chara"})


def test_import_maps_fields() -> None:
    persona = persona_from_card(community_v2())
    assert persona.id == "aria"
    assert persona.module is Module.SUPPORT  # the default module
    assert persona.languages == ["en"]
    assert persona.name.get("en") == "Aria"
    assert persona.greetings == {
        "en": ["*holds up a lantern* You're soaked. Come in, {{user}}.", "The storm is over. Tea?"]
    }
    assert persona.preview.get("en") == "Slow-burn mystery."
    first, second = persona.example_dialogues
    assert [(t.user, t.persona) for t in first.turns] == [
        ("", "*waves from the tower*"),
        ("Hello!\nIs anyone there?", "Only me and the gulls."),
    ]
    assert [(t.user, t.persona) for t in second.turns] == [("a", ""), ("b", "")]
    stash = persona.extensions[CARD_KEY]
    assert stash["data"]["system_prompt"] == "You are {{char}}."
    assert stash["data"]["character_book"]["entries"][0]["content"] == "Built in 1871."
    assert stash["card_extensions"]["talkativeness"] == "0.5"


def test_russian_card_is_detected_and_partner_flags_set() -> None:
    persona = persona_from_card(community_v3(), module=Module.PARTNER)
    assert persona.languages == ["ru"]
    assert persona.id == "alisa"
    assert persona.module is Module.PARTNER and persona.pro_only and persona.adult


def test_edited_persona_exports_its_own_values() -> None:
    persona = persona_from_card(community_v2())
    edited = persona.model_copy(
        update={
            "greetings": {"en": ["A new hello"]},
            "speaking_style": "Short sentences.",
        }
    )
    card = card_from_persona(edited, version=2)
    data = card["data"]
    assert data["first_mes"] == "A new hello"
    assert data["alternate_greetings"] == []
    assert data["extensions"][COMPANION_KEY]["speaking_style"] == "Short sentences."
    # What the persona had no field for is still there.
    assert data["character_book"]["name"] == "Island lore"
    assert data["extensions"]["talkativeness"] == "0.5"
    assert data["mes_example"] == community_v2()["data"]["mes_example"]


@pytest.mark.parametrize("version", [2, 3])
def test_shipped_persona_survives_export_and_import(version: int) -> None:
    kylie = load_persona_file(packaged_library_dir() / "kylie.yaml")
    card = card_from_persona(kylie, version=version)  # type: ignore[arg-type]
    assert card["data"]["name"] == "Kylie"
    assert "<START>" in card["data"]["mes_example"]
    back = persona_from_card(json.loads(card_to_json(card)))
    for field in (
        "id", "name", "module", "languages", "preview", "description", "personality",
        "speaking_style", "scenario", "greetings", "example_dialogues", "boundaries",
        "sampling", "pro_only", "adult", "tags",
    ):  # fmt: skip
        assert getattr(back, field) == getattr(kylie, field), field


def test_v3_png_has_flagged_v2_backfill() -> None:
    kylie = load_persona_file(packaged_library_dir() / "kylie.yaml")
    png = card_to_png(card_from_persona(kylie, version=3), v2_backfill=v2_backfill(kylie))
    chunks = png_text_chunks(png)
    v2 = json.loads(base64.b64decode(chunks["chara"]))
    v3 = json.loads(base64.b64decode(chunks["ccv3"]))
    assert v2["spec"] == "chara_card_v2" and v3["spec"] == "chara_card_v3"
    assert v2["data"]["creator_notes"].startswith(V3_BACKFILL_NOTE)
    assert v3["data"]["creator_notes_multilingual"]["ru"].startswith("Солнечная")
    assert read_card_bytes(png) == v3  # ccv3 wins over chara


def test_png_written_by_another_tool_is_read() -> None:
    card = community_v2()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("chara", base64.b64encode(json.dumps(card).encode()).decode(), zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    assert read_card_bytes(buffer.getvalue()) == card


def test_v1_card_is_imported() -> None:
    v1 = {"name": "Bob", "description": "d", "personality": "p", "scenario": "s",
          "first_mes": "Yo", "mes_example": ""}  # fmt: skip
    persona = persona_from_card(v1)
    assert persona.greetings == {"en": ["Yo"]}
    assert card_from_persona(persona)["spec"] == "chara_card_v2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 4, "no character card"),
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe\x00garbage", "neither a PNG nor UTF-8 JSON"),
    ],
)
def test_bad_files_give_one_line_errors(raw: bytes, message: str) -> None:
    with pytest.raises(CardError, match=message):
        read_card_bytes(raw)


def test_unknown_spec_is_refused() -> None:
    with pytest.raises(CardError, match="unsupported card spec"):
        persona_from_card({"spec": "chara_card_v9", "data": {}})


def test_mes_example_render_and_parse() -> None:
    text = "<START>\n{{user}}: hi\n{{char}}: hello\n<START>\n{{user}}: bye\n{{char}}: see you"
    dialogues = parse_mes_example(text, language="en")
    assert render_mes_example(dialogues) == text
    named = parse_mes_example("<START>\nYou: hi\nAria: hello", language="en", char_name="Aria")
    assert named[0].turns[0].persona == "hello"


def test_detect_language() -> None:
    assert detect_language("Привет, {{user}}! Как дела?") == "ru"
    assert detect_language("Hello there, my friend {{user}}! Привет") == "en"
