"""Layout learning on fixture monorepos of every shape seen in real repos: with no `.storyfence.toml`,
`storyfence check` allows their backend code and still refuses their frontend, env and compose files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.monorepos import SHAPES, build
from tests.support.server import run_cli


def check(root: Path, *paths: str) -> dict[str, dict[str, object]]:
    proc = run_cli("check", "--root", str(root), "--json", *paths)
    assert proc.returncode in (0, 1), proc.stderr
    return {d["path"]: d for d in json.loads(proc.stdout)}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_storyfence_check_allows_the_backend_and_refuses_the_frontend_of_a_learned_repo(
    shape: str, tmp_path: Path
) -> None:
    spec = SHAPES[shape]
    root = build(spec, tmp_path)
    decisions = check(root, *spec.allowed, *spec.refused, *spec.extra_refused)
    wrongly_refused = {p: decisions[p]["message"] for p in spec.allowed if not decisions[p]["allowed"]}
    wrongly_allowed = {
        p: decisions[p]["message"] for p in (*spec.refused, *spec.extra_refused) if decisions[p]["allowed"]
    }
    assert wrongly_refused == {}
    assert wrongly_allowed == {}
    learned = [d for d in decisions.values() if d["allowed"] and "learned layout" in str(d["policy_file"])]
    assert learned, "the decisions name the learned layout as their source"


def test_without_learning_the_built_in_policy_refuses_most_of_that_backend(tmp_path: Path) -> None:
    # the baseline the issue measured: the fixture is not trivially allowed by the built-in rules
    spec = SHAPES["next-app-with-lib-backend"]
    root = build(spec, tmp_path)
    (root / ".storyfence.toml").write_text("# the team's own file: no learning\n", encoding="utf-8")
    decisions = check(root, *spec.allowed)
    assert sum(bool(d["allowed"]) for d in decisions.values()) <= 2


def test_a_committed_policy_file_wins_over_learning(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    assert check(root, "packages/api/src/router/post.ts")["packages/api/src/router/post.ts"]["allowed"]
    (root / ".storyfence.toml").write_text("", encoding="utf-8")
    assert not check(root, "packages/api/src/router/post.ts")["packages/api/src/router/post.ts"]["allowed"]


def test_a_route_handler_inside_a_frontend_app_names_the_exceptions_it_takes(tmp_path: Path) -> None:
    root = build(SHAPES["next-app-with-lib-backend"], tmp_path)
    decision = check(root, "apps/web/pages/api/legacy.ts")["apps/web/pages/api/legacy.ts"]
    assert decision["allowed"]
    assert "no-ui-folders" in decision["exceptions"]  # pyright: ignore[reportOperatorIssue]
    assert "an exception to" in str(decision["message"])


def test_a_page_or_layout_under_app_api_stays_refused(tmp_path: Path) -> None:
    # the convention for modules beside route handlers excludes pages and layouts: they render UI
    root = build(SHAPES["next-app-with-lib-backend"], tmp_path)
    paths = ("apps/web/app/api/docs/page.tsx", "apps/web/app/api/docs/layout.tsx", "apps/web/src/app/api/x/page.ts")
    decisions = check(root, *paths, "apps/web/app/api/docs/schema.ts")
    assert {p: decisions[p]["allowed"] for p in paths} == dict.fromkeys(paths, False)
    assert decisions["apps/web/app/api/docs/schema.ts"]["allowed"]


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--root", str(root))


def test_init_writes_the_learned_layout_with_its_evidence_and_examples_that_hold(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    done = cli(root, "init")
    assert done.returncode == 0, done.stderr
    text = (root / ".storyfence.toml").read_text(encoding="utf-8")
    assert 'id = "learned-packages-api"' in text
    assert "# evidence: depends on `@trpc/server`" in text
    assert '"packages/api/package.json"' in text  # an allowed example
    assert '"packages/ui/package.json"' in text  # a refused example
    assert cli(root, "check", "--examples").returncode == 0
    # the committed file now decides, and says so
    decision = check(root, "packages/api/src/router/post.ts")["packages/api/src/router/post.ts"]
    assert decision["allowed"]
    assert ".storyfence.toml" in str(decision["policy_file"])


def test_an_edit_that_breaks_a_learned_example_stops_the_policy_from_loading(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    assert cli(root, "init").returncode == 0
    policy = root / ".storyfence.toml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace('patterns = ["packages/api/**"', 'patterns = ["packages/api/src/**"'), "utf-8")
    examples = cli(root, "check", "--examples")
    assert examples.returncode == 1
    assert "FAIL `packages/api/package.json` should be allowed" in examples.stdout
    refused_at_load = cli(root, "check", "packages/api/src/x.ts")
    assert refused_at_load.returncode == 2
    assert "its examples do not hold" in refused_at_load.stderr


def test_init_refresh_relearns_the_block_keeps_the_teams_own_rules_and_shows_the_diff(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    assert cli(root, "init").returncode == 0
    policy = root / ".storyfence.toml"
    own = '\n[[rules]]\nid = "our-scripts"\nkind = "allow"\npatterns = ["scripts/**"]\nreason = "ours"\n'
    policy.write_text(policy.read_text(encoding="utf-8") + own, encoding="utf-8")
    unchanged = cli(root, "init", "--refresh")
    assert "the learned layout is unchanged" in unchanged.stdout
    jobs = root / "packages/jobs"
    jobs.mkdir()
    (jobs / "package.json").write_text('{"name": "@acme/jobs", "dependencies": {"bullmq": "5"}}', encoding="utf-8")
    changed = cli(root, "init", "--refresh")
    assert changed.returncode == 0, changed.stderr
    assert '+id = "learned-packages-jobs"' in changed.stdout
    text = policy.read_text(encoding="utf-8")
    assert 'id = "our-scripts"' in text
    assert text.count("learned by `storyfence init`") == 1
    assert check(root, "packages/jobs/src/worker.ts")["packages/jobs/src/worker.ts"]["allowed"]


def test_next_instrumentation_is_server_but_its_client_half_is_not(tmp_path: Path) -> None:
    root = build(SHAPES["next-app-with-lib-backend"], tmp_path)
    decisions = check(root, "apps/web/instrumentation.ts", "apps/web/instrumentation-client.ts", "apps/web/proxy.ts")
    assert decisions["apps/web/instrumentation.ts"]["allowed"]
    assert decisions["apps/web/proxy.ts"]["allowed"]
    assert not decisions["apps/web/instrumentation-client.ts"]["allowed"]


def test_folders_that_slug_alike_still_load_as_one_policy(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "r", "workspaces": ["apps/*", "apps/web/*"]}', encoding="utf-8")
    for folder in ("apps/web-app", "apps/web/app"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "package.json").write_text(
            f'{{"name": "{folder}", "dependencies": {{"hono": "4"}}}}', encoding="utf-8"
        )
    decisions = check(tmp_path, "apps/web-app/src/a.ts", "apps/web/app/src/b.ts")
    assert [d["allowed"] for d in decisions.values()] == [True, True]
    assert {d["rule"] for d in decisions.values()} == {"learned-apps-web-app", "learned-apps-web-app-2"}
