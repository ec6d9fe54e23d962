## The owner's console (/admin): menu, users, developer view. Admins only.

admin-menu = <b>Owner's console</b>
    Choose a section.
admin-section-stats = 📊 Stats
admin-section-broadcast = 📣 Broadcasts
admin-section-users = 👤 Users
admin-section-dev = 🛠 Developer
admin-section-mood = 🙂 Mood & survey
admin-refresh = ↻ Refresh
admin-back = « Menu

## Users

admin-users-prompt = <b>👤 Users</b>
    Send a user's Telegram id or @username (or use <code>/admin user 123456789</code>).
admin-users-invalid = That is neither a Telegram id nor a @username. Send, for example, <code>123456789</code> or <code>@name</code>.
admin-users-not-found = No user { $query } here. Send another id or @username.
admin-user-title = 👤 <b>{ $id }</b> { $name }
admin-user-profile = Language: { $lang } · persona: { $persona }
admin-user-activity = Joined { $joined } · last seen { $seen } · messages sent: { $messages }
admin-user-plan-pro = Plan: <b>PRO</b> { $plan } ({ $status }) until { $until } · auto-renew { $renew } · { $provider }
admin-user-plan-free = Plan: free (last: { $plan }, { $status }, until { $until })
admin-user-plan-none = Plan: free, never subscribed
admin-user-flags = Consent { $consent } · 18+ { $adult } · blocked the bot { $blocked } · news { $news } · check-ins { $checkins } · mood { $mood } · voice replies { $voice }
admin-user-payments = <b>Payments</b> (newest first):
admin-user-payment = • { $date } · { $amount } · { $plan } · { $provider } · { $status } · refunded { $refunded } · <code>{ $ref }</code>
admin-user-no-payments = Payments: none
admin-user-grant = 🎁 Grant PRO
admin-user-refund = ↩️ Refund
admin-user-another = 🔍 Another user
admin-grant-choose = Grant PRO to { $user }: choose the plan (its period is added to any running one).
admin-grant-plan = { $title } · { $days } d
admin-grant-confirm = Grant <b>{ $title }</b> ({ $days } days) to { $user }? They will get a message about it.
admin-refund-choose = Refund which payment of { $user }?
admin-refund-payment = { $amount } · { $date } · { $plan }
admin-refund-confirm = Refund what is left of payment <code>{ $ref }</code> to { $user }? PRO they got for it is taken back.
admin-refund-none = Nothing to refund for this user.
admin-confirm = ✅ Confirm
admin-cancel = ✖️ Cancel

## Developer

admin-dev-title = <b>🛠 Developer</b> · version { $version } · up { $uptime }
admin-dev-uptime = { $days } d { $hours } h { $minutes } min
admin-dev-health = <b>Health</b>
admin-dev-queues = <b>Queues</b>
admin-queue-update_retries = updates waiting for a retry (all workers)
admin-queue-update_retries_here = updates held by this worker (Redis was down)
admin-queue-updates_in_hand = updates being answered (all workers)
admin-queue-voice_notes_waiting = voice notes waiting for transcription
admin-queue-memory_learning = memory learning passes pending
admin-dev-errors = <b>Errors</b>: { $hour } in the last hour, { $day } in 24 h (kind: hour / day)
admin-dev-personas = Personas: { $count } loaded, { $issues } problem(s) in files
admin-dev-reload = 🔄 Reload personas
admin-dev-reloaded = <b>Persona library reloaded</b> on this worker: { $count } persona(s), { $problems } problem(s).
admin-dev-changed = Added or changed: { $ids }
admin-dev-removed = Removed: { $ids }
admin-dev-more-issues = …and { $count } more: run <code>companion personas validate</code>.
