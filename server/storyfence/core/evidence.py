"""What a dependency or an import says about code: the evidence layout learning reads (data, no logic).

A glob ending in `*` matches by prefix; a plain name also matches its subpaths (`drizzle-orm/pg-core`).
"""

from __future__ import annotations

# fmt: off
SERVER_MODULES: tuple[str, ...] = (
    # HTTP servers, RPC and GraphQL servers
    "express", "fastify", "@fastify/*", "hono", "@hono/*", "koa", "@koa/*", "@nestjs/*", "@trpc/server",
    "@apollo/server", "apollo-server*", "graphql-yoga", "elysia", "h3", "itty-router", "restify", "@hapi/*",
    "@orpc/server", "@hocuspocus/server",
    # ORMs and database clients
    "@prisma/client", "prisma", "@prisma/*", "drizzle-orm", "drizzle-kit", "kysely", "pg", "postgres", "mysql2",
    "mongoose", "mongodb", "typeorm", "sequelize", "knex", "better-sqlite3", "@libsql/client",
    "@planetscale/database", "@neondatabase/serverless", "@vercel/postgres", "@vercel/kv", "ioredis", "redis",
    "@upstash/redis", "firebase-admin", "@electric-sql/pglite", "@tinybirdco/*",
    # job queues and schedulers
    "bullmq", "bull", "@trigger.dev/sdk", "inngest", "@upstash/qstash", "agenda", "node-cron",
    # server-only markers, mail, payments, auth and cloud SDKs used from the server
    "server-only", "nodemailer", "resend", "@sendgrid/mail", "postmark", "stripe", "@aws-sdk/*",
    "@google-cloud/*", "better-auth", "lucia", "@auth/core", "@auth/prisma-adapter", "@auth/drizzle-adapter",
    # SDKs that hold a server secret (AI providers, banking, messaging)
    "openai", "@anthropic-ai/sdk", "@ai-sdk/*", "langchain", "@langchain/*", "@google/genai", "plaid",
    "twilio", "@slack/web-api", "@slack/bolt", "@octokit/*", "googleapis", "@upstash/ratelimit",
    "@upstash/workflow", "@vercel/functions", "@vercel/edge-config",
    # the Bun runtime's own server APIs (`RedisClient`, `SQL`, `serve`)
    "bun", "bun:sqlite", "bun:ffi",
)
"""A module whose import makes a file server code, and whose dependency makes a package backend."""

SERVER_BUILTINS: tuple[str, ...] = (
    "fs", "fs/promises", "child_process", "crypto", "node:*", "net", "tls", "http", "https", "http2",
    "worker_threads",
    "next/server", "next/headers", "@remix-run/node", "@react-router/node", "@tanstack/react-start/server",
)
"""Imports only server code makes (a dependency on them says nothing: node builtins need none)."""

APP_FRAMEWORKS: dict[str, str] = {
    "next": "next", "@remix-run/react": "remix", "@remix-run/node": "remix", "@react-router/dev": "react-router",
    "@tanstack/react-start": "tanstack-start", "@tanstack/start": "tanstack-start", "@sveltejs/kit": "sveltekit",
    "nuxt": "nuxt", "astro": "astro", "expo": "expo", "react-native": "expo", "@angular/core": "angular",
    "vite": "vite",
}
"""A dependency (of any kind) that makes a package a UI app, and whose conventions it follows."""

FRAMEWORK_CONFIGS: dict[str, str] = {
    "next.config": "next", "remix.config": "remix", "react-router.config": "react-router",
    "svelte.config": "sveltekit", "nuxt.config": "nuxt", "astro.config": "astro", "app.config": "tanstack-start",
    "angular.json": "angular",
}
"""A config file at a package's root (name without extension) that names its framework."""

UI_LIBRARIES: tuple[str, ...] = (
    "react", "react-dom", "vue", "svelte", "solid-js", "preact", "@angular/*", "react-native", "@mui/*",
    "@radix-ui/*", "@headlessui/*", "tailwindcss", "lucide-react", "framer-motion",
)
"""Dependencies of UI code: a runtime dependency on one makes a package frontend (unless it is backend)."""

SERVER_RENDERED_UI: tuple[str, ...] = (
    "@react-email/*", "react-email", "@react-pdf/renderer", "@vercel/og", "next/og", "satori", "jsx-email",
)
"""React that a server renders (emails, PDFs, images): no frontend in it."""

CLIENT_MODULES: tuple[str, ...] = (
    "react", "react-dom", "react-dom/*", "next/navigation", "next/link", "next/image", "next/router",
    "next/dynamic", "swr", "@tanstack/react-query", "@trpc/react-query", "@trpc/client",
    "@trpc/tanstack-react-query", "@tanstack/react-router", "vue", "svelte", "solid-js",
    # browser SDKs and UI helpers
    "@stripe/stripe-js", "@stripe/react-stripe-js", "posthog-js", "@vercel/analytics", "clsx", "tailwind-merge",
    "class-variance-authority", "sonner", "zustand", "jotai", "react-hook-form", "framer-motion", "lucide-react",
    "@radix-ui/*", "@headlessui/*",
)
"""Imports that make a file client code (a value import, not `import type`)."""

CLIENT_SUBPATHS: tuple[str, ...] = ("/react", "/client", "/react-query", "/vue", "/svelte")
"""A library's client entry point (`better-auth/react`, `next-auth/react`): client code, whatever the library."""

PYTHON_BACKENDS: tuple[str, ...] = (
    "django", "djangorestframework", "fastapi", "flask", "starlette", "litestar", "sanic", "sqlalchemy",
    "celery", "aiohttp", "tornado", "falcon", "quart",
)
CODE_EXTENSIONS: tuple[str, ...] = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
JSX_EXTENSIONS: tuple[str, ...] = (".tsx", ".jsx")
# fmt: on
