"""Re-embedding stored memory after the embedding model was changed.

Every stored vector carries the id of the model that wrote it (`store.VectorSpace`); search
leaves out vectors of another model. `Reembedder` rewrites those vectors with the configured
model, collection by collection, in batches, so search sees them again:

    companion memory reembed            # shows progress; safe to stop and run again

It is safe to run while the bot serves: a vector is written only if the text it was computed
from is still the stored one (the bot may have changed a fact meanwhile, and then it wrote a
vector of the current model itself). Deletion tombstones keep no text, so their old vectors
cannot be recomputed; they still block a deleted fact by its exact text, only not by meaning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from companion.memory.embedder import Embedder
from companion.memory.store import VectorSpace

log = logging.getLogger(__name__)

Document = dict[str, Any]


class VectorStore(Protocol):
    """A store whose documents carry a vector of their text (`FactStore`, `EpisodeStore`)."""

    text_fields: tuple[str, ...]
    vectors: VectorSpace

    @property
    def collection(self) -> AsyncCollection[Document]: ...

    def embedding_text(self, document: Document) -> str: ...


@dataclass
class ReembedReport:
    rewritten: dict[str, int] = field(default_factory=dict)  # collection -> vectors rewritten
    changed_meanwhile: int = 0  # the text changed while we embedded: the bot re-embedded it


class Reembedder:
    def __init__(
        self,
        stores: list[VectorStore],
        embedder: Embedder,
        *,
        batch_size: int = 64,
    ) -> None:
        self._stores = stores
        self._embedder = embedder
        self._batch_size = batch_size

    async def pending(self) -> dict[str, int]:
        """How many vectors of another model each collection holds."""
        return {
            store.collection.name: await store.collection.count_documents(
                store.vectors.stale_filter()
            )
            for store in self._stores
        }

    async def run(self, advance: Callable[[str, int], None] | None = None) -> ReembedReport:
        """Rewrite every stale vector; `advance(collection, n)` is called after each batch."""
        report = ReembedReport()
        for store in self._stores:
            name = store.collection.name
            report.rewritten[name] = 0
            skipped: list[Any] = []  # ids changed meanwhile: never asked for again
            while True:
                query = store.vectors.stale_filter()
                if skipped:
                    query["_id"] = {"$nin": skipped}
                batch = await store.collection.find(query).limit(self._batch_size).to_list()
                if not batch:
                    break
                vectors = await self._embedder.embed_passages(
                    [store.embedding_text(document) for document in batch]
                )
                updates = [
                    UpdateOne(
                        # Only if the text is still the one embedded (ciphertexts compare as
                        # stored: a rewrite by the bot makes a new one).
                        {
                            "_id": document["_id"],
                            **{f: document.get(f) for f in store.text_fields},
                        },
                        {"$set": store.vectors.fields(vector)},
                    )
                    for document, vector in zip(batch, vectors, strict=True)
                ]
                result = await store.collection.bulk_write(updates, ordered=False)
                if result.matched_count < len(batch):
                    changed = await self._changed(store, batch)
                    skipped.extend(changed)
                    report.changed_meanwhile += len(changed)
                report.rewritten[name] += result.modified_count
                if advance is not None:
                    advance(name, len(batch))
        log.info("re-embedded memory vectors: %s", report.rewritten)
        return report

    async def _changed(self, store: VectorStore, batch: list[Document]) -> list[Any]:
        """The ids in `batch` that still hold a stale vector after the update: their text was
        changed meanwhile (or they were deleted, then they are not found at all)."""
        ids = [document["_id"] for document in batch]
        query = {**store.vectors.stale_filter(), "_id": {"$in": ids}}
        return [document["_id"] async for document in store.collection.find(query, {"_id": 1})]
