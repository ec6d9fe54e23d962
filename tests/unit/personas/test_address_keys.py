"""ты/вы in the Russian texts: what a persona says follows its card's form of address, what the
bot itself says (onboarding, billing, legal, settings) says "вы"."""

from __future__ import annotations

import ast as pyast
import re
from pathlib import Path

import pytest
from fluent.syntax import ast, parse

from companion.domain.personas import Module, Persona
from companion.i18n import AddressMissingError, Translator
from companion.personas.forms import PERSONA_VOICED_KEYS, address_of, persona_text_args
from tests.unit.dialogs.persona_factory import make_persona

LOCALES = Path(__file__).resolve().parents[3] / "companion" / "locales"
TY_FORMS = re.compile(
    r"(?i)(?<![а-яё])(ты|тебе|тебя|тобой|твой|твоя|твоё|твои|твоих|напиши|расскажи|попробуй|"
    r"выбери|сократи|подтверди|поговори|обратись|позвони|можешь|хочешь|пишешь)(?![а-яё])"
)
VY_FORMS = re.compile(r"(?i)(?<![а-яё])(вы|вам|вас|ваш|ваша|ваши)(?![а-яё])")


def _ru_messages() -> dict[str, str]:
    """Every Russian message's source text by id."""
    found: dict[str, str] = {}
    for path in sorted((LOCALES / "ru").glob("*.ftl")):
        source = path.read_text(encoding="utf-8")
        for entry in parse(source).body:
            if isinstance(entry, ast.Message) and entry.span is not None:
                found.setdefault(entry.id.name, source[entry.span.start : entry.span.end])
    return found


def _address_variants(source: str) -> set[str]:
    variants: set[str] = set()
    for entry in parse(source).body:
        for node in _walk(entry):
            if (
                isinstance(node, ast.SelectExpression)
                and isinstance(node.selector, ast.VariableReference)
                and node.selector.id.name == "address"
            ):
                variants |= {v.key.name for v in node.variants if isinstance(v.key, ast.Identifier)}
    return variants


def _walk(node: object) -> list[object]:
    out = [node]
    if isinstance(node, ast.BaseNode):
        for value in vars(node).values():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.BaseNode):
                    out.extend(_walk(child))
    return out


@pytest.mark.parametrize("key", PERSONA_VOICED_KEYS)
def test_a_persona_voiced_text_has_both_forms(key: str) -> None:
    messages = _ru_messages()
    assert key in messages, f"{key} is missing from locales/ru"
    assert _address_variants(messages[key]) == {"ty", "vy"}, key
    texts = Translator()
    ty = texts.get("ru", key, address="ty", name="Лев", name_ins="Львом", **{"with": "со"})
    vy = texts.get("ru", key, address="vy", name="Лев", name_ins="Львом", **{"with": "со"})
    assert TY_FORMS.search(ty) and not VY_FORMS.search(ty), ty
    assert VY_FORMS.search(vy) and not TY_FORMS.search(vy), vy
    assert texts.get("en", key, address="ty", name="Leo", name_ins="Leo", **{"with": "with"})


def test_every_other_russian_text_says_vy() -> None:
    """A "ты" outside the persona-voiced texts would mix forms in one chat."""
    offenders = {
        key: TY_FORMS.findall(source)
        for key, source in _ru_messages().items()
        if key not in PERSONA_VOICED_KEYS and TY_FORMS.search(source)
    }
    assert offenders == {}


# -- enforced where texts are rendered (companion/i18n.py) -----------------------------------

TY_PERSONA = make_persona(id="lev", name={"ru": "Лев", "en": "Leo"}, module=Module.SUPPORT)
VY_PERSONA = make_persona(
    id="holmes", name={"ru": "Шерлок Холмс", "en": "Sherlock Holmes"}, module=Module.CELEBRITY
)


def test_the_persona_voiced_keys_are_exactly_those_that_select_on_address() -> None:
    assert address_of(TY_PERSONA) == "ty" and address_of(VY_PERSONA) == "vy"
    assert Translator().addressed_keys == frozenset(PERSONA_VOICED_KEYS)


@pytest.mark.parametrize("key", PERSONA_VOICED_KEYS)
@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_persona_voiced_text_without_the_address_is_refused(key: str, language: str) -> None:
    texts = Translator()
    with pytest.raises(AddressMissingError, match=key):
        texts.get(language, key, **_placeholders(key))
    with pytest.raises(AddressMissingError):
        texts.get(language, key, **_placeholders(key), address="вы")  # not a selector value
    assert texts.get(language, key, **_placeholders(key), address="vy")


def test_a_text_that_includes_a_persona_voiced_one_needs_the_address_too(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "a.ftl").write_text(
        "voiced = { $address ->\n    [ty] Напиши\n   *[vy] Напишите\n}\n"
        "wrapper = Бот: { voiced }\nplain = Просто текст\n",
        encoding="utf-8",
    )
    texts = Translator(tmp_path)
    assert texts.addressed_keys == {"voiced", "wrapper"}
    with pytest.raises(AddressMissingError):
        texts.get("ru", "wrapper")
    assert texts.get("ru", "wrapper", address="ty") == "Бот: Напиши"
    assert texts.get("ru", "plain") == "Просто текст"


@pytest.mark.parametrize("persona", [TY_PERSONA, VY_PERSONA], ids=lambda p: p.id)
def test_every_russian_text_with_a_persona_uses_one_form_of_address(persona: Persona) -> None:
    """Every Russian text, rendered as it is with this persona in the chat: the persona's own
    lines in its ты/вы, the bot's own texts in "вы", never both forms in one text."""
    texts = Translator()
    args = persona_text_args(persona, "ru")
    wrong = TY_FORMS if args["address"] == "vy" else VY_FORMS
    offenders: dict[str, str] = {}
    for key in _ru_messages():
        text = texts.get("ru", key, **{**_placeholders(key), **args})
        voiced = key in texts.addressed_keys
        if (voiced and wrong.search(text)) or (not voiced and TY_FORMS.search(text)):
            offenders[key] = text
    assert offenders == {}


def _placeholders(key: str) -> dict[str, object]:
    """A value for each variable a Russian message uses (numbers select plural forms)."""
    names: set[str] = set()
    for node in _walk(parse(_ru_messages().get(key, ""))):
        if isinstance(node, ast.VariableReference):
            names.add(node.id.name)
    return dict.fromkeys(names - {"address"}, 2)


# -- enforced where the code renders them ------------------------------------------------------

COMPANION = LOCALES.parent


def _renders_voiced(call: pyast.Call, names: dict[str, set[str]]) -> set[str]:
    """The persona-voiced keys a call may render: string constants among its arguments, names
    bound to them in the same function, and a notice's `text_key` (every notice is voiced:
    the support disclaimer, the crisis reply)."""
    found: set[str] = set()
    for arg in call.args:
        for node in _outside_calls(arg):
            if isinstance(node, pyast.Constant) and node.value in PERSONA_VOICED_KEYS:
                found.add(node.value)
            elif isinstance(node, pyast.Name):
                found |= names.get(node.id, set())
            elif isinstance(node, pyast.Attribute) and node.attr == "text_key":
                found.add("notice")
    return found


def _outside_calls(node: pyast.AST) -> list[pyast.AST]:
    """`node` and what it holds, except inside calls (those are checked on their own)."""
    if isinstance(node, pyast.Call):
        return []
    out = [node]
    for child in pyast.iter_child_nodes(node):
        out.extend(_outside_calls(child))
    return out


def test_every_call_rendering_a_persona_voiced_text_passes_the_address() -> None:
    """A static check of what the runtime refusal catches only on paths tests run."""
    missing: list[str] = []
    checked = 0
    for path in sorted(COMPANION.rglob("*.py")):
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        for function in pyast.walk(tree):
            if not isinstance(function, pyast.FunctionDef | pyast.AsyncFunctionDef):
                continue
            names: dict[str, set[str]] = {}
            for node in pyast.walk(function):
                if isinstance(node, pyast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, pyast.Name):
                        names[target.id] = {
                            c.value
                            for c in _outside_calls(node.value)
                            if isinstance(c, pyast.Constant) and c.value in PERSONA_VOICED_KEYS
                        }
            for node in pyast.walk(function):
                if not isinstance(node, pyast.Call) or not _renders_voiced(node, names):
                    continue
                checked += 1
                if not any(kw.arg in ("address", None) for kw in node.keywords):
                    missing.append(f"{path.relative_to(COMPANION.parent)}:{node.lineno}")
    assert checked >= 7  # start, library, survey, outreach, crisis, bot and CLI notices
    assert missing == []
