"""Layout learning from a repo's files: workspace packages found on disk, and what each module's text says
about its side (server, client or neutral), read by the facts adapter and classified by the core."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyfence.adapters.layout_facts import module_facts, read_facts
from storyfence.core.layout import learn
from storyfence.core.modules import Backends, classify_file
from storyfence.core.repo_facts import FileFacts, PackageInfo, RepoFacts


def test_dot_folder_workspace_packages_are_discovered(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "r", "workspaces": ["apps/web/.react-email"]}', encoding="utf-8")
    pkg = tmp_path / "apps/web/.react-email"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "emails", "dependencies": {"react-email": "3"}}', encoding="utf-8")
    roles = {r.package.dir: r for r in learn(read_facts(tmp_path)).roles}
    assert roles["apps/web/.react-email"].role == "backend"


@pytest.mark.parametrize(
    ("text", "path", "kind"),
    [
        ('import { prisma } from "@acme/db";\nexport const x = 1;\n', "lib/a.ts", "server"),
        ('"use server";\nexport async function a() {}\n', "lib/a.ts", "server"),
        ('import "server-only";\n', "lib/a.ts", "server"),
        ('import type { Router } from "@acme/db";\nexport type R = Router;\n', "lib/a.ts", "neutral"),
        ('"use client";\nimport { prisma } from "@acme/db";\n', "lib/a.ts", "client"),
        ('import useSWR from "swr";\n', "lib/a.ts", "client"),
        ("export const A = () => <div />;\n", "lib/a.tsx", "client"),
        ('import {\n  readFile,\n} from "node:fs/promises";\n', "lib/a.ts", "server"),
    ],
)
def test_a_module_is_server_client_or_neutral_by_what_it_imports_and_renders(text: str, path: str, kind: str) -> None:
    facts: FileFacts = module_facts(path, text)
    assert classify_file(facts, Backends(frozenset({"@acme/db"})))[0] == kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('import { cache } from "react";\nimport { db } from "@acme/db";\n', "server"),
        ('import { cache, useState } from "react";\n', "client"),
        ("export async function POST(request: Request) {\n  return new Response();\n}\n", "server"),
        ('import { createEnv } from "@t3-oss/env-nextjs";\nimport "@acme/db/env";\n', "neutral"),
        ('import { loadStripe } from "@stripe/stripe-js";\n', "client"),
        ('import { clsx } from "clsx";\nimport { twMerge } from "tailwind-merge";\n', "client"),
    ],
)
def test_what_a_module_does_decides_its_side_not_just_what_it_imports(text: str, kind: str) -> None:
    assert classify_file(module_facts("apps/web/lib/x.ts", text), Backends(frozenset({"@acme/db"})))[0] == kind


def test_a_package_with_no_telling_dependency_is_backend_when_only_server_code_imports_it() -> None:
    jobs = PackageInfo(dir="packages/jobs", name="@acme/jobs", runtime=("bullmq",))
    workflows = PackageInfo(dir="packages/workflows", name="@acme/workflows", runtime=("zod",))
    widgets = PackageInfo(dir="packages/widgets", name="@acme/widgets", runtime=("zod",))
    web = PackageInfo(dir="apps/web", name="web", runtime=("next", "react", "react-dom"))
    files = (
        module_facts("packages/jobs/src/run.ts", 'import { run } from "@acme/workflows";\n'),
        module_facts("packages/workflows/src/index.ts", "export const steps = [];\n"),
        module_facts("packages/widgets/src/index.ts", "export const size = 1;\n"),
        module_facts("apps/web/components/w.tsx", '"use client";\nimport { size } from "@acme/widgets";\n'),
        module_facts("packages/jobs/src/ui.ts", 'import { size } from "@acme/widgets";\n'),
    )
    roles = {
        r.package.dir: r.role for r in learn(RepoFacts(packages=(jobs, workflows, widgets, web), files=files)).roles
    }
    assert roles["packages/workflows"] == "backend"
    assert roles["packages/widgets"] == "shared"  # a client component imports it too
