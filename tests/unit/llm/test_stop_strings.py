from __future__ import annotations

import pytest

from companion.llm.stop_strings import StopStringFilter


def run(stops: list[str], chunks: list[str]) -> tuple[str, bool]:
    f = StopStringFilter(stops)
    out = "".join(f.feed(chunk) for chunk in chunks)
    return out + f.flush(), f.stopped


def test_without_stops_text_passes_through_unchanged() -> None:
    assert run([], ["Hello ", "world"]) == ("Hello world", False)


def test_cuts_before_a_stop_string_inside_one_chunk() -> None:
    assert run(["\nUser:"], ["Hi there\nUser: more"]) == ("Hi there", True)


def test_stop_string_split_over_chunks_is_not_leaked() -> None:
    f = StopStringFilter(["<|end|>"])
    emitted = [f.feed(chunk) for chunk in ["Sure ", "thing<", "|en", "d|> tail"]]
    # The '<' that might start the stop string is held back, never emitted.
    assert emitted == ["Sure ", "thing", "", ""]
    assert f.stopped
    assert f.flush() == ""


def test_held_back_prefix_is_released_when_it_turns_out_not_to_be_a_stop() -> None:
    f = StopStringFilter(["<|end|>"])
    assert f.feed("a <|e") == "a "
    assert f.feed("xtra") == "<|extra"
    assert f.flush() == ""
    assert not f.stopped


def test_flush_returns_a_partial_prefix_at_end_of_stream() -> None:
    assert run(["STOP"], ["value ST"]) == ("value ST", False)


@pytest.mark.parametrize(
    ("stops", "text", "expected"),
    [
        (["b", "a"], "xxaxb", "xx"),  # earliest position wins, not list order
        (["", "z"], "abc", "abc"),  # empty stop strings are ignored
    ],
)
def test_earliest_stop_and_empty_stops(stops: list[str], text: str, expected: str) -> None:
    chunks = list(text)
    assert run(stops, chunks)[0] == expected


def test_nothing_is_emitted_after_stopping() -> None:
    f = StopStringFilter(["."])
    assert f.feed("One. Two") == "One"
    assert f.feed(" three") == ""
