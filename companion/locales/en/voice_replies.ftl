# Voice replies (companion/bot/routers/voice_replies.py, companion/bot/voice_replier.py).
# Sent with parse_mode=HTML.

cmd-voice = Reply with voice notes
voice-replies-on = From now on I will also answer with a voice note. Send /voice off to stop.
voice-replies-off = No more voice notes in reply to text (I will still answer your voice notes with one). Send /voice on to turn them back on.
voice-replies-usage = Send /voice on for voice replies, or /voice off to turn them off. Voice replies are { $enabled ->
        [yes] on
       *[no] off
    } now.
voice-replies-unavailable = I can't answer with voice notes right now, but I'm happy to keep texting.
voice-replies-failed = I couldn't record a voice reply. The text of my answer is above.
voice-replies-busy = Too many voice replies are being recorded right now. The text of my answer is above.
