## The Stats section of the owner's console (companion/bot/routers/admin/stats.py) and
## `companion stats` (companion/cli/stats.py). Numbers only; no user's words or ids.

stats-choose = <b>Stats</b>
    Choose a report. Charts cover the last 7 days; switch to 30 or 90 under the chart.
stats-unknown = That report or period is not available.
stats-days = { $days } days
stats-other-reports = « Reports

stats-report-activity = Activity
stats-report-funnel = Onboarding funnel
stats-report-personas = Personas & modules
stats-report-paywall = Paywall conversion
stats-report-revenue = Revenue
stats-report-subscriptions = PRO & churn
stats-report-retention = Retention

stats-new-users = New users
stats-dau = DAU
stats-dau-average = DAU (average)
stats-wau = WAU (last 7 days)
stats-mau = MAU (last 30 days)
stats-stickiness = DAU / MAU
stats-messages = Messages
stats-voice-notes = Voice notes

stats-step-start = /start (new people)
stats-step-language = Language chosen
stats-step-consent = Accepted the terms
stats-step-persona = Chose a persona
stats-step-first_message = First message
stats-step-tenth_message = 10th message

stats-module = Module { $subject } (people / messages)
stats-persona = { $subject } (people / messages)

stats-paywall-views = Saw the paywall
stats-checkouts = Started a checkout
stats-payments = Paid
stats-conversion = Paywall → payment

stats-revenue-by = { $subject }: net (payments, refunded)
stats-renewals = Renewals
stats-active-pro = Active PRO
stats-new-pro = New PRO
stats-churned = Ended (expired or refunded)
stats-churn-rate = Churn

stats-cohort-size = People in the cohorts
stats-retention-d1 = D1
stats-retention-d7 = D7
stats-retention-d30 = D30

stats-col-day = Day
stats-col-step = Step
stats-col-count = Count
stats-col-of-previous = Of previous
stats-col-of-first = Of first
stats-col-persona = Persona [module]
stats-col-users = People
stats-col-provider = Provider
stats-col-currency = Currency
stats-col-gross = Gross
stats-col-refunded = Refunded
stats-col-net = Net
stats-col-plan = Plan
