from __future__ import annotations

from datetime import UTC, datetime

import pytest

from companion.domain.models import User, UserSettings
from companion.storage.database import mask_uri
from companion.storage.documents import validated_updates

FROZEN = frozenset({"id", "_id"})


def test_updates_accept_top_level_nested_and_dotted_fields() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    updates = validated_updates(
        User,
        {
            "language": "en",
            "consent_at": when,
            "settings__echo_transcripts": True,
            "settings.echo_transcripts": "yes",
        },
        frozen=FROZEN,
    )
    assert updates == {
        "language": "en",
        "consent_at": when,
        "settings.echo_transcripts": True,
    }


def test_a_nested_model_is_stored_as_a_document() -> None:
    updates = validated_updates(User, {"settings": {"echo_transcripts": True}}, frozen=FROZEN)
    # The whole sub-document is written, defaults included, so a later field read finds it.
    assert updates == {"settings": {**UserSettings().model_dump(), "echo_transcripts": True}}
    assert updates["settings"]["timezone"] is None and updates["settings"]["news"] is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nickname": "x"}, "unknown field 'nickname'"),
        ({"settings.colour": "red"}, "unknown field 'settings.colour'"),
        ({"language.code": "en"}, "has no fields"),
        ({"consent_at": "not a date"}, "invalid value for 'consent_at'"),
        ({"id": 5}, "id cannot be changed"),
        (
            {"settings": {"echo_transcripts": True}, "settings__echo_transcripts": False},
            "cannot be set together",
        ),
    ],
)
def test_bad_updates_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validated_updates(User, fields, frozen=FROZEN)


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("mongodb://bob:s3cret@db:27017/app", "mongodb://bob:***@db:27017/app"),
        (
            "mongodb+srv://bob:p%40ss@cluster.example.net/?retryWrites=true",
            "mongodb+srv://bob:***@cluster.example.net/?retryWrites=true",
        ),
        ("mongodb://h1,h2/?replicaSet=rs", "mongodb://h1,h2/?replicaSet=rs"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("mongodb://bob:p@ss/w@db:27017/?tls=true", "mongodb://bob:***@db:27017/?tls=true"),
        ("not a uri", "not a uri"),
    ],
)
def test_mask_uri_hides_passwords(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
