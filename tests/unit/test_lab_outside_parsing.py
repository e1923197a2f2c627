"""`lab test`'s outside checks: the words it reads from BIRD's protocol table."""

from __future__ import annotations

import pytest

from netwright.lab.checks.outside import state_word


@pytest.mark.parametrize(
    ("info", "word"),
    [
        ("Established", "Established"),
        ("Active        Socket: Connection refused", "Active"),
        ("Connect", "Connect"),
        # a protocol `down` while BIRD reconfigures shows an empty info column
        ("", "?"),
        ("   ", "?"),
    ],
)
def test_state_word_is_the_first_word_or_a_question_mark(info: str, word: str) -> None:
    assert state_word(info) == word
