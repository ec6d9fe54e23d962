# Voice notes (companion/speech, companion/bot/routers/voice.py). Sent with parse_mode=HTML:
# arguments are escaped by the caller.

voice-too-large = This file is too big for me to listen to — the limit is { $limit_mb } MB. Could you send a shorter recording?
voice-too-long =
    { $limit_minutes ->
        [one] This recording is longer than I can listen to (up to { $limit_minutes } minute). Could you split it into shorter notes?
       *[other] This recording is longer than I can listen to (up to { $limit_minutes } minutes). Could you split it into shorter notes?
    }
voice-unreadable = Sorry, I couldn't play this file — it may be damaged or in a format I don't know. Could you record it again?
voice-nothing-recognised = I listened carefully but couldn't make out any words. Could you say it again a little louder, or type it?
voice-busy = I'm listening to a lot of voice notes right now. Please try again in a minute.
voice-failed = Something went wrong while I was listening to your note. Please try again a bit later.
voice-download-failed = I couldn't download your voice note from Telegram. Please send it again in a moment.
voice-echo = 🎤 You said: { $text }
voice-unavailable = I can't listen to voice messages right now — please type your message instead.
voice-echo-on = From now on I'll show what I heard in your voice messages. Send /echo again to turn it off.
voice-echo-off = I won't show what I heard in your voice messages any more. Send /echo to turn it back on.
