"""The satisfaction survey in Telegram: the invitation the mood service sends (through
`BotMoodNotifier`), the 1-10 buttons, "skip", and the optional comment that may follow.

A score is stored at once. A comment is opt-in: only after "add a comment" is the next plain
text the comment (an FSM state), so a person who just goes on chatting talks to the persona.
One answer per invitation: a second tap gets "already answered".
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.texts import escape
from companion.domain.models import User
from companion.domain.personas import Persona
from companion.domain.ports import PersonaCatalog
from companion.i18n import Translator
from companion.mood.survey import InvalidSurveyAnswerError, SurveyClosedError, SurveyService
from companion.personas.forms import address_of

log = logging.getLogger(__name__)


class SurveyCb(CallbackData, prefix="srv"):
    action: str  # "score" | "skip" | "comment" | "nocomment"
    persona: str
    score: int = 0


class SurveyStates(StatesGroup):
    # After a score: waits for the optional comment (the answer's id in the state data).
    comment = State()


def survey_keyboard(i18n: I18n, persona_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for score in range(1, 11):
        builder.button(
            text=str(score), callback_data=SurveyCb(action="score", persona=persona_id, score=score)
        )
    builder.button(
        text=i18n("survey-skip"), callback_data=SurveyCb(action="skip", persona=persona_id)
    )
    builder.adjust(5, 5, 1)
    return builder.as_markup()


def _comment_keyboard(i18n: I18n, persona_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=i18n("survey-add-comment"),
        callback_data=SurveyCb(action="comment", persona=persona_id),
    )
    builder.button(
        text=i18n("survey-no-comment"),
        callback_data=SurveyCb(action="nocomment", persona=persona_id),
    )
    return builder.as_markup()


class BotMoodNotifier:
    """Implements `companion.mood.tracker.MoodNotifier` over the Bot API (private chats: the
    chat id is the user id)."""

    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._translator = translator

    async def invite_survey(self, user: User, persona: Persona) -> None:
        i18n = I18n(self._translator, user.language)
        name = escape(persona.display_name(user.language))
        await self._send(
            user, i18n("survey-question", name=name), survey_keyboard(i18n, persona.id)
        )

    async def offer_help(self, user: User, persona: Persona) -> None:
        # In the ты/вы of the persona the user talks to, as every text in its voice.
        text = self._translator.get(user.language, "mood-help-offer", address=address_of(persona))
        await self._send(user, text, None)

    async def _send(self, user: User, text: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self._bot.send_message(user.id, text, reply_markup=markup)
        except TelegramAPIError as exc:  # blocked, chat gone: nothing to do but note it
            log.warning("mood: could not message a user: %s", type(exc).__name__)


async def on_score(
    query: CallbackQuery,
    callback_data: SurveyCb,
    user: User,
    i18n: I18n,
    survey: SurveyService,
    personas: PersonaCatalog,
    state: FSMContext,
) -> None:
    persona = personas.get(callback_data.persona)
    try:
        if persona is None:
            raise InvalidSurveyAnswerError("unknown persona")
        response_id = await survey.answer(user, persona, callback_data.score)
    except InvalidSurveyAnswerError as exc:
        await _refuse(query, i18n, exc)
        return
    await state.update_data(survey_response=response_id)
    thanks = i18n("survey-thanks", score=callback_data.score)
    await _edit(query, thanks, _comment_keyboard(i18n, callback_data.persona))


async def on_skip(
    query: CallbackQuery,
    callback_data: SurveyCb,
    user: User,
    i18n: I18n,
    survey: SurveyService,
    personas: PersonaCatalog,
) -> None:
    persona = personas.get(callback_data.persona)
    try:
        if persona is None:
            raise InvalidSurveyAnswerError("unknown persona")
        await survey.skip(user, persona)
    except InvalidSurveyAnswerError as exc:
        await _refuse(query, i18n, exc)
        return
    await _edit(query, i18n("survey-skipped"), None)


async def on_add_comment(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    if not (await state.get_data()).get("survey_response"):
        await query.answer(i18n("survey-answered"), show_alert=True)
        return
    await state.set_state(SurveyStates.comment)
    await _edit(query, i18n("survey-comment-prompt"), None)


async def on_no_comment(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    await state.update_data(survey_response=None)
    await _edit(query, i18n("survey-done"), None)


async def on_comment(
    message: Message, user: User, i18n: I18n, survey: SurveyService, state: FSMContext
) -> None:
    data = await state.get_data()
    try:
        await survey.comment(user.id, str(data.get("survey_response", "")), message.text or "")
    except InvalidSurveyAnswerError:
        await message.answer(i18n("survey-invalid"))  # still waiting for the comment
        return
    await state.set_state(None)
    await state.update_data(survey_response=None)
    await message.answer(i18n("survey-comment-thanks"))


async def _refuse(query: CallbackQuery, i18n: I18n, exc: InvalidSurveyAnswerError) -> None:
    key = "survey-answered" if isinstance(exc, SurveyClosedError) else "survey-invalid"
    await query.answer(i18n(key), show_alert=True)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramAPIError:
            await query.message.answer(text, reply_markup=markup)


def build_router() -> Router:
    router = Router(name="survey")
    router.callback_query.register(on_score, SurveyCb.filter(F.action == "score"))
    router.callback_query.register(on_skip, SurveyCb.filter(F.action == "skip"))
    router.callback_query.register(on_add_comment, SurveyCb.filter(F.action == "comment"))
    router.callback_query.register(on_no_comment, SurveyCb.filter(F.action == "nocomment"))
    # Only plain text that is not a command: /mood or /start still work while it waits.
    router.message.register(
        on_comment,
        StateFilter(SurveyStates.comment),
        Magic(F.text & ~F.text.startswith("/") & (F.chat.type == "private")),
    )
    return router
