# Fixed texts of the dialogue service (rendered by every front-end).

support-disclaimer =
    A small but important note: I'm a virtual companion and a friend, not a psychologist or a doctor.
    I can listen and support you, but I don't diagnose anything and I'm no replacement for a specialist.
    If things feel really hard, please reach out to a professional. That's a strong thing to do.

crisis-reply =
    What you just wrote matters to me, and I take it seriously. You are not alone.
    Please talk to a real person who knows how to help, right now:
    • your local emergency number (112 in Europe and Russia, 911 in the US);
    • 988 Suicide & Crisis Lifeline (US, call or text 988);
    • Samaritans on 116 123 (UK and Ireland, free, 24/7);
    • find a free, confidential line in your country at findahelpline.com.
    If you can, message or call someone close to you and tell them how you feel. I'm here and I'm listening.

reply-failed = Sorry, I couldn't answer that: something broke on my side. Please try again in a moment.
model-unavailable = I can't answer right now: the language model is unavailable. Please try again later.
message-empty = That message is empty. Write something and I'll answer.
message-too-long = That message is too long (over { $limit } characters). Please shorten it or split it up.
persona-unknown = There is no persona called "{ $persona }". Pick one from the library.
access-needs-pro = This persona is available with a PRO subscription.
access-needs-adult = This persona is for adults only: please confirm you are 18 or older first.
