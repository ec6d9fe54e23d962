"""Dense candidates from MongoDB `$vectorSearch` (Atlas, or Community 8.2+ with mongot).

Used when ``memory.vector_search = "atlas"``. The exact in-process search stays the default:
per-user data is small and SecantusDB has no vector index. The index definition to create on
the `memories` and `episodes` collections is in `docs/memory.md`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymongo.asynchronous.collection import AsyncCollection

from companion.memory.embedder import Vector, to_bson


def vector_search_pipeline(
    *,
    index_name: str,
    vector: Vector,
    user_id: int,
    limit: int,
    scope_field: str | None = None,
    scope: str | None = None,
    candidates_factor: int = 10,
) -> list[dict[str, Any]]:
    """The aggregation that returns a user's `limit` nearest records as {_id, score}."""
    filter_: dict[str, Any] = {"user_id": user_id}
    if scope_field is not None and scope is not None:
        filter_ = {"$and": [{"user_id": user_id}, {scope_field: scope}]}
    return [
        {
            "$vectorSearch": {
                "index": index_name,
                "path": "vector",
                "queryVector": to_bson(np.asarray(vector, dtype=np.float32)),
                "numCandidates": max(limit * candidates_factor, 100),
                "limit": limit,
                "filter": filter_,
            }
        },
        {"$project": {"_id": 1, "score": {"$meta": "vectorSearchScore"}}},
    ]


class AtlasDenseSearch:
    """A `DenseSearch` over one collection's vector index."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        index_name: str,
        *,
        scope_field: str | None = None,
    ) -> None:
        self._collection = collection
        self._index_name = index_name
        self._scope_field = scope_field

    async def __call__(
        self, user_id: int, vector: Vector, limit: int, scope: str | None
    ) -> list[tuple[str, float]]:
        pipeline = vector_search_pipeline(
            index_name=self._index_name,
            vector=vector,
            user_id=user_id,
            limit=limit,
            scope_field=self._scope_field,
            scope=scope,
        )
        cursor = await self._collection.aggregate(pipeline)
        # vectorSearchScore for cosine is (1 + cosine) / 2; give the caller the cosine back.
        return [
            (str(document["_id"]), 2.0 * float(document["score"]) - 1.0)
            async for document in cursor
        ]
