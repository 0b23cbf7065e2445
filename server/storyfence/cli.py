"""The `storyfence` command: serve, check, layout, hook, audit, report, init, demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from storyfence.core.errors import StoryfenceError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: typing is one more import for the hook
if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from storyfence.app.service import StoryfenceService

# Claude Code starts `storyfence hook claude-code` before every write: the command line imports what a command
# needs when it runs (argparse, logging and the rest are not needed to answer the hook)


def explicit_root(value: str | None) -> Path | None:
    from pathlib import Path

    chosen = value or os.environ.get("STORYFENCE_ROOT")
    return Path(chosen) if chosen else None


def _root(value: str | None) -> Path:
    from pathlib import Path

    return explicit_root(value) or Path.cwd()


def _policy_path(value: str | None) -> Path | None:
    """`--policy FILE`, when given (else the repo's .storyfence.toml over the built-in applies)."""
    from pathlib import Path

    return Path(value) if value else None


def make_service(root: Path, policy: str | None) -> StoryfenceService:
    from storyfence.adapters.policy_file import load_policy
    from storyfence.app.service import StoryfenceService

    if not root.is_dir():
        raise StoryfenceError(f"root {root} does not exist or is not a directory")
    loaded, sources = load_policy(root.resolve(), _policy_path(policy))
    return StoryfenceService(root, loaded, policy_paths=sources)


def _service(args: argparse.Namespace) -> StoryfenceService:
    return make_service(_root(args.root), args.policy)


def cmd_serve(args: argparse.Namespace) -> int:
    from storyfence.serve import serve

    return serve(args)


def cmd_examples(args: argparse.Namespace) -> int:
    """`check --examples`: decide the active policy's own examples; exit 1 if one does not hold."""
    from storyfence.adapters.policy_file import load_policy, package_facts
    from storyfence.core.policy_load import check_examples

    root = _root(args.root).resolve()
    policy, _ = load_policy(root, _policy_path(args.policy), verify_examples=False)
    failures = check_examples(policy, package_facts(root))
    total = len(policy.examples.allowed) + len(policy.examples.refused)
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{total - len(failures)} of {total} examples of {policy.source_label} hold")
    return 1 if failures else 0


def cmd_check(args: argparse.Namespace) -> int:
    import json

    if args.examples:
        return cmd_examples(args)
    if not args.paths:
        raise StoryfenceError("check: name at least one PATH (or --examples)")
    service = _service(args)
    denied = 0
    content: str | None = None
    if args.content == "-":
        content = sys.stdin.read()
    elif args.content:
        from pathlib import Path

        try:
            content = Path(args.content).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StoryfenceError(f"cannot read --content {args.content}: {exc}") from None
    decisions = [service.check_path(p, args.story, content) for p in args.paths]
    for d in decisions:
        denied += not d.allowed
    if args.json:
        print(json.dumps([d.model_dump() for d in decisions], indent=2))
    else:
        for d in decisions:
            mark = "ALLOW" if d.allowed else "DENY "
            print(f"{mark} {d.message}")
    return 1 if denied else 0


def cmd_layout(args: argparse.Namespace) -> int:
    import json
    import shutil

    from storyfence.adapters.layout_facts import read_facts
    from storyfence.commands.layout import Style, Verdict, build_map, render, to_json, use_color
    from storyfence.core.layout import learn
    from storyfence.core.learned import LEARNED_SOURCE

    service = _service(args)
    facts = read_facts(service.root)
    layout = learn(facts)

    def decide(path: str) -> Verdict:
        # the server's own check: confinement, protected paths, the active policy, the manifest rule
        decision = service.check_path(path)
        return Verdict(decision.allowed, decision.rule, tuple(decision.exceptions))

    nodes = build_map(layout, [f.path for f in facts.files], decide)
    policy = service.policy.source_label
    learned = LEARNED_SOURCE in service.policy.sources
    if args.json:
        print(json.dumps(to_json(nodes, root=str(service.root), policy=policy, learned=learned), indent=2))
        return 0
    color = use_color(args.color, sys.stdout.isatty(), os.environ)
    style = Style(color=color, width=shutil.get_terminal_size((100, 24)).columns, max_parts=0 if args.all else 12)
    lines = render(
        nodes, layout, root=str(explicit_root(args.root) or "."), policy=policy, learned=learned, style=style
    )
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `storyfence layout | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from storyfence.commands.hook_cli import run_hook

    return run_hook(args.root, args.policy, args.story)


def cmd_audit(args: argparse.Namespace) -> int:
    from storyfence.commands.audit import audit

    if (args.story is None) == (args.changed_since is None):
        raise StoryfenceError("audit: name a STORY or --changed-since REF (one of them)")
    return audit(
        _root(args.root),
        args.story,
        policy_path=_policy_path(args.policy),
        as_json=args.json,
        fmt=args.format,
        changed_since=args.changed_since,
    )


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from storyfence.commands.report import report

    if (args.story is None) == (args.changed_since is None):
        raise StoryfenceError("report: name a STORY or --changed-since REF (one of them)")
    return report(
        _root(args.root),
        args.story,
        policy_path=_policy_path(args.policy),
        fmt=args.format,
        output=Path(args.output) if args.output else None,
        changed_since=args.changed_since,
    )


def cmd_init(args: argparse.Namespace) -> int:
    from storyfence.commands.init import init

    clients = list(dict.fromkeys(args.client or []))
    if args.claude_code_hook and "claude-code" not in clients:
        clients.insert(0, "claude-code")
    return init(
        _root(args.root),
        clients=clients,
        force=args.force,
        claude_code_hook=args.claude_code_hook,
        absolute=args.absolute,
        refresh=args.refresh,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from storyfence.commands.demo import main as demo_main

    return demo_main(Path(args.examples) if args.examples else None, keep=args.keep)


ROOT_HELP = "the monorepo root (default: $STORYFENCE_ROOT or the current directory)"
SERVE_ROOT_HELP = (
    "the monorepo root to serve (default: $STORYFENCE_ROOT). Pass it: without it the server serves the first root "
    "the client announces (MCP roots, deprecated in protocol 2026-07-28, which many clients never send), and with "
    "neither every tool call fails. A client root inside --root narrows it; one outside is ignored"
)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from storyfence import __version__

    parser = argparse.ArgumentParser(prog="storyfence", description=__doc__)
    parser.add_argument("--version", action="version", version=f"storyfence {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, root_help: str = ROOT_HELP) -> None:
        p.add_argument("--root", help=root_help)
        p.add_argument("--policy", help="a policy TOML file (default: ROOT/.storyfence.toml over the built-in)")

    serve = sub.add_parser(
        "serve",
        help="run the MCP server (stdio; --http for streamable HTTP)",
        description="Run the MCP server. Over stdio (the default) an MCP client starts it and speaks JSON-RPC on "
        "its stdin and stdout; --http serves streamable HTTP on loopback with a bearer token.",
    )
    common(serve, SERVE_ROOT_HELP)
    serve.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr logging (default: WARNING over stdio, where clients show stderr as errors; INFO with --http)",
    )
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: loopback)")
    serve.add_argument("--port", type=int, default=8765, help="HTTP port (default: 8765)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="print the policy decision for each PATH; exit 1 if any is refused")
    common(check)
    check.add_argument("paths", nargs="*", metavar="PATH")
    check.add_argument(
        "--examples", action="store_true", help="check the policy's own examples (for CI); exit 1 if one fails"
    )
    check.add_argument("--story", help="also apply this story's SCOPE.md")
    check.add_argument(
        "--content", metavar="FILE", help="the text the write would have ('-' for stdin): applies the content rules"
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check)

    layout = sub.add_parser(
        "layout", help="print the repo as a tree of packages and server folders: role and the rule deciding writes"
    )
    common(layout)
    layout.add_argument("--json", action="store_true", help="machine-readable output")
    layout.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="colour (auto: on a terminal, no NO_COLOR)"
    )
    layout.add_argument("--all", action="store_true", help="every learned folder (default: the 12 largest per package)")
    layout.set_defaults(func=cmd_layout)

    hook = sub.add_parser("hook", help="run as a client hook (reads the hook JSON on stdin)")
    hook.add_argument("client", choices=["claude-code"], help="the hook protocol: claude-code (PreToolUse)")
    common(hook)
    hook.add_argument("--story", help="the story whose scope and workflow apply (default: $STORYFENCE_STORY)")
    hook.set_defaults(func=cmd_hook)

    audit = sub.add_parser(
        "audit",
        help="verify a story's journal and compare its writes with git (exit 0 clean, 1 findings, 2 cannot run)",
    )
    audit.add_argument("story", metavar="STORY", nargs="?")
    common(audit)
    audit.add_argument(
        "--changed-since", metavar="REF", help="audit every story whose folder changed since REF (e.g. origin/main)"
    )
    audit.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text", help="output format")
    audit.add_argument("--json", action="store_true", help="the same as --format json")
    audit.set_defaults(func=cmd_audit)

    report = sub.add_parser("report", help="a reviewer's page for a story: self-contained HTML, or Markdown for a PR")
    report.add_argument("story", metavar="STORY", nargs="?")
    common(report)
    report.add_argument("--format", choices=["html", "markdown"], default="html", help="output format (default: html)")
    report.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="write here instead of stdout (with --changed-since: a folder, one file per story)",
    )
    report.add_argument("--changed-since", metavar="REF", help="a report per story whose folder changed since REF")
    report.set_defaults(func=cmd_report)

    init = sub.add_parser("init", help="write a starter .storyfence.toml and client configs (never overwrites)")
    init.add_argument("--root", help="the monorepo root (default: the current directory)")
    init.add_argument(
        "--client",
        action="append",
        choices=["claude-code", "cursor", "vscode", "claude-desktop"],
        help="write this client's MCP config (repeatable)",
    )
    init.add_argument(
        "--claude-code-hook",
        "--claude-code",
        dest="claude_code_hook",
        action="store_true",
        help="set up Claude Code: .mcp.json and the PreToolUse hook in .claude/settings.json (merged)",
    )
    init.add_argument(
        "--absolute",
        action="store_true",
        help="name this storyfence by its absolute path (per-machine: the hook goes to .claude/settings.local.json)",
    )
    init.add_argument("--force", action="store_true", help="replace existing storyfence entries and files")
    init.add_argument(
        "--refresh",
        action="store_true",
        help="relearn the repo's layout into .storyfence.toml's learned block and show what changed",
    )
    init.set_defaults(func=cmd_init)

    demo = sub.add_parser("demo", help="run a scripted story on the bundled example monorepo over stdio")
    demo.add_argument("--examples", help="the example monorepo to copy (default: the checkout's examples/)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary copy")
    demo.set_defaults(func=cmd_demo)
    return parser


UNSUPPORTED_PLATFORM = (
    "storyfence: this platform ({platform}) is not supported: storyfence runs on Linux and macOS (its "
    "confinement and crash safety rest on POSIX file descriptors, locks and process groups). On Windows, "
    "run it inside WSL: install it in WSL and point your client at `wsl storyfence serve --root /path/to/repo`."
)


def main(argv: Sequence[str] | None = None) -> int:
    if not sys.platform.startswith(("linux", "darwin")):
        print(UNSUPPORTED_PLATFORM.format(platform=sys.platform), file=sys.stderr)
        return 2
    from storyfence.commands.hook_cli import hook_arguments, run_hook

    hook = hook_arguments(sys.argv[1:] if argv is None else list(argv))
    if hook is not None:
        return run_hook(*hook)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StoryfenceError as exc:
        print(f"storyfence: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
