from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.conftest import make_config, write_jsonl
from training.config import SourceConfig, SourceKind
from training.data.build import DatasetBuilder
from training.data.licenses import SourceRefusedError, check_sources, is_noncommercial


def src(name: str = "s", **kw: object) -> SourceConfig:
    values: dict[str, object] = {"kind": SourceKind.SHAREGPT, "path": Path("/data/x.jsonl")}
    values.update(kw)
    return SourceConfig(name=name, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("license_id", [None, "", "unknown", "  TBD "])
def test_sources_without_a_license_are_refused(license_id: str | None) -> None:
    with pytest.raises(SourceRefusedError, match="no license declared"):
        check_sources([src(license=license_id)])


@pytest.mark.parametrize(
    "license_id",
    [
        "CC-BY-NC-4.0",
        "cc-by-nc-sa-4.0",
        "CC BY-NC-ND 3.0",
        "Non-commercial research",
        "research-only",
    ],
)
def test_noncommercial_licenses_are_refused_unless_allowed(license_id: str) -> None:
    assert is_noncommercial(license_id)
    with pytest.raises(SourceRefusedError, match="non-commercial"):
        check_sources([src(license=license_id)])
    check_sources([src(license=license_id, allow_noncommercial=True)])


@pytest.mark.parametrize(
    "license_id", ["Apache-2.0", "CC-BY-4.0", "CC-BY-SA-4.0", "MIT", "CC0-1.0"]
)
def test_commercial_friendly_licenses_pass(license_id: str) -> None:
    assert not is_noncommercial(license_id)
    check_sources([src(license=license_id)])


def test_user_conversations_are_always_refused() -> None:
    with pytest.raises(SourceRefusedError, match="user conversations are never used"):
        check_sources(
            [src(kind=SourceKind.USER_CONVERSATIONS, license="CC0-1.0", allow_noncommercial=True)]
        )


def test_every_refused_source_is_listed() -> None:
    with pytest.raises(SourceRefusedError) as error:
        check_sources([src("a"), src("b", license="MIT"), src("c", license="CC-BY-NC-4.0")])
    message = str(error.value)
    assert "'a'" in message and "'c'" in message and "'b'" not in message


def _builder(tmp_path: Path, sources: list[dict[str, object]]) -> DatasetBuilder:
    config = make_config(tmp_path / "model", tmp_path / "out", **{"data.sources": sources})
    return DatasetBuilder(config, count_tokens=lambda e: 10)


def test_build_refuses_before_reading_anything(tmp_path: Path) -> None:
    # The refused source does not even exist: the gate answers first, not the file loader.
    builder = _builder(
        tmp_path,
        [
            {
                "name": "nc",
                "kind": "sharegpt",
                "path": str(tmp_path / "missing.jsonl"),
                "license": "CC-BY-NC-4.0",
            },
        ],
    )
    with pytest.raises(SourceRefusedError, match="non-commercial"):
        builder.build()
    assert not (tmp_path / "out").exists()


def test_a_file_that_looks_like_our_users_chats_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "export.jsonl",
        [
            {
                "user_id": 123,
                "conversation_id": "c1",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ],
            },
        ],
    )
    builder = _builder(
        tmp_path,
        [
            {"name": "dump", "kind": "openai_messages", "path": str(path), "license": "CC0-1.0"},
        ],
    )
    with pytest.raises(SourceRefusedError, match="looks like user conversations"):
        builder.build()
