"""Which LoRA adapters the model server is missing, so requests fall back to the base model.

vLLM answers 404 ("The model `x` does not exist.") for an adapter it does not serve. The
client then uses the base model and remembers the adapter as missing for `recheck_s`, so
every later reply does not pay a failed request first; after that it tries the adapter again,
because adapters can be loaded at runtime (`POST /v1/load_lora_adapter`). The warning is
logged once per adapter each time it goes missing, not on every request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class AdapterAvailability:
    def __init__(
        self,
        base_model: str,
        *,
        recheck_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_model = base_model
        self._recheck_s = recheck_s
        self._clock = clock
        # adapter name -> when it was last found missing
        self._missing: dict[str, float] = {}

    @property
    def base_model(self) -> str:
        return self._base_model

    @property
    def missing(self) -> frozenset[str]:
        return frozenset(self._missing)

    def model_for(self, adapter: str | None) -> str:
        """The model name to request for `adapter` (None: the base model)."""
        if not adapter or adapter == self._base_model:
            return self._base_model
        since = self._missing.get(adapter)
        if since is not None and self._clock() - since < self._recheck_s:
            return self._base_model
        return adapter

    def mark_missing(self, adapter: str, server: str) -> None:
        """The server said `adapter` does not exist; warn the first time it goes missing."""
        if adapter not in self._missing:
            log.warning(
                "LoRA adapter %r is not served by %s; using the base model %r "
                "(will re-check every %.0f s)",
                adapter,
                server,
                self._base_model,
                self._recheck_s,
            )
        else:
            log.debug("LoRA adapter %r is still missing on %s", adapter, server)
        self._missing[adapter] = self._clock()

    def mark_served(self, adapter: str | None) -> None:
        """A request with `adapter` succeeded; forget that it was missing."""
        if adapter and self._missing.pop(adapter, None) is not None:
            log.info("LoRA adapter %r is served again", adapter)
