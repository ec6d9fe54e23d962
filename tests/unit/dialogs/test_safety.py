from __future__ import annotations

import pytest

from companion.dialogs.safety import is_crisis_message


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "sometimes I think about suicide",
        "I don't want to live anymore",
        "i've been cutting myself again",
        "everyone would be better off dead without me, me included",
        "Я хочу покончить с собой",
        "не хочу больше жить",
        "думаю о суициде",
        "Хочу умереть.",
        "я опять режу себя",
        "не вижу смысла жить",
        "хочу свести счёты с жизнью",
    ],
)
def test_crisis_phrases_are_detected(text: str) -> None:
    assert is_crisis_message(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm dying of laughter",
        "this workout is killing me",
        "we killed it at the concert",
        "убил весь вечер на сериал",
        "умираю со смеху",
        "как прошёл твой день?",
        "I live in Kazan now",
    ],
)
def test_ordinary_messages_are_not_crisis(text: str) -> None:
    assert not is_crisis_message(text)
