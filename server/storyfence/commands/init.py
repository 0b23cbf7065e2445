"""`storyfence init`: a starter `.storyfence.toml` and the MCP client config a user asks for, written
atomically and never over an existing file without `--force` (client configs are merged: client_configs.py).

By default every config names `storyfence` by its PATH name: those files are the same on every machine and
safe to commit. With `--absolute` they name the absolute path of the storyfence that runs `init` (what works
when storyfence lives in a venv that the client's PATH lacks): per-machine files, so the hook then goes to
`.claude/settings.local.json`, Claude Code's per-machine settings file, and `.mcp.json` must not be committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, cast

from storyfence.adapters.policy_file import REPO_POLICY, packaged_policy_dir
from storyfence.commands.client_configs import (
    CLAUDE_LOCAL_SETTINGS,
    CLAUDE_SETTINGS,
    CLIENTS,
    claude_desktop_snippet,
    hook_command,
    install_hook,
    merge_server,
    with_command,
    write_atomic,
)
from storyfence.commands.init_layout import learned_block, refreshed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # pyright: ignore[reportMissingImports]


# --- the starter policy --------------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in cast("list[object]", value)) + "]"
    if isinstance(value, dict):
        items = cast("dict[str, object]", value).items()
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in items) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _commented_table(header: str, table: dict[str, Any]) -> list[str]:
    return [f"# {header}", *(f"# {key} = {_toml_value(value)}" for key, value in table.items())]


def starter_policy(default: dict[str, Any] | None = None) -> str:
    """The text of a starter `.storyfence.toml`, derived from the built-in backend policy.

    Lines starting with `## ` explain; lines starting with `# ` are TOML (the built-in values, or an
    example): uncommenting every `# ` line gives a valid policy that changes one rule and adds one.
    """
    if default is None:
        with (packaged_policy_dir() / "backend.toml").open("rb") as fh:
            default = tomllib.load(fh)
    rules = cast("list[dict[str, Any]]", default.get("rules", []))
    by_kind: dict[str, list[str]] = {}
    for rule in rules:
        by_kind.setdefault(str(rule.get("kind")), []).append(str(rule.get("id")))
    lines = [
        "## storyfence policy for this repo (`storyfence serve`, `check`, `hook` and `audit` read it).",
        '## It extends the built-in "backend" policy: a [[rules]] entry with the id of a built-in rule replaces',
        "## that rule, a new id adds one; tables are merged key by key. Patterns are gitignore-style, relative to",
        "## the repo root. Lines starting with `# ` show the built-in values or an example: uncomment what you",
        "## change. Try a path with `storyfence check PATH` (add `--story STORY-ID` for its SCOPE.md).",
        "##",
        "## Built-in rules:",
        *(f"##   {kind}: {', '.join(ids)}" for kind, ids in sorted(by_kind.items())),
        "## Always on, whatever this file says: .git, this file and the client configs, the story inputs",
        "## (STORY, IMPLEMENTATION-PLAN.md, SCOPE.md) and the server-owned BACKEND-LOG.md, BLOCKERS.md, journal.",
        "",
        'extends = "backend"  # or "none" to start from nothing',
        "",
        "## The policy's name, shown in every decision.",
        f"# name = {_toml_value(str(default.get('name', 'backend')) + '-custom')}",
        "",
    ]
    explain = {
        "stories": "## Where stories live (folders searched in order) and what their ids look like.",
        "typecheck": "## The fast-fail gate: one check per affected workspace package, built from the repo (or\n"
        "## `command`, with {package} and {script} filled in). A changed file no check covers lets its chunk close\n"
        "## only if an "
        '`unchecked` entry matches it (e.g. paths = ["apps/api/**"], reason = "Django: no TypeScript").',
        "limits": "## Caps that keep one call from taking the server down.",
    }
    for table, text in explain.items():
        values = default.get(table)
        if isinstance(values, dict):
            lines += [text, *_commented_table(f"[{table}]", cast("dict[str, Any]", values)), ""]
    example = next((r for r in rules if r.get("id") == "backend-package"), None)
    example = example or next((r for r in rules if r.get("kind") == "allow"), None)
    if example is not None:
        patterns = [*cast("list[str]", example.get("patterns", [])), "services/*/src/**"]
        lines += [
            f"## Replace the built-in `{example['id']}` rule (same id), here to also allow services/*/src:",
            "# [[rules]]",
            f"# id = {_toml_value(example['id'])}",
            f"# kind = {_toml_value(example['kind'])}",
            f"# patterns = {_toml_value(patterns)}",
            f"# reason = {_toml_value(example.get('reason', ''))}",
            "",
        ]
    lines += [
        "## Add a rule (deny wins over allow; `instead` may use {path}, {name} and {stem}):",
        "# [[rules]]",
        '# id = "no-generated-clients"',
        '# kind = "deny"',
        '# patterns = ["packages/*/src/generated/**"]',
        '# reason = "generated API clients are rebuilt by codegen, never edited by hand."',
        '# instead = "change the OpenAPI spec and run the generator."',
        "",
    ]
    content_rules = cast("list[dict[str, Any]]", default.get("content_rules", []))
    if content_rules:
        first = content_rules[0]
        paths = cast("list[str]", first.get("paths", ["**"]))
        ids = ", ".join(str(r.get("id")) for r in content_rules)
        lines += [
            "## Content rules judge the text a write adds. Built in:",
            f"##   {ids}",
            "## A table with the id of a built-in one changes only the keys it sets (`enabled = false` switches",
            f"## it off), e.g. extend where `{first['id']}` applies:",
            "# [[content_rules]]",
            f"# id = {_toml_value(first['id'])}",
            f"# paths = {_toml_value([*paths, 'libs/domain/**'])}",
            "",
        ]
    frontend = default.get("frontend_packages")
    if isinstance(frontend, dict):
        settings = cast("dict[str, Any]", frontend)
        backend_packages = cast("list[str]", settings.get("backend_packages", []))
        lines += [
            "## A workspace package whose package.json depends on a frontend framework is frontend, whatever",
            "## its folder. List the packages that are backend anyway (by name or folder):",
            "# [frontend_packages]",
            f"# backend_packages = {_toml_value([*backend_packages, '@acme/api'])}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- which storyfence the configs name -----------------------------------------------------------------------


def running_storyfence() -> Path | None:
    """The absolute path of the storyfence script installed with this interpreter (the one running now)."""
    beside = Path(sys.executable).parent / "storyfence"
    return beside.absolute() if beside.is_file() else None


def on_path(executable: Path | None, path: str | None = None) -> bool:
    """Whether `storyfence` on the PATH is the storyfence at `executable` (any storyfence when it is None)."""
    found = shutil.which("storyfence", path=path)
    if found is None or executable is None:
        return found is not None
    try:
        return os.path.samefile(found, executable)
    except OSError:
        return False


# --- the command ---------------------------------------------------------------------------------------------


def _say_what_to_commit(written: list[str], *, absolute: bool, executable: Path | None) -> None:
    """Which of the written files the team can share, and a warning when the PATH name will not work."""
    files = ", ".join(written)
    if absolute:
        print(
            f"Per-machine: {files} name {executable}, which exists only here. Do not commit them "
            f"({CLAUDE_LOCAL_SETTINGS} is Claude Code's per-machine settings file; keep it out of git)."
        )
        return
    print(f"Safe to commit: {files} (they name `storyfence` by its PATH name, the same on every machine).")
    if not on_path(executable):
        where = f" (this one runs from {executable})" if executable is not None else ""
        print(
            f"storyfence init: warning: `storyfence` on this PATH is missing or another install{where}. A client "
            "started with this PATH cannot start the server, and the Claude Code hook refuses every write until "
            "it can run. Put storyfence on the PATH, or run `storyfence init --claude-code --absolute` to use "
            "this one's absolute path in per-machine files.",
            file=sys.stderr,
        )


def _refresh_policy(policy: Path) -> tuple[bool, str]:
    """Relearn the layout into the learned block of an existing `.storyfence.toml`; print what changed."""
    try:
        text = policy.read_text(encoding="utf-8") if policy.exists() else starter_policy()
    except (OSError, UnicodeDecodeError) as exc:
        return False, f"cannot read {REPO_POLICY}: {exc}"
    new_text, diff = refreshed(text, learned_block(policy.parent).text)
    if not diff:
        return True, f"{REPO_POLICY}: the learned layout is unchanged"
    write_atomic(policy, new_text)
    return True, f"{REPO_POLICY}: the learned layout changed (your own rules outside the block are kept):\n{diff}"


def init(
    root: Path,
    *,
    clients: list[str],
    force: bool,
    claude_code_hook: bool,
    absolute: bool = False,
    refresh: bool = False,
) -> int:
    """Write the starter policy and the requested client configs under `root`.

    With `absolute`, the configs name the absolute path of the running storyfence (per-machine files; the
    hook goes to `.claude/settings.local.json`); else its PATH name (files safe to commit).
    Exit 0 when everything is in place (an existing file skipped for want of `--force` included: the
    message says so), 1 when an existing config could not be read and was left alone, 2 on a usage error.
    """
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        print(
            f"storyfence init: unknown client {', '.join(unknown)}; choose from {', '.join(CLIENTS)}",
            file=sys.stderr,
        )
        return 2
    if not root.is_dir():
        print(f"storyfence init: {root} does not exist or is not a directory", file=sys.stderr)
        return 2
    results: list[tuple[bool, str]] = []
    policy = root / REPO_POLICY
    if refresh:
        results.append(_refresh_policy(policy))
    elif policy.exists() and not force:
        results.append(
            (True, f"skipped {REPO_POLICY} (exists; use --refresh to relearn the layout, --force to replace)")
        )
    else:
        existed = policy.exists()
        block = learned_block(root)
        write_atomic(policy, starter_policy() + "\n" + block.text)
        results.append(
            (
                True,
                f"{'replaced' if existed else 'created'} {REPO_POLICY}: the built-in backend policy and "
                f"{block.rules} rule(s) learned from this repo's layout, each with its evidence; review and commit it "
                "(`storyfence layout` shows the map)",
            )
        )
        results.extend((True, f"  not kept as an example (learned, but refused): {p}") for p in block.dropped_examples)
    executable = running_storyfence()
    if absolute and executable is None:
        print("storyfence init: --absolute: no storyfence script beside this Python to point at", file=sys.stderr)
        return 2
    command = str(executable) if absolute and executable is not None else "storyfence"
    written: list[str] = []
    for client in dict.fromkeys(clients):
        config = CLIENTS[client]
        if config is not None:
            results.append(merge_server(root, with_command(config, command), force))
            written.append(config.path)
    if claude_code_hook:
        settings_file = CLAUDE_LOCAL_SETTINGS if absolute else CLAUDE_SETTINGS
        results.append(install_hook(root, hook_command(command), settings_file))
        written.append(settings_file)
    ok = True
    for good, message in results:
        print(message if good else f"storyfence init: {message}", file=sys.stdout if good else sys.stderr)
        ok = ok and good
    if written:
        _say_what_to_commit(written, absolute=absolute, executable=executable)
    if "claude-desktop" in clients:
        print(
            "Claude Desktop: add this to claude_desktop_config.json (Settings > Developer > Edit Config; macOS "
            "~/Library/Application Support/Claude/, Windows %APPDATA%\\Claude\\), then restart Claude Desktop:"
        )
        print(claude_desktop_snippet(root, executable))
    return 0 if ok else 1
