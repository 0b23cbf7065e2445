"""The map `storyfence layout` prints: learned roles and the active policy's decisions in, a tree of lines
(or a JSON document) out. Pure: the caller decides the paths, so the map shows what the server would do."""

from __future__ import annotations

import functools
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pathspec

from storyfence.core.layout import Layout, PackageRole


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str
    exceptions: tuple[str, ...] = ()


Decide = Callable[[str], Verdict]


@dataclass(frozen=True)
class Node:
    """A package, one of its server parts, or a carve-out, with the decision on a representative path."""

    dir: str  # package folder, or the node's first pattern (repo-relative)
    kind: str  # package | convention | folder | files | carve-out
    role: str
    label: str  # relative to its parent
    evidence: tuple[str, ...]
    patterns: tuple[str, ...]
    sample: str  # the path decided: a real module when the node has one
    real: bool
    verdict: Verdict
    modules: int  # real modules under the node
    writable: int  # of those, allowed by the active policy
    children: tuple[Node, ...] = ()
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dir": self.dir, "kind": self.kind}
        if self.kind == "package":
            data |= {"name": self.name, "role": self.role}
        data |= {
            "evidence": list(self.evidence),
            "patterns": list(self.patterns),
            "rule": self.verdict.rule,
            "allowed": self.verdict.allowed,
            "exceptions": list(self.verdict.exceptions),
            "sample": self.sample,
            "sample_exists": self.real,
            "modules": self.modules,
            "writable": self.writable,
        }
        if self.kind == "package":
            data["parts"] = [c.to_json() for c in self.children if c.kind != "carve-out"]
        if self.kind != "carve-out":
            data["carve_out"] = [c.to_json() for c in self.children if c.kind == "carve-out"]
        return data


def build_map(layout: Layout, files: Sequence[str], decide: Decide) -> tuple[Node, ...]:
    """One node per package (learned role), with its server parts and carve-outs as children."""
    verdict = functools.cache(decide)  # a module is decided once, however many nodes count it
    dirs = sorted((r.package.dir for r in layout.roles), key=len, reverse=True)
    owned: dict[str, list[str]] = {}
    for path in sorted(files):
        owner = next((d for d in dirs if path.startswith(d + "/")), None)
        if owner is not None:
            owned.setdefault(owner, []).append(path)
    return tuple(_package(role, owned.get(role.package.dir, []), verdict) for role in layout.roles)


def _package(role: PackageRole, files: list[str], verdict: Decide) -> Node:
    pkg = role.package
    children: list[Node] = []
    rest = list(files)
    for part in role.server_parts:
        spec = pathspec.GitIgnoreSpec.from_lines(part.patterns)
        mine = {f for f in rest if spec.match_file(f)}
        rest = [f for f in rest if f not in mine]
        first = part.patterns[0].removesuffix("/**")
        positive = [_rel(p, pkg.dir) for p in part.patterns if not p.startswith("!")]
        label = {
            "folder": _rel(first, pkg.dir) + "/",
            "convention": positive[0] + (f" (+{len(positive) - 1})" if len(positive) > 1 else ""),
            "files": f"{len(positive)} modules" if len(positive) > 1 else positive[0],
        }[part.kind]
        # a folder's negations are client modules carved out; a convention's are its own exclusions (pages)
        negated = [p[1:] for p in part.patterns if p.startswith("!") and part.kind == "folder"]
        carved = tuple(_carve(p, first, files, verdict) for p in negated)
        node = _node(first, part.kind, role.role, label, (part.evidence,), part.patterns, sorted(mine), verdict)
        children.append(replace(node, children=carved))
    carved = tuple(_carve(p[1:], pkg.dir, files, verdict) for p in role.carve_out if p.startswith("!"))
    out = {f for c in carved for f in _under(c.patterns[0], files)}
    rest = [f for f in rest if f not in out]
    example = {"python": "main.py", "go": "main.go"}.get(pkg.language, "index.ts")
    node = _node(pkg.dir, "package", role.role, pkg.dir, role.evidence, (f"{pkg.dir}/{example}",), rest, verdict)
    # the rest of the package that the policy decides the other way: a writable pocket, a refused corner
    pockets: dict[tuple[bool, str], list[str]] = {}
    for f in rest:
        v = verdict(f)
        if v.allowed != node.verdict.allowed:
            pockets.setdefault((v.allowed, v.rule), []).append(f)
    for group in pockets.values():
        where = posixpath.commonpath(group) if len(group) > 1 else group[0]
        label = _rel(where, pkg.dir) + ("/" if len(group) > 1 else "") if where != pkg.dir else f"{len(group)} modules"
        patterns = (f"{where}/**",) if len(group) > 1 else (where,)
        children.append(_node(where, "other", role.role, label, (), patterns, group, verdict))
    writable = sum(verdict(f).allowed for f in files)
    return replace(
        node, patterns=(), modules=len(files), writable=writable, children=(*children, *carved), name=pkg.name
    )


def _node(
    first: str,
    kind: str,
    role: str,
    label: str,
    evidence: tuple[str, ...],
    patterns: tuple[str, ...],
    files: list[str],
    verdict: Decide,
) -> Node:
    """The node's representative path: a real module (not JSX or config, if it has one) decided by its most
    common rule; an example path when it has none."""
    verdicts = {f: verdict(f) for f in files}
    code = [f for f in files if not f.endswith(("x", ".mjs", ".cjs")) and ".config." not in f.rsplit("/", 1)[-1]]
    code = code or files
    common = Counter((verdicts[f].allowed, verdicts[f].rule) for f in code).most_common(1)
    ordered = sorted(code, key=lambda f: (f.count("/"), f))
    sample = next((f for f in ordered if (verdicts[f].allowed, verdicts[f].rule) == common[0][0]), "")
    real = bool(sample)
    sample = sample or _example(patterns[0])
    writable = sum(v.allowed for v in verdicts.values())
    return Node(first, kind, role, label, evidence, patterns, sample, real, verdict(sample), len(files), writable)


def _carve(pattern: str, base: str, files: Sequence[str], verdict: Decide) -> Node:
    label = _rel(pattern, base).removesuffix("/**") + ("/" if pattern.endswith("/**") else "")
    return _node(pattern, "carve-out", "client", label, (), (pattern,), _under(pattern, files), verdict)


def _under(pattern: str, files: Sequence[str]) -> list[str]:
    if pattern.endswith("/**"):
        return [f for f in files if f.startswith(pattern[:-2])]
    return [f for f in files if f == pattern]


def _example(pattern: str) -> str:
    """A path the pattern matches, for a node with no module: `app/**/route.*` gives `app/route.ts`."""
    path = pattern.lstrip("!")
    path = path[:-3] + "/index.ts" if path.endswith("/**") else path
    path = re.sub(r"\.\*$", ".ts", path.replace("/**/", "/"))
    return path.replace("*", "index")


def _rel(path: str, base: str) -> str:
    return path[len(base) + 1 :] if path.startswith(base + "/") else path


# --- text -----------------------------------------------------------------------------------------------------

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}
_ROLE_COLOUR = {
    "backend": "green",
    "python-backend": "green",
    "go-backend": "green",
    "frontend": "red",
    "app": "yellow",
}
_ROLE_ORDER = ("backend", "python-backend", "go-backend", "app", "frontend", "shared")
_KIND_LABEL = {"convention": "route convention", "folder": "server folder", "files": "server modules",
               "other": "other rule", "carve-out": "client, carved"}  # fmt: skip


@dataclass(frozen=True)
class Style:
    color: bool = False
    width: int = 100
    max_parts: int = 12  # folder lines per package (0: all)

    def paint(self, text: str, colour: str) -> str:
        code = _COLOURS.get(colour)
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code and text else text


def _role_label(role: str, framework: str = "") -> str:
    return f"app (mixed{', ' + framework if framework else ''})" if role == "app" else role


def render(nodes: Sequence[Node], layout: Layout, *, root: str, policy: str, learned: bool, style: Style) -> list[str]:
    """The map as lines: a header naming the active policy, a tree grouped by top-level folder, a legend."""
    frameworks = {r.package.dir: r.framework for r in layout.roles}
    source = (
        "the built-in policy plus what storyfence learned; `storyfence init` writes it out for review"
        if learned
        else "a policy file decides, not learning (the roles below are what learning sees)"
    )
    lines = [style.paint(f"storyfence layout · {root}", "bold"), f"policy: {policy}", style.paint(source, "dim"), ""]
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.dir.split("/", 1)[0] + "/" if "/" in node.dir else "./", []).append(node)
    width = min(24, max((len(_rel(n.dir, g[:-1])) for g, ns in groups.items() for n in ns), default=0))
    names = min(24, max((len(n.name) for n in nodes if n.name != n.dir), default=0))
    roles = {n.dir: _role_label(n.role, frameworks.get(n.dir, "")) for n in nodes}
    role_width = max((len(r) for r in roles.values()), default=0)
    for group, members in sorted(groups.items()):
        lines.append(style.paint(group, "bold"))
        for index, node in enumerate(members):
            label = _rel(node.dir, group[:-1]).ljust(width)
            name = ("" if node.name == node.dir else node.name).ljust(names)
            role = style.paint(roles[node.dir].ljust(role_width), _ROLE_COLOUR.get(node.role, "dim"))
            head = f"{label}  {style.paint(name, 'dim')}  {role}  {_verdict(node, style)}"
            lines += _lines(node, head, "", index == len(members) - 1, style)
    counts = Counter(n.role for n in nodes)
    order = dict.fromkeys(r for r in (*_ROLE_ORDER, *sorted(counts)) if counts.get(r))
    shown = [style.paint(f"{counts[r]} {_role_label(r)}", _ROLE_COLOUR.get(r, "dim")) for r in order]
    modules = sum(n.modules for n in nodes)
    writable = sum(n.writable for n in nodes)
    return [
        *lines,
        "",
        f"{len(nodes)} packages: " + " · ".join(shown) + f" · {writable} of {modules} JS/TS modules writable",
        style.paint("✓ writable  ✗ refused: the rule the active policy applies to a real module of each line", "dim"),
    ]


def _verdict(node: Node, style: Style) -> str:
    mark = "✓" if node.verdict.allowed else "✗"
    text = style.paint(f"{mark} {node.verdict.rule}", "green" if node.verdict.allowed else "red")
    count = f"  {node.writable}/{node.modules} writable" if node.modules and node.kind != "carve-out" else ""
    return text + style.paint(count, "dim")


def _shown(node: Node, style: Style) -> tuple[list[Node], str]:
    """The children a line shows: the largest folders up to the cap, a few carve-outs, all the rest."""
    if not style.max_parts:
        return list(node.children), ""
    folders = sorted((c for c in node.children if c.kind == "folder"), key=lambda c: -c.modules)
    carved = [c for c in node.children if c.kind == "carve-out"]
    keep = {id(c) for c in (*folders[: style.max_parts], *carved[:3])}
    children = [c for c in node.children if c.kind not in ("folder", "carve-out") or id(c) in keep]
    hidden = {"folders": len(folders) - style.max_parts, "carve-outs": len(carved) - 3}
    return children, ", ".join(f"{n} more {what}" for what, n in hidden.items() if n > 0)


def _lines(node: Node, head: str, prefix: str, last: bool, style: Style) -> list[str]:
    branch, below = ("└── ", "    ") if last else ("├── ", "│   ")
    out = [style.paint(prefix + branch, "dim") + head]
    inner = prefix + below
    children, hidden = _shown(node, style)
    if node.evidence and (node.modules or node.kind != "convention"):
        bar = "│ " if children or hidden else "  "
        text = "; ".join(node.evidence)
        room = max(30, style.width - len(inner) - 2)
        text = text if len(text) <= room else text[: room - 1] + "…"
        out.append(style.paint(inner + bar, "dim") + style.paint(text, "dim"))
    width = min(36, max((len(c.label) for c in children), default=0))
    for index, child in enumerate(children):
        kind = style.paint(_KIND_LABEL[child.kind].ljust(16), "dim")
        head = f"{child.label.ljust(width)}  {kind}  {_verdict(child, style)}"
        out += _lines(child, head, inner, index == len(children) - 1 and not hidden, style)
    if hidden:
        out.append(style.paint(f"{inner}└── … and {hidden} (--all shows them)", "dim"))
    return out


def to_json(nodes: Sequence[Node], *, root: str, policy: str, learned: bool) -> dict[str, Any]:
    """The map for tools: every package, part and carve-out (no cap), with its rule and sample path."""
    counts = dict(sorted(Counter(n.role for n in nodes).items()))
    modules, writable = sum(n.modules for n in nodes), sum(n.writable for n in nodes)
    packages = [n.to_json() for n in nodes]
    return {"root": root, "policy": policy, "learned": learned, "counts": counts, "modules": modules,
            "writable": writable, "packages": packages}  # fmt: skip


def use_color(choice: str, isatty: bool, environ: Mapping[str, str]) -> bool:
    """`--color always|never` wins; else colour on a terminal unless NO_COLOR is set (any non-empty value)."""
    if choice != "auto":
        return choice == "always"
    return isatty and not environ.get("NO_COLOR")
