# ruff: noqa: E501
"""Fixture monorepos, one per shape seen in real repos, each with files that must be allowed once the
layout is learned and files that must stay refused. Built into a folder by `build(shape, root)`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.repos import write_tree

SERVER_TS = 'import { db } from "@acme/db";\n\nexport async function list() {\n  return db.query.posts.findMany();\n}\n'
CLIENT_TSX = '"use client";\nimport { useState } from "react";\n\nexport function Button() {\n  return <button />;\n}\n'


def _pkg(name: str, deps: dict[str, str] | None = None, dev: dict[str, str] | None = None, **extra: object) -> str:
    data: dict[str, object] = {"name": name, "private": True, "dependencies": deps or {}}
    if dev:
        data["devDependencies"] = dev
    data.update(extra)
    return json.dumps(data, indent=2) + "\n"


@dataclass(frozen=True)
class Shape:
    files: dict[str, str]
    allowed: tuple[str, ...]
    refused: tuple[str, ...]
    extra_refused: tuple[str, ...] = field(default=())  # paths that need not exist (env files)


PNPM_WS = 'packages:\n  - "apps/*"\n  - "packages/*"\n'

T3 = Shape(
    files={
        "package.json": _pkg("t3", dev={"turbo": "2"}, packageManager="pnpm@12.4.2"),
        "pnpm-workspace.yaml": 'packages:\n  - "apps/*"\n  - "packages/*"\n  - "tooling/*"\n',
        "apps/nextjs/package.json": _pkg(
            "@acme/nextjs", {"next": "15", "react": "19", "react-dom": "19", "@acme/api": "workspace:*"}
        ),
        "apps/nextjs/next.config.js": "export default {};\n",
        "apps/nextjs/src/app/page.tsx": "export default function Page() {\n  return <main />;\n}\n",
        "apps/nextjs/src/app/api/trpc/[trpc]/route.ts": 'import { appRouter } from "@acme/api";\nexport const GET = appRouter;\n',
        "apps/nextjs/src/app/api/auth/[...nextauth]/route.ts": 'export { GET, POST } from "@acme/auth";\n',
        "apps/nextjs/src/trpc/react.tsx": CLIENT_TSX,
        "apps/nextjs/src/styles/globals.css": "body {}\n",
        "apps/expo/package.json": _pkg("@acme/expo", {"expo": "52", "react": "19", "react-native": "0.76"}),
        "apps/expo/src/app/index.tsx": "export default function Index() {\n  return <View />;\n}\n",
        "packages/api/package.json": _pkg("@acme/api", {"@trpc/server": "11", "@acme/db": "workspace:*"}),
        "packages/api/src/router/post.ts": SERVER_TS,
        "packages/api/src/root.ts": 'import { postRouter } from "./router/post";\nexport const appRouter = postRouter;\n',
        "packages/db/package.json": _pkg("@acme/db", {"drizzle-orm": "0.36", "@vercel/postgres": "0.10"}),
        "packages/db/src/schema.ts": 'import { pgTable } from "drizzle-orm/pg-core";\nexport const Post = pgTable("post", {});\n',
        "packages/auth/package.json": _pkg("@acme/auth", {"next-auth": "5", "@auth/drizzle-adapter": "1"}),
        "packages/auth/src/index.ts": "export const auth = {};\n",
        "packages/ui/package.json": _pkg("@acme/ui", {"@radix-ui/react-icons": "1"}, peerDependencies={"react": "19"}),
        "packages/ui/src/button.tsx": "export function Button() {\n  return <button />;\n}\n",
        "packages/ui/src/index.ts": 'export * from "./button";\n',
        "tooling/tailwind/package.json": _pkg("@acme/tailwind-config", {"tailwindcss": "3"}),
        "tooling/tailwind/web.ts": "export default {};\n",
    },
    allowed=(
        "packages/api/src/router/post.ts",
        "packages/api/src/router/order.ts",
        "packages/db/src/schema.ts",
        "packages/auth/src/index.ts",
        "apps/nextjs/src/app/api/trpc/[trpc]/route.ts",
        "apps/nextjs/src/app/api/auth/[...nextauth]/route.ts",
    ),
    refused=(
        "apps/nextjs/src/app/page.tsx",
        "apps/nextjs/src/trpc/react.tsx",
        "apps/nextjs/src/styles/globals.css",
        "apps/nextjs/next.config.js",
        "apps/expo/src/app/index.tsx",
        "packages/ui/src/button.tsx",
        "packages/ui/src/index.ts",
    ),
    extra_refused=("packages/db/.env", "apps/nextjs/.env.local"),
)

NEXT_APP = Shape(
    files={
        "package.json": _pkg("dub", dev={"turbo": "2"}, packageManager="pnpm@12.4.2"),
        "pnpm-workspace.yaml": PNPM_WS,
        "apps/web/package.json": _pkg(
            "web", {"next": "15", "react": "19", "react-dom": "19", "@dub/prisma": "workspace:*", "swr": "2"}
        ),
        "apps/web/next.config.ts": "export default {};\n",
        "apps/web/app/(ee)/api/admin/route.ts": 'import { prisma } from "@dub/prisma";\nexport async function GET() {}\n',
        "apps/web/app/(dashboard)/[slug]/page.tsx": "export default function Page() {\n  return <div />;\n}\n",
        "apps/web/app/api/og/route.tsx": 'import { ImageResponse } from "next/og";\nexport function GET() {\n  return new ImageResponse(<div />);\n}\n',
        "apps/web/pages/api/legacy.ts": "export default function handler() {}\n",
        "apps/web/lib/api/links/create-link.ts": 'import { prisma } from "@dub/prisma";\nexport async function createLink() {}\n',
        "apps/web/lib/api/links/utils.ts": "export function slugify(s: string) {\n  return s;\n}\n",
        "apps/web/lib/api/errors.ts": 'import { NextResponse } from "next/server";\nexport const x = NextResponse;\n',
        "apps/web/lib/actions/update-user.ts": '"use server";\nimport { prisma } from "@dub/prisma";\nexport async function updateUser() {}\n',
        "apps/web/lib/swr/use-links.ts": 'import useSWR from "swr";\nexport const useLinks = () => useSWR("/api/links");\n',
        "apps/web/lib/utils.ts": "export const cn = (...a: string[]) => a.join(' ');\n",
        "apps/web/lib/auth/session.ts": 'import "server-only";\nimport { prisma } from "@dub/prisma";\nexport const s = prisma;\n',
        "apps/web/ui/links/link-card.tsx": "export function LinkCard() {\n  return <div />;\n}\n",
        "apps/web/components/nav.tsx": "export function Nav() {\n  return <nav />;\n}\n",
        "packages/prisma/package.json": _pkg("@dub/prisma", {"@prisma/client": "6"}, dev={"prisma": "6"}),
        "packages/prisma/client.ts": 'import { PrismaClient } from "@prisma/client";\nexport const prisma = new PrismaClient();\n',
        "packages/prisma/schema/link.prisma": "model Link {\n  id String @id\n}\n",
        "packages/email/package.json": _pkg(
            "@dub/email", {"react": "19", "@react-email/components": "0.0.30", "resend": "4"}
        ),
        "packages/email/src/templates/welcome.tsx": "export function Welcome() {\n  return <html />;\n}\n",
        "packages/email/src/index.ts": 'import { Resend } from "resend";\nexport const resend = new Resend();\n',
    },
    allowed=(
        "apps/web/app/(ee)/api/admin/route.ts",
        "apps/web/app/api/og/route.tsx",
        "apps/web/pages/api/legacy.ts",
        "apps/web/lib/api/links/create-link.ts",
        "apps/web/lib/api/links/utils.ts",
        "apps/web/lib/api/errors.ts",
        "apps/web/lib/actions/update-user.ts",
        "apps/web/lib/auth/session.ts",
        "packages/prisma/client.ts",
        "packages/prisma/schema/link.prisma",
        "packages/email/src/index.ts",
        "packages/email/src/templates/welcome.tsx",
    ),
    refused=(
        "apps/web/app/(dashboard)/[slug]/page.tsx",
        "apps/web/lib/swr/use-links.ts",
        "apps/web/lib/utils.ts",
        "apps/web/ui/links/link-card.tsx",
        "apps/web/components/nav.tsx",
        "apps/web/next.config.ts",
    ),
    extra_refused=("apps/web/.env", "apps/web/app/api/og/.env.local", "apps/web/app/globals.css"),
)

HONO_API = Shape(
    files={
        "package.json": _pkg("midday", workspaces=["apps/*", "packages/*"]),
        "bun.lock": "{}\n",
        "apps/api/package.json": _pkg("@midday/api", {"hono": "4", "@midday/supabase": "workspace:*"}),
        "apps/api/src/index.ts": 'import { Hono } from "hono";\nexport default new Hono();\n',
        "apps/api/src/routes/transactions.ts": 'import { Hono } from "hono";\nexport const r = new Hono();\n',
        "apps/dashboard/package.json": _pkg("@midday/dashboard", {"next": "15", "react": "19", "react-dom": "19"}),
        "apps/dashboard/src/app/[locale]/page.tsx": "export default function P() {\n  return <div />;\n}\n",
        "apps/dashboard/src/components/chart.tsx": CLIENT_TSX,
        "packages/supabase/package.json": _pkg(
            "@midday/supabase", {"@supabase/supabase-js": "2", "server-only": "0.0.1"}
        ),
        "packages/supabase/src/queries/index.ts": "export const q = 1;\n",
        "packages/jobs/package.json": _pkg("@midday/jobs", {"@trigger.dev/sdk": "3"}),
        "packages/jobs/src/tasks/sync.ts": "export const sync = 1;\n",
    },
    allowed=(
        "apps/api/src/index.ts",
        "apps/api/src/routes/transactions.ts",
        "packages/supabase/src/queries/index.ts",
        "packages/jobs/src/tasks/sync.ts",
    ),
    refused=("apps/dashboard/src/app/[locale]/page.tsx", "apps/dashboard/src/components/chart.tsx"),
    extra_refused=("apps/api/.env", "docker-compose.yml"),
)

REMIX = Shape(
    files={
        "package.json": _pkg("shop", workspaces=["apps/*", "packages/*"]),
        "package-lock.json": "{}\n",
        "apps/store/package.json": _pkg(
            "store", {"@remix-run/react": "2", "@remix-run/node": "2", "react": "18", "react-dom": "18"}
        ),
        "apps/store/app/routes/_index.tsx": "export default function Index() {\n  return <div />;\n}\n",
        "apps/store/app/routes/api.orders.ts": "export async function loader() {\n  return null;\n}\n",
        "apps/store/app/routes/api+/webhooks.ts": "export async function action() {\n  return null;\n}\n",
        "apps/store/app/models/order.server.ts": 'import { db } from "~/db.server";\nexport const o = db;\n',
        "apps/store/app/components/cart.tsx": "export function Cart() {\n  return <div />;\n}\n",
    },
    allowed=(
        "apps/store/app/routes/api.orders.ts",
        "apps/store/app/routes/api+/webhooks.ts",
        "apps/store/app/models/order.server.ts",
    ),
    refused=("apps/store/app/routes/_index.tsx", "apps/store/app/components/cart.tsx", "apps/store/app/root.tsx"),
)

DJANGO = Shape(
    files={
        "package.json": _pkg("mixed", dev={"turbo": "2"}),
        "pnpm-workspace.yaml": 'packages:\n  - "apps/web"\n',
        "apps/web/package.json": _pkg("web", {"next": "15", "react": "19", "react-dom": "19"}),
        "apps/web/app/page.tsx": "export default function P() {\n  return <div />;\n}\n",
        "apps/api/pyproject.toml": '[project]\nname = "api"\ndependencies = ["Django>=5", "djangorestframework"]\n',
        "apps/api/manage.py": "import django\n",
        "apps/api/orders/views.py": "from rest_framework import viewsets\n",
        "apps/api/orders/models.py": "from django.db import models\n",
    },
    allowed=("apps/api/orders/views.py", "apps/api/orders/models.py", "apps/api/orders/serializers.py"),
    refused=("apps/web/app/page.tsx", "apps/web/lib/x.ts"),
    extra_refused=("apps/api/.env",),
)

SVELTEKIT = Shape(
    files={
        "package.json": _pkg("svelte-shop", workspaces=["apps/*"]),
        "apps/site/package.json": _pkg("site", {"svelte": "5"}, dev={"@sveltejs/kit": "2"}),
        "apps/site/svelte.config.js": "export default {};\n",
        "apps/site/src/routes/api/orders/+server.ts": "export function GET() {}\n",
        "apps/site/src/routes/orders/+page.server.ts": "export function load() {}\n",
        "apps/site/src/routes/orders/+page.svelte": "<h1>orders</h1>\n",
        "apps/site/src/lib/server/db.ts": "export const db = 1;\n",
        "apps/site/src/lib/Button.svelte": "<button />\n",
    },
    allowed=(
        "apps/site/src/routes/api/orders/+server.ts",
        "apps/site/src/routes/orders/+page.server.ts",
        "apps/site/src/lib/server/db.ts",
    ),
    refused=(
        "apps/site/src/routes/orders/+page.svelte",
        "apps/site/src/lib/Button.svelte",
        "apps/site/svelte.config.js",
    ),
)

SHAPES: dict[str, Shape] = {
    "t3-trpc-drizzle": T3,
    "next-app-with-lib-backend": NEXT_APP,
    "bun-hono-api": HONO_API,
    "npm-remix": REMIX,
    "pnpm-django-api": DJANGO,
    "sveltekit": SVELTEKIT,
}


def build(shape: Shape, root: Path) -> Path:
    return write_tree(root, shape.files)
