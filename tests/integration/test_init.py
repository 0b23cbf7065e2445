"""`storyfence init`: the starter policy, the client configs, the Claude Code hook; never clobbering."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from storyfence.adapters.policy_file import load_builtin, load_policy
from storyfence.commands.client_configs import HOOK_COMMAND, HOOK_MATCHER
from storyfence.commands.init import init, starter_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def uncomment(text: str) -> str:
    """Every example line (`# `) made live; the explanations (`## `) stay comments."""
    return "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines()) + "\n"


def test_the_starter_policy_as_written_is_the_built_in_policy(tmp_path: Path) -> None:
    assert init(tmp_path, clients=[], force=False, claude_code_hook=False) == 0
    text = (tmp_path / ".storyfence.toml").read_text(encoding="utf-8")
    assert 'extends = "backend"' in text
    policy, sources = load_policy(tmp_path)
    assert sources == [tmp_path / ".storyfence.toml"]
    builtin = load_builtin()
    assert policy.rules == builtin.rules
    assert policy.content_rules == builtin.content_rules
    assert policy.typecheck == builtin.typecheck


def test_the_starter_policy_names_every_built_in_rule_and_its_examples_are_valid(tmp_path: Path) -> None:
    text = starter_policy()
    builtin = load_builtin()
    for rule in builtin.rules:
        assert rule.id in text
    for rule in builtin.content_rules:
        assert rule.id in text
    live = uncomment(text)
    tomllib.loads(live)  # valid TOML
    (tmp_path / ".storyfence.toml").write_text(live, encoding="utf-8")
    policy, _ = load_policy(tmp_path)
    rules = {r.id: r for r in policy.rules}
    assert "services/*/src/**" in rules["backend-package"].patterns
    assert rules["no-generated-clients"].kind == "deny"
    assert policy.typecheck == builtin.typecheck  # the commented values are the built-in ones
    assert policy.limits == builtin.limits
    assert policy.stories == builtin.stories
    content = {r.id: r for r in policy.content_rules}
    first = builtin.content_rules[0]
    assert content[first.id].paths == (*first.paths, "libs/domain/**")
    assert "@acme/api" in policy.frontend_packages.backend_packages


def test_each_client_gets_its_documented_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path, clients=["claude-code", "cursor", "vscode"], force=False, claude_code_hook=False) == 0
    assert read_json(tmp_path / ".mcp.json") == {
        "mcpServers": {"storyfence": {"command": "storyfence", "args": ["serve", "--root", "."]}}
    }
    assert read_json(tmp_path / ".cursor/mcp.json") == {
        "mcpServers": {"storyfence": {"command": "storyfence", "args": ["serve", "--root", "${workspaceFolder}"]}}
    }
    assert read_json(tmp_path / ".vscode/mcp.json") == {
        "servers": {
            "storyfence": {"type": "stdio", "command": "storyfence", "args": ["serve", "--root", "${workspaceFolder}"]}
        }
    }
    out = capsys.readouterr().out
    assert "created .mcp.json" in out
    assert "created .cursor/mcp.json" in out
    assert "created .vscode/mcp.json" in out
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_claude_desktop_gets_a_snippet_with_the_absolute_root_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, clients=["claude-desktop"], force=False, claude_code_hook=False) == 0
    out = capsys.readouterr().out
    snippet = json.loads(out[out.index("{") :])
    entry = snippet["mcpServers"]["storyfence"]
    assert entry["args"] == ["serve", "--root", str(tmp_path.resolve())]
    assert entry["command"].endswith("storyfence")
    assert "claude_desktop_config.json" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [".storyfence.toml"]


def test_an_existing_policy_is_never_overwritten_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = 'extends = "backend"\n# my own policy\n'
    (tmp_path / ".storyfence.toml").write_text(mine, encoding="utf-8")
    assert init(tmp_path, clients=[], force=False, claude_code_hook=False) == 0
    assert "skipped .storyfence.toml (exists; use --refresh to relearn the layout, --force" in capsys.readouterr().out
    assert (tmp_path / ".storyfence.toml").read_text(encoding="utf-8") == mine
    assert init(tmp_path, clients=[], force=True, claude_code_hook=False) == 0
    assert "replaced .storyfence.toml" in capsys.readouterr().out
    assert (tmp_path / ".storyfence.toml").read_text(encoding="utf-8").startswith(starter_policy())


def test_an_existing_client_config_keeps_its_servers_and_a_different_entry_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}
    (tmp_path / ".cursor").mkdir()
    (tmp_path / ".cursor/mcp.json").write_text(json.dumps({"mcpServers": {"github": github}}), encoding="utf-8")
    assert init(tmp_path, clients=["cursor"], force=False, claude_code_hook=False) == 0
    servers = read_json(tmp_path / ".cursor/mcp.json")["mcpServers"]
    assert servers["github"] == github
    assert servers["storyfence"]["args"] == ["serve", "--root", "${workspaceFolder}"]
    assert "added storyfence to it, kept 1 other server(s)" in capsys.readouterr().out

    assert init(tmp_path, clients=["cursor"], force=False, claude_code_hook=False) == 0
    assert "unchanged .cursor/mcp.json" in capsys.readouterr().out

    custom = {"mcpServers": {"github": github, "storyfence": {"command": "/opt/storyfence", "args": ["serve"]}}}
    (tmp_path / ".cursor/mcp.json").write_text(json.dumps(custom), encoding="utf-8")
    assert init(tmp_path, clients=["cursor"], force=False, claude_code_hook=False) == 0
    assert "skipped .cursor/mcp.json" in capsys.readouterr().out
    assert read_json(tmp_path / ".cursor/mcp.json") == custom
    assert init(tmp_path, clients=["cursor"], force=True, claude_code_hook=False) == 0
    servers = read_json(tmp_path / ".cursor/mcp.json")["mcpServers"]
    assert servers["storyfence"]["command"] == "storyfence"
    assert servers["github"] == github


def test_a_config_that_is_not_plain_json_is_left_alone_with_the_snippet_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonc = '{\n  // my servers\n  "servers": {}\n}\n'
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode/mcp.json").write_text(jsonc, encoding="utf-8")
    assert init(tmp_path, clients=["vscode"], force=True, claude_code_hook=False) == 1
    err = capsys.readouterr().err
    assert "left .vscode/mcp.json alone" in err
    assert '"type": "stdio"' in err
    assert (tmp_path / ".vscode/mcp.json").read_text(encoding="utf-8") == jsonc


def test_the_hook_is_merged_into_existing_settings_and_installing_twice_adds_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = {
        "permissions": {"allow": ["Bash(pnpm test)"], "deny": ["Bash(git push *)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check-bash.sh"}]}],
            "PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "prettier --write"}]}],
        },
        "model": "opus",
    }
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude/settings.json").write_text(json.dumps(existing), encoding="utf-8")
    assert init(tmp_path, clients=[], force=False, claude_code_hook=True) == 0
    assert init(tmp_path, clients=[], force=False, claude_code_hook=True) == 0
    out = capsys.readouterr().out
    assert "updated .claude/settings.json" in out
    assert "unchanged .claude/settings.json (the storyfence hook is already installed)" in out
    settings = read_json(tmp_path / ".claude/settings.json")
    assert settings["permissions"] == existing["permissions"]
    assert settings["model"] == "opus"
    assert settings["hooks"]["PostToolUse"] == existing["hooks"]["PostToolUse"]
    assert settings["hooks"]["PreToolUse"] == [
        *existing["hooks"]["PreToolUse"],
        {"matcher": HOOK_MATCHER, "hooks": [{"type": "command", "command": HOOK_COMMAND, "timeout": 60}]},
    ]


def test_a_hook_written_before_it_failed_closed_is_replaced_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = {"type": "command", "command": "storyfence hook claude-code"}
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude/settings.json").write_text(
        json.dumps({"hooks": {"PreToolUse": [{"matcher": HOOK_MATCHER, "hooks": [legacy]}]}}), encoding="utf-8"
    )
    assert init(tmp_path, clients=[], force=False, claude_code_hook=True) == 0
    assert "now fails closed" in capsys.readouterr().out
    groups = read_json(tmp_path / ".claude/settings.json")["hooks"]["PreToolUse"]
    assert groups == [{"matcher": HOOK_MATCHER, "hooks": [{**legacy, "command": HOOK_COMMAND, "timeout": 60}]}]


def test_init_says_which_files_are_safe_to_commit_and_which_are_per_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, clients=["claude-code"], force=False, claude_code_hook=True) == 0
    assert "Safe to commit: .mcp.json, .claude/settings.json" in capsys.readouterr().out
    assert init(tmp_path, clients=["claude-code"], force=True, claude_code_hook=True, absolute=True) == 0
    out = capsys.readouterr().out
    assert "Per-machine: .mcp.json, .claude/settings.local.json" in out
    beside = str(Path(sys.executable).parent / "storyfence")
    assert read_json(tmp_path / ".mcp.json")["mcpServers"]["storyfence"]["command"] == beside
    assert read_json(tmp_path / ".claude/settings.local.json")["hooks"]["PreToolUse"][0]["hooks"][0][
        "command"
    ].startswith(f"{beside} hook claude-code || ")


def test_init_warns_when_the_path_name_would_not_find_this_storyfence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert init(tmp_path, clients=["claude-code"], force=False, claude_code_hook=True) == 0
    err = capsys.readouterr().err
    assert "warning: `storyfence` on this PATH is missing" in err
    assert "--absolute" in err


def test_the_hook_creates_settings_when_there_are_none(tmp_path: Path) -> None:
    assert init(tmp_path, clients=["claude-code"], force=False, claude_code_hook=True) == 0
    assert read_json(tmp_path / ".claude/settings.json") == {
        "hooks": {
            "PreToolUse": [
                {
                    "matcher": "Write|Edit|MultiEdit|NotebookEdit",
                    "hooks": [{"type": "command", "command": HOOK_COMMAND, "timeout": 60}],
                }
            ]
        }
    }


def test_settings_of_an_unexpected_shape_are_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".claude").mkdir()
    odd = '{"hooks": {"PreToolUse": {"matcher": "Bash"}}}'
    (tmp_path / ".claude/settings.json").write_text(odd, encoding="utf-8")
    assert init(tmp_path, clients=[], force=False, claude_code_hook=True) == 1
    assert "hooks.PreToolUse` is not a list" in capsys.readouterr().err
    assert (tmp_path / ".claude/settings.json").read_text(encoding="utf-8") == odd


def test_an_unknown_client_or_a_missing_root_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(tmp_path, clients=["claude-code", "emacs"], force=False, claude_code_hook=False) == 2
    assert "unknown client emacs" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert init(tmp_path / "nope", clients=[], force=False, claude_code_hook=False) == 2


def test_the_written_files_keep_an_existing_files_mode(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text("{}", encoding="utf-8")
    (tmp_path / ".mcp.json").chmod(0o600)
    assert init(tmp_path, clients=["claude-code"], force=False, claude_code_hook=False) == 0
    assert (tmp_path / ".mcp.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".storyfence.toml").stat().st_mode & 0o777 == 0o644
