"""Which changed files a typecheck covers, which may stay unchecked, and what a run adds up to (pure)."""

from __future__ import annotations

import pytest

from storyfence.core.checks import NO_CHECK, Owner, coverage, is_check_script, outcome, pick_script
from storyfence.core.models import CommandRun, UncheckedFile
from storyfence.core.policy import TypecheckSettings, UncheckedAllowance
from storyfence.core.policy_load import extend_policy
from tests.support.policies import backend_policy

SETTINGS = backend_policy().typecheck
TOOLS = SETTINGS.check_tools


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("typecheck", "tsc --noEmit", True),
        ("check:types", "anything at all", True),  # the name says it is a check
        ("tsc", "tsc --noEmit", True),
        ("types", "vue-tsc --noEmit", True),
        ("types", "turbo run types", True),
        ("types", "tsc --emitDeclarationOnly --outDir dist", False),  # generates declarations
        ("types", "supabase gen types typescript --local > types.ts", False),
        ("types", "prisma generate", False),
        ("tsc", "echo tsc-is-not-here", False),
        ("types", "mypy src && pyright", True),
    ],
)
def test_a_script_counts_as_a_check_by_its_name_or_by_the_checker_it_runs(name: str, text: str, expected: bool) -> None:
    assert is_check_script(name, text, TOOLS) is expected


def test_the_first_script_of_the_policy_list_that_is_a_check_wins() -> None:
    scripts = {"types": "supabase gen types", "type-check": "tsc -p .", "typecheck": "tsc --noEmit"}
    assert pick_script(scripts, SETTINGS) == "typecheck"
    assert pick_script({"types": "supabase gen types", "build": "tsc"}, SETTINGS) is None
    assert pick_script({"build": "tsc", "lint": "eslint ."}, SETTINGS) is None


def test_the_legacy_script_key_is_tried_before_the_list() -> None:
    legacy = SETTINGS.model_copy(update={"script": "lint:ts"})
    assert pick_script({"lint:ts": "tsc --noEmit", "typecheck": "tsc --noEmit"}, legacy) == "lint:ts"


CORE = Owner(dir="packages/core", checked=True)
DJANGO = Owner(dir="apps/api", checked=False)
ROOT = Owner(dir=".", checked=True)


def test_a_code_file_in_a_checked_package_is_covered_and_its_package_checked() -> None:
    found = coverage(
        ["packages/core/src/a.ts", "packages/core/package.json", "packages/core/tsconfig.json"],
        {p: CORE for p in ["packages/core/src/a.ts", "packages/core/package.json", "packages/core/tsconfig.json"]},
        SETTINGS,
    )
    assert found.targets == ("packages/core",)
    assert found.unchecked == ()


def test_a_file_no_check_covers_is_listed_and_blocks_unless_the_policy_allows_it() -> None:
    paths = ["apps/api/orders/views.py", "packages/core/src/a.ts", "packages/db/migrations/1.sql", "scripts/x.ts"]
    owners = {paths[0]: DJANGO, paths[1]: CORE, paths[2]: Owner(dir="packages/db", checked=False), paths[3]: None}
    found = coverage(paths, owners, SETTINGS)
    assert found.targets == ("packages/core",)
    assert found.unchecked == (
        UncheckedFile(path="apps/api/orders/views.py", reason=NO_CHECK, allowed=False),
        UncheckedFile(path="packages/db/migrations/1.sql", reason="not code a typecheck reads", allowed=True),
        UncheckedFile(path="scripts/x.ts", reason=NO_CHECK, allowed=False),
    )
    assert [u.path for u in found.blocking] == ["apps/api/orders/views.py", "scripts/x.ts"]

    django = UncheckedAllowance(paths=("apps/api/**",), reason="Django backend: no TypeScript check applies")
    allowing = SETTINGS.model_copy(update={"unchecked": (*SETTINGS.unchecked, django)})
    found = coverage(paths, owners, allowing)
    assert found.unchecked[0] == UncheckedFile(
        path="apps/api/orders/views.py", reason="Django backend: no TypeScript check applies", allowed=True
    )
    assert [u.path for u in found.blocking] == ["scripts/x.ts"]


def test_a_non_code_file_in_a_checked_package_still_runs_its_check_but_is_listed_as_not_checked() -> None:
    found = coverage(["packages/core/README.md"], {"packages/core/README.md": CORE}, SETTINGS)
    assert found.targets == ("packages/core",)
    assert found.unchecked == (
        UncheckedFile(path="packages/core/README.md", reason="not code a typecheck reads", allowed=True),
    )


def test_the_root_check_runs_for_root_code_only_since_it_often_checks_the_whole_repo() -> None:
    assert coverage(["__http__/a.http"], {"__http__/a.http": ROOT}, SETTINGS).targets == ()
    assert coverage(["api/health.ts"], {"api/health.ts": ROOT}, SETTINGS).targets == (".",)


def run(result: str) -> CommandRun:
    return CommandRun(argv=("tsc",), package="p", exit_code=0, outcome=result, duration_seconds=0.1)  # type: ignore[arg-type]


def test_type_errors_come_first_then_tooling_then_unchecked_files() -> None:
    blocking = UncheckedFile(path="a.py", reason=NO_CHECK, allowed=False)
    allowed = UncheckedFile(path="a.sql", reason="not code", allowed=True)
    assert outcome([run("failed"), run("tooling_error")], [blocking]) == "failed"
    assert outcome([run("timeout"), run("passed")], [blocking]) == "tooling_error"
    assert outcome([run("passed")], [blocking]) == "unchecked"
    assert outcome([], [blocking]) == "unchecked"
    assert outcome([run("passed")], [allowed]) == "passed"
    assert outcome([], [allowed]) == "not_needed"


def test_a_repo_policy_adds_unchecked_entries_and_replaces_a_built_in_one_by_id() -> None:
    base = backend_policy()
    added = extend_policy(
        base, {"typecheck": {"unchecked": [{"paths": ["apps/api/**"], "reason": "Django"}]}}, "repo.toml"
    )
    assert [a.reason for a in added.typecheck.unchecked] == ["not code a typecheck reads", "Django"]
    replaced = extend_policy(
        base, {"typecheck": {"unchecked": [{"id": "not-code", "paths": ["*.sql"], "reason": "SQL only"}]}}, "r.toml"
    )
    assert [(a.id, a.paths) for a in replaced.typecheck.unchecked] == [("not-code", ("*.sql",))]
    assert replaced.typecheck.scripts == base.typecheck.scripts  # the rest of the table is kept


def test_a_custom_command_must_still_name_the_package() -> None:
    assert (
        TypecheckSettings(command=("make", "check", "PKG={package}", "SCRIPT={script}")).command[2] == "PKG={package}"
    )
    with pytest.raises(ValueError, match="placeholder"):
        TypecheckSettings(command=("make", "check"))
    assert TypecheckSettings().command == ()  # detect from the repo
