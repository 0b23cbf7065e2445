"""Repositories the benchmark works on: a generated 40,000-file monorepo, and private copies of examples/."""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import repos
from tests.support.paths import EXAMPLES

STORY = "STORY-042"
NEEDLE = "resolveLedgerSnapshotToken"

_APPS = ("web", "api", "admin", "worker", "billing", "search", "mobile-bff", "cron")
_WORDS = (
    "order",
    "invoice",
    "customer",
    "ledger",
    "payment",
    "refund",
    "shipment",
    "catalog",
    "price",
    "stock",
    "account",
    "session",
    "report",
    "coupon",
    "tax",
    "audit",
    "webhook",
    "queue",
    "tenant",
)
_KINDS = ("service", "repository", "mapper", "handler", "schema", "policy", "client", "util")


@dataclass(frozen=True)
class BigRepo:
    root: Path
    tracked_files: int
    ignored_files: int
    needle: str
    needle_files: tuple[str, ...]  # repo-relative tracked files holding the needle


def _camel(*words: str) -> str:
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _ts_file(rng: random.Random, module: str, index: int, needle: str | None) -> str:
    """A plausible TypeScript module of 1-3 KB: imports, a type, an interface, a class, a few functions."""
    noun = rng.choice(_WORDS)
    kind = rng.choice(_KINDS)
    other = rng.choice(_WORDS)
    type_name = f"{noun.capitalize()}{kind.capitalize()}{index}"
    lines = [
        f"import type {{ {other.capitalize()}Id }} from '../{other}/types';",
        f"import {{ assertNever, Result }} from '@acme/{module}/shared';",
        "",
        f"export type {type_name}Status = 'draft' | 'active' | 'archived' | 'failed';",
        "",
        f"export interface {type_name}Record {{",
        f"  id: {other.capitalize()}Id;",
        f"  status: {type_name}Status;",
        "  createdAt: Date;",
        "  updatedAt: Date;",
        f"  amountCents: number; // {noun} total in minor units",
        "  tags: readonly string[];",
        "}",
        "",
        f"export class {type_name} {{",
        f"  private readonly cache = new Map<string, {type_name}Record>();",
        "",
        f"  constructor(private readonly source: {{ load(id: string): Promise<{type_name}Record | null> }}) {{}}",
        "",
    ]
    for f in range(rng.randint(2, 6)):
        verb = rng.choice(("load", "save", "validate", "format", "merge", "list", "count"))
        name = _camel(verb, rng.choice(_WORDS), str(f))
        lines += [
            f"  async {name}(id: string, limit = {rng.randint(5, 500)}): Promise<Result<{type_name}Record[]>> {{",
            "    const hit = this.cache.get(id);",
            "    if (hit && hit.status !== 'archived') {",
            "      return { ok: true, value: [hit].slice(0, limit) };",
            "    }",
            "    const loaded = await this.source.load(id);",
            "    if (!loaded) {",
            f"      return {{ ok: false, error: '{noun} ' + id + ' was not found' }};",
            "    }",
            "    this.cache.set(id, loaded);",
            "    return { ok: true, value: [loaded] };",
            "  }",
            "",
        ]
    if needle is not None:
        lines += [
            f"  {needle}(record: {type_name}Record): string {{",
            "    return `${record.id}:${record.updatedAt.getTime()}`;",
            "  }",
            "",
        ]
    lines += [
        "}",
        "",
        f"export function describe{type_name}(status: {type_name}Status): string {{",
        "  switch (status) {",
        "    case 'draft': return 'not yet active';",
        "    case 'active': return 'in use';",
        "    case 'archived': return 'kept for the audit trail';",
        "    case 'failed': return 'needs attention';",
        "    default: return assertNever(status);",
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def generate_monorepo(base: Path, tracked: int = 40_000, ignored: int = 20_000, seed: int = 42) -> BigRepo:
    """A pnpm/Turborepo-shaped tree: `tracked` TS files under apps/* and packages/*, plus `ignored` files in a
    node_modules listed in .gitignore; `git init` so ripgrep honours the .gitignore as git would.

    The needle occurs in 6 tracked files and in many ignored ones (a search that leaked into node_modules
    would show it)."""
    rng = random.Random(seed)
    root = base / "bigrepo"
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("node_modules/\ndist/\n.turbo/\n*.log\n")
    (root / "package.json").write_text(
        '{"name": "acme", "private": true, "scripts": {"check-types": "turbo run check-types"}}\n'
    )
    (root / "pnpm-workspace.yaml").write_text('packages:\n  - "apps/*"\n  - "packages/*"\n')
    workspaces = [f"apps/{a}" for a in _APPS] + [f"packages/pkg-{i:03d}" for i in range(100 - len(_APPS))]
    per_ws = tracked // len(workspaces)
    needle_at = set(rng.sample(range(tracked), 6))
    needle_files: list[str] = []
    written = 0
    for w, ws in enumerate(workspaces):
        count = per_ws if w < len(workspaces) - 1 else tracked - written
        name = ws.split("/")[1]
        wsdir = root / ws
        wsdir.mkdir(parents=True)
        (wsdir / "package.json").write_text(
            f'{{"name": "@acme/{name}", "private": true, "scripts": {{"check-types": "tsc --noEmit"}}}}\n'
        )
        written += 1
        for i in range(count - 1):
            sub = f"src/{rng.choice(_WORDS)}/{rng.choice(_KINDS)}s"
            folder = wsdir / sub
            folder.mkdir(parents=True, exist_ok=True)
            has_needle = written in needle_at
            rel = f"{ws}/{sub}/{rng.choice(_WORDS)}-{i}.ts"
            (root / rel).write_text(_ts_file(rng, name, i, NEEDLE if has_needle else None))
            if has_needle:
                needle_files.append(rel)
            written += 1
    modules = root / "node_modules"
    for i in range(ignored):
        folder = modules / f"dep-{i // 200:03d}" / "dist"
        folder.mkdir(parents=True, exist_ok=True)
        body = f"export function {NEEDLE}() {{ return {i}; }}\n" if i % 50 == 0 else f"export const v{i} = {i};\n"
        (folder / f"chunk-{i}.js").write_text(body * 20)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    os.sync()  # no write-back of the fresh tree competing with the first measurements
    return BigRepo(
        root=root, tracked_files=written, ignored_files=ignored, needle=NEEDLE, needle_files=tuple(sorted(needle_files))
    )


def copy_example(base: Path, name: str) -> Path:
    """A private copy of examples/ (symlinks kept, so pnpm's node_modules still resolve)."""
    if not (EXAMPLES / "node_modules").is_dir():
        raise SystemExit("examples/node_modules is missing: run `make setup` first")
    return repos.copy_example(base / name)


def ts_payload(size: int = 4096, salt: int = 0) -> str:
    """A backend-legal TypeScript module of about `size` bytes (no transport imports, no TODO markers)."""
    head = (
        f"// generated by bench/run.py (variant {salt})\n"
        "export interface BenchQuote { sku: string; cents: number }\n\n"
    )
    parts = [head]
    i = 0
    while sum(len(p) for p in parts) < size - 120:
        parts.append(
            f"export function quoteTotal{i}(quotes: readonly BenchQuote[]): number {{\n"
            f"  return quotes.reduce((sum, q) => sum + q.cents * {i + salt + 1}, 0);\n}}\n\n"
        )
        i += 1
    return "".join(parts)
