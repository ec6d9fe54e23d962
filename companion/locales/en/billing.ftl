## PRO and payments (companion.bot.routers.billing)

pro-intro =
    <b>Companion PRO</b>
    • The Partner module: romantic role-play characters (18+)
    • Everything else stays free, as before
    Choose a plan:
pro-plan-button = { $title } — { $rub } ₽ / { $stars } ⭐
pro-already-active = You already have PRO until { $until }. A new plan adds to it.
pro-unavailable = Payments are not available right now. Please try again later.
pro-unknown-plan = This plan is no longer available. Please choose another one: /pro
pro-offer =
    Before paying, please read the public offer (the terms of the paid service):
    { $url }
    Press "I accept" to continue.
pro-offer-open-button = 📄 Read the offer
pro-offer-accept-button = ✅ I accept the offer
pro-offer-accepted = Thank you!
pro-offer-needed = Please accept the offer first: /pro
pro-method-choose = How would you like to pay for { $title }?
pro-method-card = 💳 Card or SBP — { $rub } ₽
pro-method-stars = ⭐ Telegram Stars — { $stars }
pro-pay-link = { $title }: { $rub } ₽. Press the button to pay on the YooKassa page; PRO turns on as soon as the payment goes through.
pro-pay-button = Pay
pro-stars-description = PRO access to the Partner module of Companion.
pro-stars-link = Press the button to pay with Telegram Stars.
pro-stars-button = Pay with Stars
pro-stars-refused = This purchase cannot be completed. Please open /pro and try again.
pro-stars-problem = We could not match this payment to a plan, so the Stars have been refunded. You can choose a plan in /pro.
pro-stars-refunded-erased = Your data was erased, so this Stars payment has been refunded and the subscription cancelled.
pro-already-subscribed =
    You already have PRO until { $until }, and it renews automatically. You can have one subscription at a time.
    To change the plan or the way you pay, turn renewal off in /subscription (PRO stays until { $until }), then choose the new plan in /pro.
pro-payment-unavailable = The payment service is not responding. Nothing was charged; please try again in a few minutes.
pro-contact-ask = The law requires us to send you a receipt. Please send your e-mail or phone number (we ask only once).
pro-contact-invalid = This does not look like an e-mail or a phone number. Please send, for example, name@example.com or +7 900 123-45-67.
pro-contact-saved = Thank you, saved.
pro-contact-cancelled = Payment cancelled. You can start again with /pro.
paywall-text = { $name } is available with PRO.

## /subscription

subscription-none = You have no PRO subscription. Choose a plan:
subscription-status =
    <b>{ $plan }</b>
    Status: { $state }
    Until: { $until }
    Auto-renewal: { $renewal }
subscription-state-active = active
subscription-state-pending = waiting for payment
subscription-state-past-due = payment failed, PRO kept for a few days
subscription-state-cancelled = cancelled, active until the end of the period
subscription-state-expired = expired
subscription-state-refunded = refunded
subscription-state-none = none
subscription-renew-on = on
subscription-renew-off = off
subscription-cancel-button = Cancel renewal
subscription-resume-button = Turn renewal back on
subscription-cancelled = Renewal is off. PRO stays until { $until }.
subscription-resumed = Renewal is on again. Next charge around { $until }.
subscription-not-cancellable = There is no renewing subscription to change.

## Notices from billing jobs

billing-notice-activated = 🎉 PRO is on: { $plan }, until { $until }. Thank you!
billing-notice-renewed = PRO renewed: { $plan }, until { $until }.
billing-notice-renewal-failed = We could not renew PRO. It stays on until { $until } while we try again; you can also pay in /pro.
billing-notice-expired = Your PRO has ended. You can renew it any time: /pro
billing-notice-refunded = Your payment for { $plan } was refunded; PRO is off.
billing-notice-granted = You were given PRO: { $plan }, until { $until }.

## Admin commands

admin-only = This command is for administrators.
admin-refund-usage = Usage: /refund USER_ID or PAYMENT_ID
admin-refund-nothing = Nothing to refund for { $reference }.
admin-refund-done = Refund for { $reference }: { $outcome }.
admin-grant-usage = Usage: /grant USER_ID PLAN_ID DAYS
admin-grant-done = PRO granted to { $user } until { $until }.
