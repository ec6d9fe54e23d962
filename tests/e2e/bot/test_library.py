"""The persona library: photo cards, paging, module filter, choosing, PRO/18+ gates, /reset."""

from __future__ import annotations

from tests.e2e.bot.conftest import BotHarness


async def test_cards_paging_filter_and_choose(harness: BotHarness) -> None:
    user = harness.user(2001)
    await harness.onboard(user)
    card = user.history()[-1]
    assert "photo" in card and "Anna" in card["caption"]
    # The preview is escaped: "<b>&" from the YAML is shown as text, not as markup.
    assert "preview <b>&" in card["caption"]
    assert any(text.startswith("1 / 4") for text, _ in user.buttons())

    # Cards go by module (Support, Partner, Practice, Celebrity), paging edits the same message.
    await user.press(text="▶")
    await user.expect("editMessageMedia")
    lily = user.history()[-1]
    assert "Lily" in lily["caption"] and "PRO" in lily["caption"] and "18+" in lily["caption"]
    await user.press(text="◀")
    await user.expect("editMessageMedia")
    await user.press(text="◀")  # wraps around to the last card
    await user.expect("editMessageMedia")
    assert "Star" in user.history()[-1]["caption"]
    assert len(user.calls("sendPhoto")) == 1

    await user.press(text="Practice")
    await user.expect("editMessageMedia")
    caption = user.history()[-1]["caption"]
    assert "Mark" in caption
    assert not any(text.startswith("1 / ") for text, _ in user.buttons())  # one card only
    assert any(text == "• Practice" for text, _ in user.buttons())

    await user.press(text="Talk to Mark")
    await user.expect("sendMessage", contains="You are now talking to Mark")
    await user.expect("sendMessage", contains="Hi, I am Mark!")
    profile = await harness.db["users"].find_one({"_id": 2001})
    assert profile["current_persona_id"] == "mark"
    conversations = await harness.db["conversations"].count_documents({"user_id": 2001})
    assert conversations == 1

    # /persona reopens the library; choosing the same persona resumes without a new greeting.
    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "mark")
    assert "Back with" in (user.calls("sendMessage")[-1].text or "")
    assert await harness.db["conversations"].count_documents({"user_id": 2001}) == 1

    await user.command("reset")
    await user.expect("sendMessage", contains="Starting over with")
    await user.expect("sendMessage", contains="Hi, I am Mark!")
    assert await harness.db["conversations"].count_documents({"user_id": 2001}) == 2


async def test_support_disclaimer_before_first_support_conversation(harness: BotHarness) -> None:
    user = harness.user(2002)
    await harness.onboard(user)
    await harness.choose(user, "anna")
    texts = [c.text or "" for c in user.calls("sendMessage")]
    disclaimer = harness.container.translator.get("en", "support-disclaimer", address="ty")
    assert disclaimer in texts
    assert texts.index(disclaimer) < texts.index("Hi, I am Anna!")
    await user.command("persona")
    await user.expect("sendPhoto")
    await harness.choose(user, "anna")
    texts = [c.text or "" for c in user.calls("sendMessage")]
    assert texts.count(disclaimer) == 1  # once, not on every start

    await user.command("help")
    await user.expect("sendMessage", contains="/persona")
    await user.expect("sendMessage", contains=disclaimer[:30])


async def test_partner_needs_adult_confirmation_then_pro(harness: BotHarness) -> None:
    user = harness.user(2003)
    await harness.onboard(user)
    for _ in range(3):
        await user.press(text="▶")
        await user.expect("editMessageMedia")
        if "Lily" in user.history()[-1]["caption"]:
            break
    await user.press(text="Talk to Lily")
    await user.expect("sendMessage", contains="adults only")
    assert (await harness.db["users"].find_one({"_id": 2003}))["adult_confirmed_at"] is None
    await user.press(text="I am 18 or older")
    await user.expect("sendMessage", contains="available with PRO")
    profile = await harness.db["users"].find_one({"_id": 2003})
    assert profile["adult_confirmed_at"] is not None
    assert profile.get("current_persona_id") is None
    assert await harness.db["conversations"].count_documents({"user_id": 2003}) == 0
