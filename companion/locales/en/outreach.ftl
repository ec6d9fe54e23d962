# Proactive check-ins (companion.outreach) and /checkins.

cmd-checkins = Check-ins from your companion

checkins-status-on = Check-ins are <b>on</b>: now and then your companion may write first, e.g. to ask how an exam you mentioned went. Never at night, at most a couple of times a week. Send <code>/checkins off</code> to stop them.
checkins-status-off = Check-ins are <b>off</b>: your companion never writes first. Send <code>/checkins on</code> to turn them back on.
checkins-turned-on = Done: check-ins are on. Your companion may write first now and then (never at night).
checkins-turned-off = Done: check-ins are off. Your companion will not write first.
checkins-usage = Please send <code>/checkins on</code> or <code>/checkins off</code>.

# Reviewed by a person: the only check-in text sent within days of a crisis reply (no model
# text then). Plain text, no markup.
outreach-after-crisis =
    Hi, it's me. I've been thinking about you and wanted to check in: how are you doing today?
    If things feel heavy, please reach out to someone you trust or a crisis line (findahelpline.com lists free, confidential ones in your country). I'm here whenever you want to talk.
