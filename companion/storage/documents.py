"""Translation between pydantic models and Mongo documents, shared by the repositories."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

Document = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


def new_id() -> str:
    """A random, URL-safe id for conversations and messages."""
    return uuid.uuid4().hex


def storage_now() -> datetime:
    """The current UTC time at the millisecond precision BSON dates keep."""
    return to_storage_precision(datetime.now(UTC))


def to_storage_precision(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def bson_ready(value: Any) -> Any:
    """`value` with every datetime cut to milliseconds, so what we return equals what is read."""
    if isinstance(value, datetime):
        return to_storage_precision(value)
    if isinstance(value, dict):
        return {key: bson_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [bson_ready(item) for item in value]
    return value


def stored_copy(model: M) -> M:
    """The model as it will read back from the database (datetimes at millisecond precision)."""
    return type(model).model_validate(bson_ready(model.model_dump(mode="python")))


def to_document(model: BaseModel, *, id_field: str | None = "id") -> Document:
    """The model as a BSON-ready dict; its `id_field` becomes `_id`."""
    document: Document = bson_ready(model.model_dump(mode="python"))
    if id_field is not None:
        document["_id"] = document.pop(id_field)
    return document


def from_document(model_type: type[M], document: Document, *, id_field: str | None = "id") -> M:
    data = dict(document)
    if id_field is not None:
        data[id_field] = data.pop("_id")
    else:
        data.pop("_id", None)
    return model_type.model_validate(data)


def validated_updates(
    model_type: type[BaseModel], fields: dict[str, object], *, frozen: frozenset[str]
) -> Document:
    """`$set` paths for `fields`, each value validated against the model's field type.

    A key is a top-level field (`language`), or a path into a nested model written with dots or
    double underscores (`settings.echo_transcripts`, `settings__echo_transcripts`). Raises
    ValueError naming the field when a path is unknown or a value has the wrong type.
    """
    updates: Document = {}
    for key, value in fields.items():
        parts = key.replace("__", ".").split(".")
        if parts[0] in frozen:
            raise ValueError(f"{key} cannot be changed")
        current: type[BaseModel] = model_type
        for depth, part in enumerate(parts):
            field = current.model_fields.get(part)
            if field is None:
                raise ValueError(f"unknown field {key!r} for {model_type.__name__}")
            annotation = field.annotation
            if depth < len(parts) - 1:
                if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                    raise ValueError(f"{key!r}: {part} has no fields to update")
                current = annotation
                continue
            adapter: TypeAdapter[Any] = TypeAdapter(annotation)
            try:
                valid = adapter.validate_python(value)
            except ValidationError as exc:
                message = exc.errors()[0]["msg"]
                raise ValueError(f"invalid value for {key!r}: {message}") from exc
            updates[".".join(parts)] = adapter.dump_python(valid, mode="python")
    paths = sorted(updates)
    for shorter, longer in itertools.pairwise(paths):
        if longer.startswith(shorter + "."):
            raise ValueError(f"{shorter!r} and {longer!r} cannot be set together")
    return updates
