"""`companion billing ...`: plans, a user's subscription, grants, and the jobs run by hand.

The bot runs the jobs itself (`BillingScheduler`); `run-jobs` is for cron-style deployments or
to heal something at once. Users are not notified from here (built by `companion.app.build_app`
without the Bot API client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from companion.billing.factory import BillingComponents
from companion.billing.plans import PlanCatalog, UnknownPlanError
from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.storage.database import DatabaseUnavailableError
from companion.storage.redis import RedisUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")

app = typer.Typer(
    name="billing",
    help="PRO plans, subscriptions and payment jobs.",
    no_args_is_help=True,
    add_completion=False,
)
stdout = Console(highlight=False, soft_wrap=True)


@app.callback()
def billing() -> None:
    """PRO plans, subscriptions and payment jobs."""


def _run(settings: Settings, work: Callable[[BillingComponents], Awaitable[T]]) -> T:
    """Billing as the composition root builds it, without the Bot API client (so nobody is
    messaged from here); without Redis when it is down (the bot's cached entitlements then
    refresh within their TTL)."""

    async def run(use_redis: bool) -> T:
        # Imported here: `companion billing plans` needs no more than the settings.
        from companion.app import build_app

        async with build_app(
            settings, use_redis=use_redis, watch_personas=False, telegram=False
        ) as built:
            return await work(built.billing)

    try:
        try:
            return asyncio.run(run(use_redis=True))
        except RedisUnavailableError as exc:
            stdout.print(f"[yellow]warning:[/yellow] {exc}")
            return asyncio.run(run(use_redis=False))
    except DatabaseUnavailableError as exc:
        fail(str(exc))


@app.command("plans")
def plans() -> None:
    """The plans on sale."""
    settings = settings_or_exit()
    table = Table("id", "title (ru / en)", "RUB", "Stars", "days", "unlocks")
    for plan in PlanCatalog(settings.billing.plans):
        table.add_row(
            plan.id,
            f"{plan.title_for('ru')} / {plan.title_for('en')}",
            str(plan.price_rub),
            str(plan.price_stars),
            str(plan.period_days),
            ", ".join(plan.unlocks),
        )
    stdout.print(table)


@app.command("status")
def status(user: Annotated[int, typer.Option("--user", help="Telegram user id")]) -> None:
    """A user's subscription and latest payments."""

    async def work(components: BillingComponents) -> tuple[Any, Any, list[Any]]:
        view = await components.service.view(user)
        payments = await components.service.ledger.for_user(user, limit=10)
        return view, view.subscription, payments

    view, sub, payments = _run(settings_or_exit(), work)
    if sub is None:
        stdout.print(f"user {user}: no subscription")
    else:
        stdout.print(
            f"user {user}: {sub.status.value}, plan {sub.plan_id or '—'}, "
            f"PRO {'yes' if view.has_pro else 'no'} until {view.until or '—'}, "
            f"auto-renew {'on' if sub.auto_renew else 'off'}, provider {sub.provider or '—'}"
        )
    table = Table("created", "provider", "payment id", "kind", "amount", "status", "granted")
    for payment in payments:
        table.add_row(
            payment.created_at.isoformat(timespec="seconds"),
            payment.provider.value,
            payment.payment_id or "—",
            payment.kind.value,
            f"{payment.amount} {payment.currency}",
            payment.status.value,
            "yes" if payment.granted_at else "no",
        )
    stdout.print(table)


@app.command("grant")
def grant(
    user: Annotated[int, typer.Option("--user", help="Telegram user id")],
    plan: Annotated[str, typer.Option("--plan", help="Plan id (see `companion billing plans`)")],
    days: Annotated[int, typer.Option("--days", min=1, max=3660)],
) -> None:
    """Give PRO for some days (added to a running period)."""

    async def work(components: BillingComponents) -> Any:
        return await components.service.grant(user, plan, days, by=0)

    try:
        sub = _run(settings_or_exit(), work)
    except UnknownPlanError as exc:
        fail(str(exc))
    stdout.print(f"user {user}: PRO until {sub.current_period_end}")


@app.command("run-jobs")
def run_jobs() -> None:
    """Reconcile open payments, charge due renewals, expire what has ended; once."""

    async def work(components: BillingComponents) -> dict[str, Any]:
        return dict(await components.jobs.run_once())

    reports = _run(settings_or_exit(), work)
    for name, report in reports.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "—"
        stdout.print(f"{name}: checked {report.checked}, {outcomes}, errors {report.errors}")
