"""The owner's stats (issue 17): reports over a period, computed by MongoDB aggregations.

`service.AnalyticsService` answers each report (`reports.REPORTS` names them) from the
collections the bot already writes: `events` (the funnel, paywall and renewals), `messages`
(counted by metadata only: role, source, persona and time; their text is never read),
`payments`, `subscriptions` and `subscription_transitions`, plus two anonymous Redis counters
for the onboarding steps before consent. `charts` draws a report as a PNG. Reports carry no
message contents and no Telegram ids, only counts. See docs/admin.md, "Stats".
"""
