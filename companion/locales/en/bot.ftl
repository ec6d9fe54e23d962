# Telegram front-end texts (companion/bot). Sent with parse_mode=HTML: arguments are escaped
# by the caller, tags here are deliberate.

## Language
lang-choose = Choose your language / Выберите язык
lang-button-ru = Русский
lang-button-en = English
lang-set = Language: English.

## Onboarding
welcome = Hi! I am Companion: characters you can talk to any time — for support, for practice, or just to chat.
consent-request =
    Before we start, please read and accept the <a href="{ $terms_url }">terms of use</a> and the <a href="{ $privacy_url }">privacy policy</a>.

    Nothing about our conversations is stored until you accept. You can export or erase your data at any time with /export and /forget.
consent-accept-button = ✅ I accept
consent-accepted = Thank you! Now choose who you want to talk to.
consent-required = Please accept the terms of use first — press the button below or send /start.

## Persona library
library-title = <b>Persona library</b> — { $page } / { $pages }
library-empty = There are no personas here yet.
library-filter-all = All
library-prev = ◀
library-next = ▶
library-choose = 💬 Talk to { $name }
module-support = Support
module-partner = Partner
module-practice = Practice
module-celebrity = Celebrity
badge-pro = PRO
badge-adult = 18+
persona-started = You are now talking to <b>{ $name }</b>.
persona-resumed = Back with <b>{ $name }</b> — let's continue.
persona-unknown = This persona is no longer available. Please choose another one: /persona
persona-needs-pro = { $name } is available with PRO. See /pro.
persona-needs-adult = { $name } is for adults only. Please confirm you are 18 or older.
adult-confirm-button = I am 18 or older
adult-confirmed = Thank you, confirmed.
no-persona = First choose who you want to talk to.

## Chat
reply-failed = Sorry, I couldn't finish my answer. Please try again in a moment.
message-empty = Your message is empty — write me something.
message-too-long = That message is too long for me — please keep it under { $limit } characters.
throttled = You are writing very fast — give me a few seconds to catch up.
reset-done = Starting over with <b>{ $name }</b>.

## Memory
memory-title = <b>What I remember about you</b> (tap to delete):
memory-title-edit = <b>What I remember about you</b> (tap a number to reword it):
memory-mode-edit = ✏️ Edit
memory-mode-delete = 🗑 Delete
memory-edit-ask = Send me the new wording for:
    <i>{ $fact }</i>
    Or press Cancel.
memory-edit-cancel = Cancel
memory-edit-cancelled = Editing cancelled — nothing changed.
memory-edit-bad = Please send the new wording as one short text message (up to { $limit } characters), or press Cancel.
memory-edited = Saved. Now I remember: <i>{ $fact }</i>
memory-empty = I don't remember anything about you yet.
memory-deleted = Deleted.
memory-not-found = That item is already gone.

## Data rights
forget-confirm = This will erase <b>all</b> your data: conversations, what I remember about you, and your settings. This cannot be undone. Continue?
forget-yes = Yes, erase everything
forget-no = Cancel
forget-done = Done — all your data has been erased. Send /start if you want to begin again.
forget-cancelled = Cancelled — nothing was erased.
forget-renewals-not-stopped = Sorry, I couldn't stop your subscription's renewals right now, so nothing has been erased yet. Please try /forget again in a few minutes.
export-caption = Your data.
export-preparing = Preparing your data…

## Help and commands
help =
    <b>Companion</b> — talk to the characters from the library.

    /persona — choose who to talk to
    /reset — start the conversation over
    /memory — what I remember about you
    /export — download your data
    /forget — erase all your data
    /lang — change the language
    /timezone — your time zone
    /checkins — may your companion write first (on/off)
    /news — news from us (on/off)
    /mood — your mood lately (off/on/clear)
    /pro — PRO subscription
    /subscription — your subscription
    /echo — show what I heard in your voice notes
    /voice — answer with voice notes too (on/off)
pro-placeholder = PRO subscription is coming soon.
subscription-placeholder = You don't have a subscription yet.
cmd-start = Start
cmd-persona = Choose a persona
cmd-reset = Start the conversation over
cmd-memory = What I remember about you
cmd-forget = Erase my data
cmd-export = Download my data
cmd-lang = Change the language
cmd-timezone = Time zone
cmd-help = Help
cmd-pro = PRO subscription
cmd-subscription = My subscription
cmd-echo = Show voice transcripts

## Unsupported input and errors
unsupported-sticker = Nice sticker! I can only read text and voice messages, though.
unsupported-document = I can't read files — please write to me or send a voice message.
unsupported-location = I can't use locations — tell me in words instead.
unsupported-poll = I can't take part in polls, sorry.
unsupported-media = I can only read text and voice messages.
unsupported-button = This button no longer works.
error-generic = Sorry, something went wrong on my side. Please try again.
unknown-command = I don't know that command. See /help.
group-private-only = Let's talk in private: @{ $bot_username }

## Time zone
timezone-current = Your time zone: <b>{ $zone }</b>. To change it, send /timezone followed by a zone, e.g. <code>/timezone Europe/Berlin</code>.
timezone-set = Time zone set: <b>{ $zone }</b>.
timezone-invalid = I don't know that time zone. Please send one like <code>/timezone Europe/Berlin</code> or <code>/timezone America/New_York</code>.
