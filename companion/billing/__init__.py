"""PRO billing: plans, entitlements, the subscription state machine, YooKassa and Telegram Stars.

See docs/billing.md. The composition root builds everything with `factory.build_billing`.
"""
