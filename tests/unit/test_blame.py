"""A new failure from an old one (pure): an error in a package the chunk did not change counts only if that
package's check at the story's base commit did not print it, and no check since printed it fewer times."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from storyfence.core import blame, steps
from storyfence.core.blame import Memory, Scope
from storyfence.core.diagnostics import MAX_DIAGNOSTICS
from storyfence.core.events import BaselineChecked
from storyfence.core.models import CommandRun, Diagnostic, PackageBaseline
from storyfence.core.workflow import StoryState

CORE, BACKEND, API = "packages/core", "packages/backend", "apps/api"
NAMES = {"@x/core": CORE, "@x/backend": BACKEND, "@x/api": API}
SCOPE = Scope(changed=frozenset({CORE}), dirs=frozenset(NAMES.values()), names=NAMES)
COMMIT = "0123456789abcdef0123456789abcdef01234567"

OLD = Diagnostic(file=f"{BACKEND}/src/config.ts", line=6, column=14, code="TS2322", message="Type 'string' is bad.")
NEW = Diagnostic(file=f"{BACKEND}/src/seed.ts", line=7, column=5, code="TS2353", message="'customerId' is unknown.")
IN_CORE = Diagnostic(file=f"{CORE}/src/order.ts", line=3, column=1, code="TS2304", message="Cannot find name 'x'.")


def run(
    *diagnostics: Diagnostic, packages: Sequence[str] = (CORE, BACKEND, API), failed: Sequence[str] = ()
) -> CommandRun:
    errors = bool(diagnostics)
    summary = f"\n Tasks:    1 successful, 3 total\nFailed:    {', '.join(failed)}\n" if failed else ""
    return CommandRun(
        argv=("pnpm", "exec", "turbo", "run", "check-types", "--filter", "...@x/core", "--continue"),
        package="@x/core",
        exit_code=2 if errors else 0,
        outcome="failed" if errors else "passed",
        duration_seconds=1.0,
        diagnostics=diagnostics,
        output_tail=f"@x/backend:check-types: ...{summary}",
        note=f"{len(diagnostics)} type error(s)" if errors else "",
        packages=tuple(packages),
    )


def baseline(
    directory: str, *errors: Diagnostic, failed: bool | None = None, available: bool = True
) -> PackageBaseline:
    name = next(n for n, d in NAMES.items() if d == directory)
    return PackageBaseline(
        package=name,
        dir=directory,
        commit=COMMIT,
        available=available,
        failed=bool(errors) if failed is None else failed,
        errors=errors,
        reason="" if available else "pnpm install --offline failed",
    )


def memory(*baselines: PackageBaseline, history: Sequence[CommandRun] = ()) -> Memory:
    return Memory(base_commit=COMMIT, baselines={b.dir: b for b in baselines}, history=tuple(history))


def test_a_file_belongs_to_the_nearest_package_above_it_never_to_the_root() -> None:
    dirs = {"packages/core", "packages/core/sub"}
    assert blame.owner("packages/core/sub/src/a.ts", dirs) == "packages/core/sub"
    assert blame.owner("packages/core/src/a.ts", dirs) == "packages/core"
    assert blame.owner("scripts/a.ts", dirs) is None
    assert blame.owner("", dirs) is None
    assert blame.owner("/abs/packages/core/a.ts", dirs) is None


def test_turbo_names_the_failed_checks_and_a_one_package_command_is_its_package() -> None:
    assert blame.failed_packages(run(OLD, failed=["@x/backend#check-types"]), NAMES) == {BACKEND}
    both = run(OLD, failed=["@x/api#check-types", "@x/backend#check-types"])
    assert blame.failed_packages(both, NAMES) == {API, BACKEND}
    assert blame.failed_packages(run(OLD, packages=[BACKEND]), NAMES) == {BACKEND}
    assert blame.failed_packages(run(OLD), NAMES) is None  # three packages and no summary: it does not say
    assert blame.failed_packages(run(OLD, failed=["@y/other#check-types"]), NAMES) is None
    assert blame.failed_packages(run(), NAMES) == set()


def test_baselines_are_wanted_for_unchanged_packages_a_failure_implicates_once() -> None:
    failed = run(OLD, failed=["@x/backend#check-types", "@x/api#check-types"])
    assert blame.wanting([failed], SCOPE, memory()) == (API, BACKEND)
    assert blame.wanting([failed], SCOPE, memory(baseline(BACKEND, OLD))) == (API,)
    assert blame.wanting([run()], SCOPE, memory()) == ()


def test_no_baseline_is_wanted_when_the_call_fails_anyway() -> None:
    in_core = run(OLD, IN_CORE, failed=["@x/core#check-types", "@x/backend#check-types"])
    assert blame.wanting([in_core], SCOPE, memory()) == ()
    unowned = Diagnostic(file="", line=0, column=0, code="TS5023", message="Unknown compiler option.")
    assert blame.wanting([run(OLD, failed=["@x/backend#check-types"]), run(unowned)], SCOPE, memory()) == ()


def test_an_error_the_base_commit_printed_too_is_old_and_the_run_passes() -> None:
    moved = OLD.model_copy(update={"line": 40, "column": 2})  # line numbers move; file, code, message stay
    judged = blame.judge(run(moved, failed=["@x/backend#check-types"]), SCOPE, memory(baseline(BACKEND, OLD)))
    assert judged.outcome == "passed"
    assert judged.exit_code == 2
    assert judged.diagnostics == ()
    assert judged.preexisting == (moved,)
    assert "already there before the story: 1 in @x/backend" in judged.note
    assert COMMIT[:12] in judged.note


def test_a_new_error_in_a_dependent_fails_the_run_and_the_old_one_is_reported_apart() -> None:
    judged = blame.judge(run(OLD, NEW, failed=["@x/backend#check-types"]), SCOPE, memory(baseline(BACKEND, OLD)))
    assert judged.outcome == "failed"
    assert judged.diagnostics == (NEW,)
    assert judged.preexisting == (OLD,)
    assert judged.note == "1 new type error(s); 1 in @x/backend already there before the story (not blamed)"


def test_a_dependent_that_was_passing_before_the_story_is_blamed_for_every_error() -> None:
    failing = run(NEW, failed=["@x/backend#check-types"])
    assert blame.judge(failing, SCOPE, memory(baseline(BACKEND))) == failing


def test_an_error_in_a_changed_package_always_counts_even_if_it_is_old() -> None:
    failing = run(IN_CORE, failed=["@x/core#check-types"])
    core_then = PackageBaseline(
        package="@x/core", dir=CORE, commit=COMMIT, available=True, failed=True, errors=(IN_CORE,)
    )
    assert blame.judge(failing, SCOPE, memory(core_then)) == failing


def test_one_more_copy_of_an_old_error_than_the_base_commit_had_makes_every_copy_count() -> None:
    again = OLD.model_copy(update={"line": 9})
    failing = run(OLD, again, failed=["@x/backend#check-types"])
    assert blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD))).outcome == "failed"
    judged = blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD, again)))
    assert (judged.outcome, judged.preexisting) == ("passed", (OLD, again))


def test_an_old_error_the_story_fixed_and_brought_back_is_the_storys() -> None:
    failing = run(OLD, failed=["@x/backend#check-types"])
    clean_since = run(packages=(BACKEND,))  # a check of backend during the story printed no error
    assert blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD), history=[clean_since])).outcome == "failed"
    elsewhere = run(packages=(API,))  # a clean check of another package says nothing about backend
    assert blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD), history=[elsewhere])).outcome == "passed"
    still = run(OLD, packages=(BACKEND,))
    assert blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD), history=[still])).outcome == "passed"


def test_without_a_baseline_nothing_is_excused_and_the_note_says_why() -> None:
    failing = run(OLD, failed=["@x/backend#check-types"])
    judged = blame.judge(failing, SCOPE, memory(baseline(BACKEND, available=False)))
    assert (judged.outcome, judged.diagnostics) == ("failed", (OLD,))
    assert "no baseline for @x/backend (pnpm install --offline failed): its errors count" in judged.note
    assert blame.judge(failing, SCOPE, memory()).outcome == "failed"


def test_old_errors_never_hide_a_check_that_was_passing_before_the_story() -> None:
    # api's check fails now and was passing then: an old backend error does not explain it
    failing = run(OLD, failed=["@x/backend#check-types", "@x/api#check-types"])
    judged = blame.judge(failing, SCOPE, memory(baseline(BACKEND, OLD), baseline(API)))
    assert (judged.outcome, judged.diagnostics) == ("failed", (OLD,))
    assert "the failed check of @x/api was not failing then" in judged.note
    # api failed then too (it compiles backend's files): the same failure, old
    then = memory(baseline(BACKEND, OLD), baseline(API, failed=True))
    assert blame.judge(failing, SCOPE, then).outcome == "passed"
    # a run that does not say which check failed excuses nothing
    assert blame.judge(run(OLD), SCOPE, then).outcome == "failed"


def test_a_capped_output_excuses_nothing() -> None:
    many = [OLD.model_copy(update={"line": n}) for n in range(MAX_DIAGNOSTICS)]
    failing = run(*many, failed=["@x/backend#check-types"])
    judged = blame.judge(failing, SCOPE, memory(baseline(BACKEND, *many)))
    assert (judged.outcome, judged.preexisting) == ("failed", ())
    assert "none is excused" in judged.note


@pytest.mark.parametrize("outcome", ["passed", "tooling_error", "timeout"])
def test_only_failed_runs_are_judged(outcome: str) -> None:
    other = run().model_copy(update={"outcome": outcome})
    assert blame.judge(other, SCOPE, memory(baseline(BACKEND, OLD))) is other


def test_the_journal_gives_the_base_commit_the_first_baseline_of_each_package_and_every_run() -> None:
    state = steps.begin_chunk(StoryState(), name="n", objective="o", base_commit=COMMIT, baseline=()).state
    first = blame.record_baselines(state, commit=COMMIT, baselines=[baseline(BACKEND, OLD)])
    second = blame.record_baselines(first.state, commit=COMMIT, baselines=[baseline(BACKEND), baseline(API)])
    events = [*first.events, *second.events]
    remembered = blame.remember(
        [*steps.begin_chunk(StoryState(), name="n", objective="o", base_commit=COMMIT, baseline=()).events, *events]
    )
    assert remembered.base_commit == COMMIT
    assert remembered.baselines[BACKEND].errors == (OLD,)
    assert set(remembered.baselines) == {BACKEND, API}


def test_recording_baselines_moves_nothing_and_logs_what_the_base_commit_printed() -> None:
    state = steps.begin_chunk(StoryState(), name="n", objective="o", base_commit=COMMIT, baseline=()).state
    install = run(packages=()).model_copy(update={"argv": ("pnpm", "install", "--offline")})
    taken = baseline(BACKEND, OLD).model_copy(update={"run": run(OLD, packages=(BACKEND,))})
    step = blame.record_baselines(
        state, commit=COMMIT, baselines=[taken, baseline(API, available=False)], setup=[install]
    )
    [event] = step.events
    assert isinstance(event, BaselineChecked)
    assert (step.state.chunks, step.state.status) == (state.chunks, "open")
    text = event.log_append
    assert text.startswith("### Chunk 1 — before the story: packages it did not change, at the base commit\n")
    assert f"- Base commit: `{COMMIT[:12]}`" in text
    assert "- Setup: `pnpm install --offline` → passed (exit 0" in text
    assert "- `@x/backend` failing then: `pnpm exec turbo" in text
    assert "  - `packages/backend/src/config.ts:6:14` TS2322: Type 'string' is bad." in text
    assert "- `@x/api`: no baseline, so its errors count: pnpm install --offline failed" in text
