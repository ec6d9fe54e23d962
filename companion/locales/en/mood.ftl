# Mood (/mood), the offer of help, and the satisfaction survey (companion/bot/routers/mood.py,
# survey.py). Sent with parse_mode=HTML. Never a diagnosis: these texts describe, never label.

## /mood
mood-summary-none = I don't have anything to show yet: your mood appears here after a few conversations.
mood-summary-good = You've had { $days } { $days ->
        [one] day
       *[other] days
    } with conversations lately, and { $good } of them felt bright. I'm glad — keep taking care of yourself. 🌿
mood-summary-mixed = You've had { $days } { $days ->
        [one] day
       *[other] days
    } with conversations lately: some lighter, some heavier. That's human, and you're not alone with any of it.
mood-summary-low = Lately { $low } of your { $days } { $days ->
        [one] day
       *[other] days
    } felt heavy. I'm sorry it's been hard — be gentle with yourself, and I'm here whenever you want to talk.
mood-trend-up = Recent days look lighter than before. 🌤
mood-trend-down = Recent days look harder than before — take a little extra care of yourself.
mood-trend-flat = Things have been fairly steady.
mood-footer = <i>Just an estimate from the tone of your messages — not an assessment of your health. /mood off stops it.</i>
mood-tracking-is-off = <i>Mood tracking is off; nothing new is read. /mood on turns it back on.</i>
mood-tracking-off = Mood tracking is off: your messages are no longer read for mood. What was read before stays for /mood; /mood clear deletes it.
mood-tracking-on = Mood tracking is on.
mood-cleared = Done — your mood history is deleted.
mood-usage = Use /mood to see your mood, /mood off or /mood on to switch tracking, /mood clear to delete the history.
mood-help-offer =
    It seems things have been heavy for you lately. If it feels like too much, talking to a psychologist or a doctor can really help — it's a sign of strength, not weakness.

    <i>I'm an AI companion, not a specialist: this is not a diagnosis or medical advice. If you are in danger, call your local emergency number.</i>

## Satisfaction survey
survey-question = How satisfied are you with { $name }? Rate from 1 to 10.
survey-skip = Skip
survey-thanks = Thank you for the { $score }! Would you like to add a comment on what to improve?
survey-add-comment = ✍️ Add a comment
survey-comment-prompt = Write your comment in one message.
survey-answered = You've already answered this one — thank you!
survey-no-comment = No comment
survey-done = Thank you!
survey-skipped = No problem — maybe another time.
survey-comment-thanks = Thank you, I've passed it on. 💛
survey-invalid = Sorry, that answer didn't work. Please try again.

## Admin
admin-mood-title = <b>Mood & satisfaction</b>, last { $days } days
admin-mood-groups = <b>Mood by persona and module</b> (weeks with at least { $min } people):
admin-mood-row = { $kind } <b>{ $group }</b>, { $week }: { $users } people, { $messages } msgs, negative { $negative }%, joyful { $positive }%, est. satisfaction { $satisfaction }
admin-mood-none = No groups large enough to show.
admin-survey-title = <b>Survey</b>: { $answers } answers, { $skipped } skipped, { $comments } comments
admin-survey-mean = Mean { $mean } (target { $target }) { $ok }
admin-survey-nomean = No answers yet (target { $target }).
admin-survey-distribution = Distribution: { $distribution }
admin-survey-persona = { $group }: { $mean } ({ $answers })
admin-survey-week = { $group }: { $mean } ({ $answers })
admin-survey-by-persona = <b>By persona</b>:
admin-survey-by-week = <b>By week</b>:

## Command menu
cmd-mood = My mood
