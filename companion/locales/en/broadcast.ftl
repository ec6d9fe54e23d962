## News broadcasts (companion.broadcasts) and /news.

cmd-news = News from us: on or off
news-status-on = 🔔 News is <b>on</b>: now and then we write about what is new. /news off turns it off.
news-status-off = 🔕 News is <b>off</b>: you will not get our broadcasts. /news on turns it back on.
news-button-off = 🔕 Turn off news
news-button-on = 🔔 Turn news on
news-usage = Send /news on or /news off.

## The admin's broadcast screens.

broadcast-compose =
    📣 <b>New broadcast</b>
    Send the message as people should see it: text, or a photo with a caption. Formatting is kept.
broadcast-compose-unsupported = Only text or a photo with a caption can be broadcast. Send one of those, or press Cancel.
broadcast-compose-empty = The message is empty. Send some text, or a photo with a caption.
broadcast-buttons =
    Add link buttons? Send one per line as <code>Text | https://example.com</code>, or press "No buttons".
broadcast-no-buttons = No buttons
broadcast-buttons-invalid = Line { $line }: { $reason ->
        [text] the button text must be 1-64 characters.
        [url] the link must start with https://, http:// or tg://.
        [count] at most 8 buttons.
       *[format] write it as <code>Text | https://example.com</code>.
    }
broadcast-preview-title = 👆 This is how people will see it (the last button is added to every broadcast).
broadcast-preview-failed = Telegram did not accept this message ({ $reason }). Compose it again.
broadcast-segment = Who should get it?
broadcast-segment-all = Everyone
broadcast-segment-pro = PRO
broadcast-segment-free = Free
broadcast-segment-language = Language: { $lang }
broadcast-segment-persona = By persona…
broadcast-segment-inactive = Inactive…
broadcast-pick-persona = Those who talk to which persona now?
broadcast-pick-inactive = Inactive for how long? Press a button or send a number of days.
broadcast-days-invalid = Send a whole number of days from 1 to 3650, or press a button.
broadcast-days = { $days ->
        [one] { $days } day
       *[other] { $days } days
    }
broadcast-segment-name = { $kind ->
        [all] everyone
        [pro] PRO subscribers
        [free] free users
        [language] language { $value }
        [persona] talking to { $value }
       *[inactive] inactive for { $value } days
    }
broadcast-confirm =
    Send to <b>{ $segment }</b>: { $count } { $count ->
        [one] person
       *[other] people
    }.
    (Only people who accepted the terms, did not block the bot and did not turn news off.)
broadcast-confirm-empty = Nobody is in <b>{ $segment }</b>. Choose another group.
broadcast-send = ✅ Send
broadcast-back = ◀ Back
broadcast-cancel = ✖ Cancel
broadcast-cancelled = Broadcast cancelled.
broadcast-stop = ⏹ Stop
broadcast-stopped = Stopping: the messages already sent stay sent.
broadcast-gone = This broadcast is no longer open. Start a new one from /admin.
broadcast-queued = 📣 Broadcast queued: { $total } { $total ->
        [one] recipient
       *[other] recipients
    }.
broadcast-progress =
    📣 Sending: { $done } of { $total }
    ✅ delivered { $sent } · 🚫 blocked { $blocked } · ⚠️ failed { $failed } · 💤 skipped { $skipped }
broadcast-report-done =
    📣 <b>Broadcast finished</b>: { $total } recipients.
    ✅ Delivered: { $sent }
    🚫 Blocked the bot: { $blocked }
    ⚠️ Failed: { $failed }
    ❔ Not confirmed (no answer from Telegram, or cut off by a restart; not resent): { $unconfirmed }
    💤 Skipped (turned news off or left since): { $skipped }
broadcast-report-cancelled =
    📣 <b>Broadcast stopped</b>: { $total } recipients.
    ✅ Delivered: { $sent }
    🚫 Blocked the bot: { $blocked }
    ⚠️ Failed: { $failed }
    ❔ Not confirmed: { $unconfirmed }
    💤 Skipped: { $skipped }
    ⏹ Not sent: { $pending }
