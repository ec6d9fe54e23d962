from __future__ import annotations

import jinja2
import pytest

from companion.prompts import prompt_templates


@pytest.fixture
def template() -> jinja2.Template:
    return prompt_templates().get_template("memory/episode.j2")


def test_english_episode_reads_as_a_memory(template: jinja2.Template) -> None:
    text = template.render(
        language="en",
        day=3,
        month=3,
        year=2026,
        same_year=True,
        user_text="My cat broke the vase",
        reply_text="Oh no!",
    )
    assert (
        text == 'On 3 March the user told you: "My cat broke the vase", and you replied: "Oh no!".'
    )


def test_russian_episode_with_year_and_without_a_reply(template: jinja2.Template) -> None:
    text = template.render(
        language="ru",
        day=14,
        month=12,
        year=2025,
        same_year=False,
        user_text="Сдала экзамен",
        reply_text="",
    )
    assert text == "14 декабря 2025 года пользователь написал тебе: «Сдала экзамен»."
