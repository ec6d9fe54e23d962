"""The plans on sale, looked up by id; built from `BillingSettings.plans`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from companion.config import PlanSettings
from companion.domain.personas import Module


class UnknownPlanError(LookupError):
    def __init__(self, plan_id: str) -> None:
        super().__init__(f"unknown plan {plan_id!r}")
        self.plan_id = plan_id


class PlanCatalog:
    """Plans in the order the settings list them (the order /pro shows them)."""

    def __init__(self, plans: Sequence[PlanSettings]) -> None:
        by_id: dict[str, PlanSettings] = {}
        for plan in plans:
            if plan.id in by_id:
                raise ValueError(f"billing.plans: plan id {plan.id!r} is listed twice")
            unknown = [name for name in plan.unlocks if name not in Module.__members__.values()]
            if unknown:
                raise ValueError(f"billing.plans[{plan.id}].unlocks: unknown module(s) {unknown}")
            by_id[plan.id] = plan
        if not by_id:
            raise ValueError("billing.plans must list at least one plan")
        self._plans = by_id

    def __iter__(self) -> Iterator[PlanSettings]:
        return iter(self._plans.values())

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, plan_id: str) -> PlanSettings:
        try:
            return self._plans[plan_id]
        except KeyError:
            raise UnknownPlanError(plan_id) from None

    def find(self, plan_id: str) -> PlanSettings | None:
        return self._plans.get(plan_id)

    def unlocked_modules(self, plan_id: str) -> frozenset[str]:
        """Modules a plan opens; a plan since removed from the settings keeps all PRO modules,
        so a paying subscriber never loses what they paid for because of a config change."""
        plan = self._plans.get(plan_id)
        if plan is None:
            return frozenset(module.value for module in Module)
        return frozenset(plan.unlocks)
