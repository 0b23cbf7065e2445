"""`storyfence layout`: the real CLI prints the learned roles as a tree, each line with the rule that the
active policy applies there, in colour only where asked, and as JSON for tools."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from storyfence.commands.layout import use_color
from tests.support.monorepos import SHAPES, build
from tests.support.paths import REPO
from tests.support.server import run_cli

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def layout(root: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = run_cli("layout", "--root", str(root), *args, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def line(out: str, label: str) -> str:
    """The tree line whose node is `label` (a package's folder under its group, or a part's label)."""
    found = [ln for ln in out.splitlines() if re.search(r"[├└]── " + re.escape(label) + r"(\s|$)", ln)]
    assert len(found) == 1, f"{label!r} in:\n{out}"
    return found[0]


def package(doc: dict[str, Any], folder: str) -> dict[str, Any]:
    return next(p for p in doc["packages"] if p["dir"] == folder)


def test_the_example_monorepo_shows_its_backend_writable_and_its_frontend_refused(example_repo: Path) -> None:
    out = layout(example_repo)
    assert "learned layout (no .storyfence.toml)" in out.splitlines()[1]
    assert re.search(r"shared\s+✓ backend-package\s+4/4 writable", line(out, "backend"))
    assert re.search(r"✓ core-package\s", line(out, "core"))
    assert re.search(r"frontend\s+✗ no-react-components", line(out, "web"))
    assert re.search(r"frontend\s+✗ no-frontend-packages\s", line(out, "ui"))
    # apps/api is allowed by `api-endpoints` only under api/: the rest of it shows as refused
    assert "✓ api-endpoints  2/4 writable" in line(out, "api")
    assert "✗ default-deny  0/2 writable" in line(out, "src/")
    assert out.splitlines()[4] == "apps/"
    assert "packages/" in out.splitlines()
    assert "6 packages: 2 frontend · 4 shared · 10 of 16 JS/TS modules writable" in out


def test_the_readme_shows_the_real_output_on_the_example_monorepo(example_repo: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ storyfence layout --root examples\n", 1)[1].split("```", 1)[0]
    examples = example_repo.rename(example_repo.parent / "examples")
    assert layout(Path("examples"), cwd=examples.parent) == shown


def test_a_committed_policy_file_decides_the_map_not_learning(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    assert "✓ learned-packages-api" in line(layout(root), "api")
    (root / ".storyfence.toml").write_text("# the team's own file\n", encoding="utf-8")
    out = layout(root)
    assert ".storyfence.toml" in out.splitlines()[1]
    assert "a policy file decides" in out
    assert re.search(r"backend\s+✗ default-deny", line(out, "api"))  # learned backend, refused by the file


def test_a_t3_repo_shows_trpc_and_auth_packages_as_backend_and_the_ui_refused(tmp_path: Path) -> None:
    out = layout(build(SHAPES["t3-trpc-drizzle"], tmp_path))
    assert re.search(r"@acme/api\s+backend\s+✓ learned-packages-api\s+2/2 writable", line(out, "api"))
    assert re.search(r"backend\s+✓ learned-packages-auth", line(out, "auth"))
    assert re.search(r"backend\s+✓ database", line(out, "db"))  # the built-in rule comes first
    assert re.search(r"frontend\s+✗ no-frontend-packages\s", line(out, "ui"))
    assert re.search(r"app \(mixed, next\)\s+✗ .*2/5 writable", line(out, "nextjs"))
    assert "tooling/" in out.splitlines()
    assert re.search(r"frontend\s+✗ default-deny", line(out, "tailwind"))


def test_a_next_app_shows_its_server_folders_and_route_conventions_as_children(tmp_path: Path) -> None:
    out = layout(build(SHAPES["next-app-with-lib-backend"], tmp_path))
    assert re.search(r"app \(mixed, next\)\s+✗ no-frontend-packages\s+8/14 writable", line(out, "web"))
    assert re.search(r"server folder\s+✓ learned-apps-web-lib-api\s+3/3 writable", line(out, "lib/api/"))
    assert "✓ learned-apps-web-lib-actions" in line(out, "lib/actions/")
    assert "✓ learned-apps-web-lib-auth" in line(out, "lib/auth/")
    assert re.search(r"route convention\s+✓ learned-apps-web-routes-1\s+2/2", line(out, "app/**/route.* (+1)"))
    assert "lib/swr/" not in out  # a client folder is no server part
    assert "**/page.*" not in out  # a convention's own exclusions are no carved-out client modules
    assert re.search(r"backend\s+✓ learned-packages-prisma", line(out, "prisma"))
    assert "─ lib/api/ " in out
    assert "\n    │     2 of 3 modules are server code" in out


def test_colour_only_on_request_or_on_a_terminal_without_no_color(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    piped = layout(root)
    assert not ANSI.search(piped)
    assert not ANSI.search(layout(root, "--color", "never"))
    coloured = layout(root, "--color", "always", env={"NO_COLOR": "1"})  # the flag overrides the variable
    assert "\x1b[32m✓ learned-packages-api\x1b[0m" in coloured
    assert "\x1b[31mfrontend" in coloured
    assert ANSI.sub("", coloured) == piped
    assert not use_color("auto", True, {"NO_COLOR": "1"})
    assert use_color("auto", True, {"NO_COLOR": ""})
    assert not use_color("auto", False, {})
    assert use_color("always", False, {"NO_COLOR": "1"})


def test_json_lists_every_package_with_its_rule_parts_and_carve_outs(tmp_path: Path) -> None:
    root = build(SHAPES["next-app-with-lib-backend"], tmp_path)
    doc = json.loads(layout(root, "--json"))
    assert doc["learned"] is True
    assert doc["counts"] == {"app": 1, "backend": 2}
    web = package(doc, "apps/web")
    assert (web["name"], web["role"], web["allowed"], web["rule"]) == ("web", "app", False, "no-frontend-packages")
    assert web["sample_exists"]
    assert web["sample"].startswith("apps/web/")
    parts = {p["dir"]: p for p in web["parts"]}
    api = parts["apps/web/lib/api"]
    assert (api["kind"], api["rule"], api["allowed"], api["modules"]) == ("folder", "learned-apps-web-lib-api", True, 3)
    assert api["sample"].startswith("apps/web/lib/api/")
    prisma = package(doc, "packages/prisma")
    assert (prisma["role"], prisma["rule"], prisma["allowed"]) == ("backend", "learned-packages-prisma", True)
    assert doc["writable"] == sum(p["writable"] for p in doc["packages"]) == 11


def test_a_client_module_inside_a_backend_package_is_a_refused_child_line(tmp_path: Path) -> None:
    root = build(SHAPES["t3-trpc-drizzle"], tmp_path)
    (root / "packages/api/src/client.tsx").write_text(
        '"use client";\nimport { useState } from "react";\nexport const C = () => <div />;\n', encoding="utf-8"
    )
    out = layout(root)
    assert re.search(r"src/client.tsx\s+client, carved\s+✗ ", line(out, "src/client.tsx"))
    doc = json.loads(layout(root, "--json"))
    carved = package(doc, "packages/api")["carve_out"]
    assert [(c["dir"], c["allowed"]) for c in carved] == [("packages/api/src/client.tsx", False)]


def test_a_large_app_caps_its_folder_lines(tmp_path: Path) -> None:
    root = build(SHAPES["next-app-with-lib-backend"], tmp_path)
    for n in range(15):
        (root / f"apps/web/svc{n:02}").mkdir()
        (root / f"apps/web/svc{n:02}/index.ts").write_text('import "server-only";\n', encoding="utf-8")
    out = layout(root)
    assert "└── … and 6 more folders (--all shows them)" in out
    assert len(re.findall(r"server folder", out)) == 12
    assert len(re.findall(r"server folder", layout(root, "--all"))) == 18
