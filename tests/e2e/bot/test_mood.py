"""Mood through the real bot: readings in the background, /mood (chart + kind words, ru/en),
tracking off, the persona's care in the prompt sent to the model, the help offer, the 1-10
survey on the 3rd day with messages, and /export and /forget covering the readings.

The classifier is a tiny keyword reader (the real one is tested on its own) and the clock is
the test's, so "days" pass without waiting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from companion.app import Overrides
from companion.config import Settings
from companion.mood.emotions import Emotion, EmotionReading
from companion.storage import collections as c
from tests.e2e.bot.conftest import BotHarness, make_settings, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser

CARE_LINE = "Lately the person has often seemed low"


class KeywordReader:
    """sad/грустно -> sadness, happy/рад -> joy, anything else -> no emotion."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        self.texts.extend(texts)
        out = []
        for text in texts:
            lower = text.lower()
            if "sad" in lower or "грустно" in lower:
                out.append(EmotionReading(frozenset({Emotion.SADNESS}), {Emotion.SADNESS: 0.9}))
            elif "happy" in lower or "рад" in lower:
                out.append(EmotionReading(frozenset({Emotion.JOY}), {Emotion.JOY: 0.8}))
            else:
                out.append(EmotionReading(frozenset({Emotion.NONE}), {}))
        return out


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def next_day(self, days: int = 1) -> None:
        self.now += timedelta(days=days)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reader() -> KeywordReader:
    return KeywordReader()


def _settings(bot_settings: Settings, *, survey: bool) -> Settings:
    bot_settings.survey = bot_settings.survey.model_copy(update={"enabled": survey})
    # Days pass in milliseconds here: not a flood.
    bot_settings.telegram = bot_settings.telegram.model_copy(update={"throttle_messages": 100})
    return bot_settings


@pytest.fixture
async def mood_bot(
    bot_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    clock: FakeClock,
    reader: KeywordReader,
    request: pytest.FixtureRequest,
) -> AsyncIterator[BotHarness]:
    settings = _settings(bot_settings, survey=getattr(request, "param", False))
    overrides = Overrides(emotion_reader=reader, clock=clock)
    async with running_bot(settings, tg, llm, mongo_uri, overrides=overrides) as harness:
        yield harness


async def _say(harness: BotHarness, user: TelegramUser, text: str) -> None:
    harness.llm.reply = "I hear you."
    await user.say(text)
    await user.expect("sendMessage", contains="I hear you.")
    await harness.container.mood.tracker.idle()


async def _chatting(harness: BotHarness, user_id: int, language: str = "English") -> TelegramUser:
    user = harness.user(user_id, language_code="ru" if language == "Русский" else "en")
    await harness.onboard(user, language=language)
    await harness.choose(user, "anna")
    await user.idle()
    user.skip()
    return user


async def test_mood_shows_a_chart_and_kind_words_in_english_and_russian(
    mood_bot: BotHarness, clock: FakeClock
) -> None:
    en = await _chatting(mood_bot, 7101)
    ru = await _chatting(mood_bot, 7102, "Русский")
    for text_en, text_ru in [("I am happy", "Я рад"), ("so sad", "грустно"), ("happy!", "рад")]:
        await _say(mood_bot, en, text_en)
        await _say(mood_bot, ru, text_ru)
        clock.next_day()

    await en.command("mood")
    photo = await en.expect("sendPhoto")
    assert photo.upload("photo") is not None
    assert "3 days with conversations" in (photo.text or "")
    assert "2 of them felt bright" in (photo.text or "")
    await ru.command("mood")
    photo = await ru.expect("sendPhoto")
    assert "3 дня с разговорами" in (photo.text or "")

    # Sealed at rest: the stored reading is ciphertext, the day and persona are not.
    stored = await mood_bot.db[c.MOOD_READINGS].find_one({"user_id": 7101})
    assert isinstance(stored["reading"], bytes) and b"joy" not in stored["reading"]
    assert stored["persona_id"] == "anna" and stored["day"] == "2026-11-02"


async def test_tracking_off_reads_nothing_new_and_on_resumes(
    mood_bot: BotHarness, reader: KeywordReader
) -> None:
    user = await _chatting(mood_bot, 7201)
    await _say(mood_bot, user, "happy to be here")
    assert await mood_bot.db[c.MOOD_READINGS].count_documents({"user_id": 7201}) == 1

    await user.command("mood", "off")
    await user.expect("sendMessage", contains="Mood tracking is off")
    await _say(mood_bot, user, "a sad secret")
    assert await mood_bot.db[c.MOOD_READINGS].count_documents({"user_id": 7201}) == 1
    assert "a sad secret" not in reader.texts
    await user.command("mood")
    await user.expect("sendPhoto", contains="Mood tracking is off")

    await user.command("mood", "sideways")
    await user.expect("sendMessage", contains="/mood off or /mood on")
    await user.command("mood", "on")
    await user.expect("sendMessage", contains="Mood tracking is on")
    await _say(mood_bot, user, "sad again")
    assert await mood_bot.db[c.MOOD_READINGS].count_documents({"user_id": 7201}) == 2

    await user.command("mood", "clear")
    await user.expect("sendMessage", contains="mood history is deleted")
    assert await mood_bot.db[c.MOOD_READINGS].count_documents({"user_id": 7201}) == 0
    await user.command("mood")
    await user.expect("sendMessage", contains="anything to show yet")


async def test_sustained_negative_trend_puts_care_into_the_prompt_and_offers_help_once(
    mood_bot: BotHarness, clock: FakeClock, llm: OpenAIEmulator
) -> None:
    user = await _chatting(mood_bot, 7301)
    for day in range(5):
        await _say(mood_bot, user, "I feel sad")
        system = llm.chat_requests[-1]["messages"][0]["content"]
        # The 5th negative day is read after its reply: care starts with the next message.
        assert CARE_LINE not in system, f"care too early on day {day + 1}"
        if day < 4:
            clock.next_day()
    # The 5th negative day of 7 crossed the threshold: the offer follows that reply, once.
    offer = await user.expect("sendMessage", contains="not a diagnosis")
    assert "psychologist" in (offer.text or "")
    user.skip()
    await _say(mood_bot, user, "just talking")
    assert CARE_LINE in llm.chat_requests[-1]["messages"][0]["content"]
    await user.idle()
    assert not [call for call in user.calls() if "not a diagnosis" in (call.text or "")]


async def test_export_lists_readings_and_forget_erases_them(
    mood_bot: BotHarness,
) -> None:
    user = await _chatting(mood_bot, 7401)
    await _say(mood_bot, user, "happy day")
    await user.command("export")
    call = await user.expect("sendDocument")
    document = call.upload("document")
    assert document is not None
    exported = json.dumps(json.loads(document.data), ensure_ascii=False)
    assert c.MOOD_READINGS in exported and '\\"joy\\"' in exported

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")
    for collection in (c.MOOD_READINGS, c.MOOD_STATE, c.SURVEY_RESPONSES):
        field = c.USER_DATA_FIELDS[collection]
        assert await mood_bot.db[collection].count_documents({field: 7401}) == 0


@pytest.mark.parametrize("mood_bot", [True], indirect=True)
async def test_survey_on_the_third_day_score_comment_skip_and_not_again_within_30_days(
    mood_bot: BotHarness, clock: FakeClock
) -> None:
    user = await _chatting(mood_bot, 7501)
    await _say(mood_bot, user, "hello")
    await _say(mood_bot, user, "hello again, same day")
    clock.next_day()
    await _say(mood_bot, user, "day two")
    await user.idle()
    assert not [call for call in user.calls() if "How satisfied" in (call.text or "")]

    clock.next_day()
    await _say(mood_bot, user, "day three")
    await user.expect("sendMessage", contains="How satisfied are you with Anna?")
    # A forged score changes nothing.
    await user.press_raw("srv:score:anna:11", user.history()[-1])
    await user.expect("answerCallbackQuery", contains="didn't work")
    invitation = user.history()[-1]
    await user.press(text="8")
    await user.expect("editMessageText", contains="Thank you for the 8")
    # The same invitation's buttons again (a double tap): not a second answer.
    await user.press_raw("srv:score:anna:3", invitation)
    await user.expect("answerCallbackQuery", contains="already answered")
    await user.press(text="Add a comment")
    await user.expect("editMessageText", contains="Write your comment")
    await user.say("More jokes, please")
    await user.expect("sendMessage", contains="passed it on")
    # Back to chatting: the next text goes to the persona, not to the survey.
    await _say(mood_bot, user, "and how are you?")
    user.skip()
    [answer] = await mood_bot.db[c.SURVEY_RESPONSES].find({"user_id": 7501}).to_list()
    assert answer["score"] == 8 and answer["persona_id"] == "anna"
    assert isinstance(answer["comment"], bytes) and b"jokes" not in answer["comment"]

    clock.next_day(29)
    await _say(mood_bot, user, "a month later, almost")
    await user.idle()
    assert not [call for call in user.calls() if "How satisfied" in (call.text or "")]

    clock.next_day(2)
    await _say(mood_bot, user, "a month later")
    await user.expect("sendMessage", contains="How satisfied are you with Anna?")
    await user.press(text="Skip")
    await user.expect("editMessageText", contains="maybe another time")
    scores = [a["score"] async for a in mood_bot.db[c.SURVEY_RESPONSES].find({"user_id": 7501})]
    assert sorted(scores, key=str) == [8, None]


ADMIN = 7999


@pytest.fixture
async def mood_console(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    personas_dir: Path,
    clock: FakeClock,
    reader: KeywordReader,
) -> AsyncIterator[BotHarness]:
    settings = make_settings(
        mongo_uri=mongo_uri,
        prefix=redis_prefix,
        llm=llm,
        tg=tg,
        personas_dir=personas_dir,
        admin_ids=[ADMIN],
        throttle_messages=100,
    )
    settings.survey = settings.survey.model_copy(update={"after_active_days": 1})
    settings.mood_care = settings.mood_care.model_copy(update={"min_group_users": 3})
    overrides = Overrides(emotion_reader=reader, clock=clock)
    async with running_bot(settings, tg, llm, mongo_uri, overrides=overrides) as harness:
        yield harness


async def test_admin_sees_hand_counted_survey_and_anonymous_mood(mood_console: BotHarness) -> None:
    # Three people write to Anna once; two rate her 9 and 6, one skips.
    for user_id, text, answer in [
        (7601, "happy", "9"),
        (7602, "happy", "6"),
        (7603, "sad", "Skip"),
    ]:
        user = await _chatting(mood_console, user_id)
        await _say(mood_console, user, f"I am {text}")
        await user.expect("sendMessage", contains="How satisfied are you with Anna?")
        await user.press(text=answer)
        await user.expect("editMessageText")
    # Mark gets one person only: below the anonymity threshold of 3.
    await mood_console.chatted_user(7604)
    await mood_console.container.mood.tracker.idle()

    admin = mood_console.user(ADMIN)
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:mood")
    screen = await admin.expect(("editMessageText", "sendMessage"), contains="Mood & satisfaction")
    text = screen.text or ""
    assert "Survey: 2 answers, 1 skipped, 0 comments" in text
    assert "Mean 7.50 (target 7.5) ✅" in text  # (9 + 6) / 2
    assert "Distribution: 1:0 2:0 3:0 4:0 5:0 6:1 7:0 8:0 9:1 10:0" in text
    assert "anna: 7.50 (2)" in text
    # Anna, week 2026-W45: 3 people, 3 messages, 1 sad (33%), 2 joyful (67%); estimates
    # 8.25, 8.25 and 3.25 (one message, one day each) -> 6.6.
    assert (
        "persona anna, 2026-W45: 3 people, 3 msgs, negative 33%, joyful 67%, est. satisfaction 6.6"
    ) in text
    assert "module support, 2026-W45: 3 people" in text
    assert "mark" not in text and "7601" not in text


async def test_survey_speaks_russian_and_waits_past_an_empty_comment(
    mood_console: BotHarness,
) -> None:
    user = await _chatting(mood_console, 7701, "Русский")
    await _say(mood_console, user, "привет")
    await user.expect("sendMessage", contains="Насколько вы довольны общением с персонажем «Anna»?")
    await user.press(text="10")
    await user.expect("editMessageText", contains="Спасибо за 10!")
    await user.press(text="Добавить комментарий")
    await user.expect("editMessageText", contains="Напишите комментарий")
    await user.say("   ")
    await user.expect("sendMessage", contains="не получилось принять")
    [answer] = await mood_console.db[c.SURVEY_RESPONSES].find({"user_id": 7701}).to_list()
    assert answer["score"] == 10 and "comment" not in answer
    # Still waiting for the comment: the next text is it.
    await user.say("Больше шуток")
    await user.expect("sendMessage", contains="Спасибо, я передам")
    [answer] = await mood_console.db[c.SURVEY_RESPONSES].find({"user_id": 7701}).to_list()
    assert isinstance(answer["comment"], bytes)


async def test_the_shipped_classifier_reads_messages_as_built_by_the_root(
    harness: BotHarness,
) -> None:
    # No reader override: `build_app` loads the packaged emotion model.
    user = await _chatting(harness, 7801)
    await _say(harness, user, "I am so sad and lonely today, I keep crying.")
    await user.command("mood")
    photo = await user.expect("sendPhoto")
    assert "1 day with conversations" in (photo.text or "")
    [stored] = await harness.container.mood.store.for_user(7801, datetime(2000, 1, 1, tzinfo=UTC))
    assert Emotion.SADNESS in stored.reading.labels
