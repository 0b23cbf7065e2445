"""The learned block of `.storyfence.toml`: what `storyfence init` writes from the repo's layout (each
rule with its evidence, and examples that hold today), and what `init --refresh` changes in it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from storyfence.adapters.layout_facts import read_facts
from storyfence.adapters.policy_file import load_builtin, package_facts
from storyfence.core.layout import learn
from storyfence.core.learned import BEGIN, END, LearnedPolicy, learned_policy, render_toml, replace_block
from storyfence.core.policy import PolicyExamples
from storyfence.core.policy_load import check_examples, extend_policy


@dataclass(frozen=True)
class LearnedBlock:
    text: str
    rules: int
    dropped_examples: tuple[str, ...]  # candidates the learned policy does not decide as learned (reported)


def learned_block(root: Path) -> LearnedBlock:
    """Learn the layout of `root` and render it; keep only the example paths the result decides as learned,
    so that the examples guard what learning got right against later edits of the file."""
    facts = read_facts(root)
    layout = learn(facts)
    learned = learned_policy(layout, [f.path for f in facts.files])
    policy = extend_policy(load_builtin(), learned.overlay(), "learned layout")
    packages = package_facts(root)
    kept_allowed: list[str] = []
    kept_refused: list[str] = []
    dropped: list[str] = []
    for path in learned.examples_allowed:
        probe = policy.model_copy(update={"examples": PolicyExamples(allowed=(path,))})
        (dropped if check_examples(probe, packages) else kept_allowed).append(path)
    for path in learned.examples_refused:
        probe = policy.model_copy(update={"examples": PolicyExamples(refused=(path,))})
        (dropped if check_examples(probe, packages) else kept_refused).append(path)
    final = LearnedPolicy(learned.rules, learned.unchecked, tuple(kept_allowed), tuple(kept_refused))
    return LearnedBlock(render_toml(final, layout), len(learned.rules), tuple(dropped))


def block_of(text: str) -> str:
    """The learned block inside a `.storyfence.toml` text ("" when it has none)."""
    start, end = text.find(BEGIN), text.find(END)
    if start == -1 or end == -1 or end < start:
        return ""
    return text[start : end + len(END)] + "\n"


def refreshed(text: str, block: str) -> tuple[str, str]:
    """(the new file text, a unified diff of the learned block) for `init --refresh`."""
    old = block_of(text)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            block.splitlines(keepends=True),
            fromfile=".storyfence.toml (learned, before)",
            tofile=".storyfence.toml (learned, now)",
        )
    )
    return replace_block(text, block), diff
