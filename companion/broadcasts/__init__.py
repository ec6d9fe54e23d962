"""News broadcasts from the owner to the bot's users (issue 17, the owner's console).

A campaign is composed (text or photo with caption, optional URL buttons), previewed, given a
segment and confirmed; confirming writes one recipient document per member of the segment, and
`BroadcastWorker` (one per bot process, a lease per campaign) sends them at Telegram's pace.
Nothing here knows Telegram: messages go out through the `BroadcastSender` port, progress and
the final report through `BroadcastProgress` (both in `companion.bot.broadcast_sender`).

- `models`: campaigns, content, segments, recipient states, reports;
- `segments`: who is in a segment (only consented, reachable, opted-in users);
- `store`: campaigns and recipients in MongoDB, the lease, claiming and marking;
- `service`: what the admin screens call (draft, count, confirm, cancel);
- `worker`: the sending loop (pacing, 429 pauses, progress, final report).
"""
