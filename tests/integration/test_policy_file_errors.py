"""A policy file's mistakes are named by file and key when the server loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyfence.adapters.policy_file import load_policy
from storyfence.core.errors import PolicyError


@pytest.mark.parametrize("extends", ['"frontend"', "3"])
def test_an_unknown_extends_names_the_file_the_key_and_the_choices(tmp_path: Path, extends: str) -> None:
    policy = tmp_path / ".storyfence.toml"
    policy.write_text(f"extends = {extends}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path, learn=False)
    message = str(caught.value)
    assert str(policy) in message
    assert "key `extends`" in message
    assert '"backend"' in message
    assert '"none"' in message


def test_a_malformed_glob_in_a_policy_file_is_refused_with_its_file(tmp_path: Path) -> None:
    policy = tmp_path / ".storyfence.toml"
    policy.write_text(
        '[[rules]]\nid = "mine"\nkind = "allow"\npatterns = ["a/***/["]\nreason = "r"\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path, learn=False)
    assert str(policy) in str(caught.value)
    assert "not a valid glob" in str(caught.value)
