"""The content rules refuse what a write adds or removes, name the rule and the offending text, and leave
the neighbouring legitimate writes alone."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyfence.core.content import check_content, listed_module
from storyfence.core.decisions import Decision
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy
from storyfence.core.source_scan import Import, find_imports
from tests.support.paths import EXAMPLES
from tests.support.policies import backend_policy

SOURCE = "policies/backend.toml"
POLICY: Policy = backend_policy()

CORE_FILE = "packages/core/src/orders/cancel-order.ts"
BACKEND_FILE = "packages/backend/src/orders.ts"


def example(rel: str) -> str:
    return (EXAMPLES / rel).read_text(encoding="utf-8")


def refused(decision: Decision | None) -> Decision:
    assert decision is not None, "expected a refusal, the write passed"
    assert decision.allowed is False
    assert decision.kind == "content"
    assert decision.policy_file == SOURCE
    return decision


def test_the_default_policy_turns_on_the_three_content_rules_in_order() -> None:
    assert [(r.id, r.kind, r.enabled) for r in POLICY.content_rules] == [
        ("core-transport-agnostic", "imports", True),
        ("no-todo-markers", "markers", True),
        ("no-port-or-env-change", "definitions", True),
    ]


# --- core-transport-agnostic -------------------------------------------------------------------------------

TRANSPORT_IMPORTS = [
    ("import express from 'express';", "express", 1),
    ('import type { Request, Response } from "express";', "express", 1),
    ("import 'express';", "express", 1),
    ("import * as http from 'node:http';", "node:http", 1),
    ("import { createServer } from 'http';", "http", 1),
    ("import https from 'node:https';", "node:https", 1),
    ("import { connect } from 'http2';", "http2", 1),
    ("import Router from 'express/lib/router';", "express/lib/router", 1),
    ("import { Hono } from 'hono';", "hono", 1),
    ("import Fastify from 'fastify';", "fastify", 1),
    ("import Koa from 'koa';", "koa", 1),
    ("import { NextResponse } from 'next/server';", "next/server", 1),
    ("import type { VercelRequest } from '@vercel/node';", "@vercel/node", 1),
    ("import React from 'react';", "react", 1),
    ("import { createRoot } from 'react-dom/client';", "react-dom/client", 1),
    ("import type { APIGatewayProxyEvent } from 'aws-lambda';", "aws-lambda", 1),
    ("import { Logger } from '@aws-lambda-powertools/logger';", "@aws-lambda-powertools/logger", 1),
    ("import { Injectable } from '@nestjs/common';", "@nestjs/common", 1),
    ("export { handle } from 'hono/vercel';", "hono/vercel", 1),
    ("export * from '@vercel/node';", "@vercel/node", 1),
    ("export * as next from 'next';", "next", 1),
    ("export type { Handler } from 'aws-lambda';", "aws-lambda", 1),
    ("const express = require('express');", "express", 1),
    ("import fastify = require('fastify');", "fastify", 1),
    ("export async function load() {\n  const { Hono } = await import('hono');\n}", "hono", 2),
    (
        "import type { Order } from './order';\n\n"
        "import {\n  NextRequest,\n  type NextResponse,\n} from 'next/server';",
        "next/server",
        3,
    ),
]


@pytest.mark.parametrize(("source", "module", "line"), TRANSPORT_IMPORTS)
def test_a_transport_import_in_core_is_refused_naming_the_module_and_its_line(
    source: str, module: str, line: int
) -> None:
    decision = refused(check_content(POLICY, CORE_FILE, None, source + "\n"))
    assert (decision.rule, decision.pattern) == ("core-transport-agnostic", module)
    assert decision.reason.startswith(f"line {line} imports `{module}`")
    assert f"keep `{module}` out of packages/core" in decision.instead


def test_a_module_matched_by_a_glob_names_the_list_entry_too() -> None:
    decision = refused(check_content(POLICY, CORE_FILE, None, "import { sql } from '@vercel/postgres';\n"))
    assert decision.pattern == "@vercel/postgres"
    assert decision.reason.startswith("line 1 imports `@vercel/postgres` (listed as `@vercel/*`). packages/core/**")


def test_the_refusal_message_names_the_rule_the_import_and_the_policy_file() -> None:
    decision = refused(check_content(POLICY, CORE_FILE, None, "import express from 'express';\n"))
    assert decision.message().startswith(
        f"{CORE_FILE}: refused by rule `core-transport-agnostic` (pattern `express`) in {SOURCE}: "
        "line 1 imports `express`."
    )


CORE_NEIGHBOURS = [
    "import type { OrderRepository } from './ports';",
    "import type { Order, OrderStatus } from './order';",
    "import { z } from 'zod';",
    "import { randomUUID } from 'node:crypto';",
    "import expressive from 'expressive';",  # a prefix of a listed name is another package
    "import { nextId } from 'nextjs-ids';",
    "import { httpStatus } from './http';",
    "import type { Next } from '../next';",
    "// we never import express from 'express' in core",
    "/* import Fastify from 'fastify' */",
    "/**\n * Adapters do `import { Hono } from 'hono'`; core does not.\n */",
    "const hint = \"import express from 'express'\";",
    "const doc = `use require('express') in the adapter`;",
    "const handler = registry.require('express');",
    "export const meta = import.meta.url;",
    "export { cancelOrder } from './orders/cancel-order';",
]


@pytest.mark.parametrize("source", CORE_NEIGHBOURS)
def test_core_code_that_imports_nothing_transport_specific_passes(source: str) -> None:
    assert check_content(POLICY, CORE_FILE, None, source + "\n") is None


def test_the_example_core_use_case_gaining_an_express_import_is_refused_at_its_line() -> None:
    old = example("packages/core/src/orders/list-orders.ts")
    new = old.replace(
        "import type { OrderRepository } from './ports';",
        "import type { OrderRepository } from './ports';\nimport type { Request } from 'express';",
    )
    decision = refused(check_content(POLICY, "packages/core/src/orders/list-orders.ts", old, new))
    assert (decision.rule, decision.pattern) == ("core-transport-agnostic", "express")
    assert decision.reason.startswith("line 3 imports `express`")


def test_every_file_of_the_example_core_passes_the_import_rule_as_a_new_file() -> None:
    for path in sorted((EXAMPLES / "packages" / "core" / "src").rglob("*.ts")):
        rel = path.relative_to(EXAMPLES).as_posix()
        decision = check_content(POLICY, rel, None, path.read_text(encoding="utf-8"))
        assert decision is None or decision.rule != "core-transport-agnostic", rel


def test_an_import_the_file_already_had_is_left_alone_but_a_new_one_is_refused() -> None:
    old = "import express from 'express';\n\nexport const legacy = express;\n"
    kept = old + "export const more = 1;\nimport type { Request } from 'express';\n"
    assert check_content(POLICY, CORE_FILE, old, kept) is None
    grown = old + "import Fastify from 'fastify';\n"
    decision = refused(check_content(POLICY, CORE_FILE, old, grown))
    assert (decision.pattern, decision.reason[:30]) == ("fastify", "line 4 imports `fastify`. pack")


def test_node_prefixed_and_bare_builtins_are_the_same_import() -> None:
    old = "import http from 'http';\n"
    assert check_content(POLICY, CORE_FILE, old, old + "import { STATUS_CODES } from 'node:http';\n") is None


@pytest.mark.parametrize(
    "path",
    [
        "packages/backend/src/server.ts",  # adapters may import transports
        "apps/api/api/orders/index.ts",
        "packages/core/README.md",  # not JS/TS
        "packages/core/src/notes.txt",
    ],
)
def test_the_import_rule_judges_only_js_and_ts_files_in_core(path: str) -> None:
    assert check_content(POLICY, path, None, "import express from 'express';\n") is None


@pytest.mark.parametrize("ext", [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx", ".tsx", ".d.ts", ".TS"])
def test_the_import_rule_covers_every_js_and_ts_extension(ext: str) -> None:
    decision = refused(check_content(POLICY, f"packages/core/src/x{ext}", None, "import 'hono';\n"))
    assert decision.rule == "core-transport-agnostic"


def test_deleting_a_core_file_is_not_an_import() -> None:
    assert check_content(POLICY, CORE_FILE, "import express from 'express';\n", None) is None


def test_find_imports_lists_each_form_with_the_line_its_statement_starts_on() -> None:
    source = (
        "import a from 'a';\n"
        'import type {\n  B,\n} from "b";\n'
        "export * from 'c';\n"
        "const d = require('d');\n"
        "const e = await import(`e`);\n"
        "const f = `${await import('f')} and ${`${require('g')}`}`;\n"
        "// import h from 'h';\n"
        "const i = 'import i from \"i\"';\n"
    )
    assert find_imports(source) == [
        Import("a", 1),
        Import("b", 2),
        Import("c", 5),
        Import("d", 6),
        Import("e", 7),
        Import("f", 8),
        Import("g", 8),
    ]


@pytest.mark.parametrize(
    ("module", "entry"),
    [
        ("express", "express"),
        ("express/lib/router", "express"),
        ("node:http", "http"),
        ("@vercel/node", "@vercel/*"),
        ("next/headers", "next"),
        ("@angular/core", "@angular/*"),
        ("apollo-server-express", "apollo-server*"),
        ("zod", None),
        ("expressive", None),
        ("./http", None),
        ("@vercel", None),
    ],
)
def test_a_module_matches_the_list_by_name_subpath_or_glob(module: str, entry: str | None) -> None:
    assert listed_module(module, POLICY.content_rules[0].modules) == entry  # type: ignore[union-attr]


# --- no-todo-markers ---------------------------------------------------------------------------------------

NEW_MARKERS = [
    ("// TODO: handle refunds", "TODO"),
    ("/* FIXME */", "FIXME"),
    ("// XXX: check the timezone", "XXX"),
    ("// HACK: the repository ignores status", "HACK"),
    ("const x = 1; // TBD", "TBD"),
    ('throw new Error("Not implemented");', "Not implemented"),
    ("throw new Error('not yet implemented');", "not yet implemented"),
    ("// todo: later", "todo"),
    ("// fixme(alice)", "fixme"),
    ("/** @todo refunds */", "@todo"),
    (" * TODO refunds", "TODO"),
    ("// implement me", "implement me"),
    ("return []; // stubbed out for now", "stubbed out"),
    ("// stub implementation", "stub implementation"),
    ("// stub", "stub"),
    ("/* stub */", "stub"),
]


@pytest.mark.parametrize(("line", "marker"), NEW_MARKERS)
def test_an_added_marker_line_is_refused_naming_the_marker_and_the_line(line: str, marker: str) -> None:
    old = "export function cancel() {\n  return 1;\n}\n"
    new = "export function cancel() {\n  " + line + "\n  return 1;\n}\n"
    decision = refused(check_content(POLICY, BACKEND_FILE, old, new))
    assert (decision.rule, decision.pattern) == ("no-todo-markers", marker)
    assert decision.reason.startswith(f"line 2 adds the marker `{marker}`: `{line.strip()}`. no TODO as a substitute")
    assert f"instead of `{marker}`" in decision.instead


@pytest.mark.parametrize(
    ("path", "line", "marker"),
    [
        ("packages/db/migrations/0002_index.sql", "-- TODO: add an index", "TODO"),
        ("__http__/orders-cancel.http", "# TODO: the 404 case", "TODO"),
        ("packages/backend/README.md", "<!-- todo: document -->", "todo"),
    ],
)
def test_markers_are_refused_in_every_text_file_not_just_code(path: str, line: str, marker: str) -> None:
    decision = refused(check_content(POLICY, path, None, line + "\n"))
    assert (decision.rule, decision.pattern) == ("no-todo-markers", marker)


MARKER_NEIGHBOURS = [
    "const todoItems = await repository.list();",
    "const todoList = [];",
    "export async function todos(): Promise<Todo[]> { return []; }",
    "export type Todo = { id: string };",
    "const TODO_STATUS = 'open';",
    "// returns the todo with this id",
    "const stubRepository = new InMemoryOrderRepository();",
    "// stub the clock so the test is deterministic",
    "const fixmeCount = 0;",
    "res.status(501).json({ error: 'not_implemented' });",
    "const hacky = false;",
]


@pytest.mark.parametrize("line", MARKER_NEIGHBOURS)
def test_identifiers_and_prose_that_only_resemble_a_marker_pass(line: str) -> None:
    assert check_content(POLICY, BACKEND_FILE, None, line + "\n") is None


def test_a_todo_already_in_the_example_file_and_untouched_passes() -> None:
    old = example("packages/core/src/orders/list-orders.ts")
    assert "// TODO: pagination" in old
    new = old.replace("return { orders: sorted, count: sorted.length };", "return { orders: sorted, count: 0 };")
    assert new != old
    assert check_content(POLICY, "packages/core/src/orders/list-orders.ts", old, new) is None


def test_moving_or_reindenting_an_existing_marker_line_passes() -> None:
    old = "a();\n// TODO: pagination\nb();\n"
    assert check_content(POLICY, BACKEND_FILE, old, "// TODO: pagination\na();\nb();\n") is None
    assert check_content(POLICY, BACKEND_FILE, old, "a();\nb();\n    //   TODO: pagination\n") is None


def test_removing_a_marker_passes() -> None:
    assert check_content(POLICY, BACKEND_FILE, "a();\n// TODO: pagination\n", "a();\npaginate();\n") is None


def test_a_second_copy_of_an_existing_marker_line_is_refused_at_the_inserted_copy() -> None:
    old = "a();\n// TODO: pagination\nb();\n"
    new = "a();\n// TODO: pagination\nb();\nc();\n// TODO: pagination\n"
    decision = refused(check_content(POLICY, BACKEND_FILE, old, new))
    assert (decision.pattern, decision.reason[:30]) == ("TODO", "line 5 adds the marker `TODO`:")


def test_rewording_an_existing_marker_line_counts_as_adding_one() -> None:
    old = "// TODO: pagination\n"
    decision = refused(check_content(POLICY, BACKEND_FILE, old, "// TODO: pagination and cancel\n"))
    assert decision.pattern == "TODO"


def test_a_new_file_with_a_marker_is_refused_and_deleting_one_passes() -> None:
    assert refused(check_content(POLICY, BACKEND_FILE, None, "// FIXME\n")).pattern == "FIXME"
    assert check_content(POLICY, BACKEND_FILE, "// FIXME\n", None) is None


def test_the_first_added_marker_is_reported_when_several_are_added() -> None:
    old = "one();\ntwo();\n"
    new = "one();\n// HACK: x\ntwo();\n// TODO: y\n"
    decision = refused(check_content(POLICY, BACKEND_FILE, old, new))
    assert (decision.pattern, decision.reason[:7]) == ("HACK", "line 2 ")


# --- no-port-or-env-change ----------------------------------------------------------------------------------

CONFIG = "packages/backend/src/config.ts"


def test_changing_the_example_api_port_default_is_refused_naming_the_definition() -> None:
    old = example(CONFIG)
    new = old.replace("process.env.API_PORT ?? 3001", "process.env.API_PORT ?? 3002")
    decision = refused(check_content(POLICY, CONFIG, old, new))
    assert (decision.rule, decision.pattern) == ("no-port-or-env-change", "process.env.API_PORT ?? 3001")
    assert decision.reason.startswith(
        "this write changes or removes `process.env.API_PORT ?? 3001` (line 2 of the current file). never change"
    )
    assert decision.instead.startswith("keep `process.env.API_PORT ?? 3001` exactly as it is;")


def test_changing_the_example_database_url_default_is_refused() -> None:
    old = example(CONFIG)
    new = old.replace("localhost:5432/dev'", "localhost:5433/dev'")
    decision = refused(check_content(POLICY, CONFIG, old, new))
    assert decision.pattern == "process.env.DATABASE_URL ?? 'postgres://dev:dev@localhost:5432/dev'"


def test_removing_the_example_api_port_line_is_refused() -> None:
    old = example(CONFIG)
    new = "\n".join(line for line in old.splitlines() if "API_PORT" not in line) + "\n"
    assert refused(check_content(POLICY, CONFIG, old, new)).pattern == "process.env.API_PORT ?? 3001"


def test_adding_to_the_example_config_without_touching_a_definition_passes() -> None:
    old = example(CONFIG)
    new = old + "\n/** Page size for list endpoints. */\nexport const ORDERS_PAGE_SIZE = 50;\n"
    assert check_content(POLICY, CONFIG, old, new) is None


def test_reformatting_a_definition_is_not_a_change() -> None:
    old = example(CONFIG)
    new = old.replace("process.env.API_PORT ?? 3001", "process.env.API_PORT??3001").replace(
        "'postgres://dev:dev@localhost:5432/dev'", '"postgres://dev:dev@localhost:5432/dev"'
    )
    assert check_content(POLICY, CONFIG, old, new) is None


def test_a_new_file_that_reads_the_api_port_without_changing_a_definition_passes() -> None:
    new = (
        "import { API_PORT } from './config';\n\n"
        "export const baseUrl = `http://localhost:${API_PORT}`;\n"
        "export const rawPort = process.env.API_PORT;\n"
    )
    assert check_content(POLICY, "packages/backend/src/base-url.ts", None, new) is None


def test_a_new_file_may_add_a_definition() -> None:
    new = "export const PORT = Number(process.env.WORKER_PORT ?? 4010);\napp.listen(4010);\n"
    assert check_content(POLICY, "packages/backend/src/worker.ts", None, new) is None


DEFINITION_CHANGES = [
    ("packages/backend/src/server.ts", "app.listen(3001);", "app.listen(3002);", "listen(3001)"),
    (
        "packages/backend/src/server.ts",
        "server.listen(PORT, () => log('up'));",
        "server.listen(4000, () => log('up'));",
        "listen(PORT,",
    ),
    ("packages/backend/src/config.ts", "export const PORT = 3001;", "export const PORT = 3002;", "PORT = 3001"),
    (
        "packages/backend/src/config.ts",
        "const config = { port: 3001 };",
        "const config = { port: 8080 };",
        "port: 3001",
    ),
    ("packages/backend/src/config.ts", "const apiPort = '3001';", "const apiPort = '3000';", "apiPort = '3001'"),
    ("packages/backend/scripts/dev.sh", "API_PORT=3001 node dist/index.js", "node dist/index.js", "API_PORT=3001"),
    ("packages/backend/scripts/dev.sh", "vite --port 5173", "vite --port 5174", "--port 5173"),
    ("packages/backend/scripts/dev.sh", "serve --port=8080", "serve", "--port=8080"),
    ("packages/backend/scripts/dev.sh", "http-server -p 8080", "http-server -p 9090", "-p 8080"),
    (
        "packages/backend/src/config.ts",
        "const region = process.env.REGION || 'eu-west-1';",
        "const region = process.env.REGION || 'us-east-1';",
        "process.env.REGION || 'eu-west-1'",
    ),
    (
        "packages/backend/src/config.ts",
        "const mode = process.env['ORDERS_MODE'] ?? 'memory';",
        "const mode = 'memory';",
        "process.env['ORDERS_MODE'] ?? 'memory'",
    ),
    (
        "packages/backend/src/setup.ts",
        "process.env.TZ = 'UTC';",
        "process.env.TZ = 'Europe/Paris';",
        "process.env.TZ = 'UTC'",
    ),
    (
        "packages/backend/package.json",
        '{ "scripts": { "dev": "next dev -p 3000" } }',
        '{ "scripts": { "dev": "next dev" } }',
        '"dev": "next dev -p 3000"',
    ),
    (
        "packages/backend/package.json",
        '{ "scripts": { "dev": "serve -l 4000" } }',
        '{ "scripts": { "dev": "serve -l 4001" } }',
        '"dev": "serve -l 4000"',
    ),
    ("__http__/orders.http", "@baseUrl = http://localhost:3001", "@baseUrl = http://localhost:4000", "localhost:3001"),
    ("packages/backend/Dockerfile", "EXPOSE 3001", "EXPOSE 8080", "EXPOSE 3001"),
    # seen in real code (issue 11, hole 4)
    (
        "packages/backend/src/config.ts",
        "  port: process.env.PORT ? Number(process.env.PORT) : 3000,",
        "  port: process.env.PORT ? Number(process.env.PORT) : 4000,",
        "process.env.PORT ? Number(process.env.PORT) : 3000",
    ),
    (
        "packages/backend/src/config.ts",
        "const listenOn = env.PORT ? Number(env.PORT) : 3000;",
        "const listenOn = env.PORT ? Number(env.PORT) : 4000;",
        "env.PORT ? Number(env.PORT) : 3000",
    ),
    (
        "packages/backend/src/env.ts",
        '  PORT: z.string().default("3000"),',
        '  PORT: z.string().default("4000"),',
        'PORT: z.string().default("3000"',
    ),
    (
        "packages/backend/src/env.ts",
        "  REDIS_PORT: z.coerce.number().default(6379),",
        "  REDIS_PORT: z.coerce.number().default(6380),",
        "REDIS_PORT: z.coerce.number().default(6379",
    ),
    (
        "packages/backend/src/env.ts",
        "  port: z.coerce.number().default(3000),",
        "  port: z.coerce.number().default(3001),",
        "port: z.coerce.number().default(3000",
    ),
    (
        "packages/backend/src/env.ts",
        '  DATABASE_URL: z.string().url().default("postgres://localhost:5432/dev"),',
        '  DATABASE_URL: z.string().url().default("postgres://localhost:5432/prod"),',
        'DATABASE_URL: z.string().url().default("postgres://localhost:5432/dev")',
    ),
    (
        "packages/backend/src/env.ts",
        '  NODE_ENV: z.enum(["development", "production"]).default("development"),',
        '  NODE_ENV: z.enum(["development", "production"]).default("production"),',
        'NODE_ENV: z.enum(["development", "production"]).default("development")',
    ),
    (
        "packages/backend/src/server.ts",
        "app.listen(env.PORT || 3000);",
        "app.listen(env.PORT || 4000);",
        "env.PORT || 3000",
    ),
    (
        "packages/backend/src/server.ts",
        "const port = Number(process.env.PORT) || 3000;",
        "const port = Number(process.env.PORT) || 4000;",
        "port = Number(process.env.PORT) || 3000",
    ),
    (
        "packages/backend/src/server.ts",
        "const port = parseInt(process.env.PORT, 10) || 3000;",
        "const port = parseInt(process.env.PORT, 10) || 4000;",
        "port = parseInt(process.env.PORT, 10) || 3000",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "definition"), DEFINITION_CHANGES)
def test_changing_or_removing_a_port_or_env_definition_is_refused(
    path: str, old: str, new: str, definition: str
) -> None:
    decision = refused(check_content(POLICY, path, f"{old}\n", f"{new}\n"))
    assert (decision.rule, decision.pattern) == ("no-port-or-env-change", definition)


@pytest.mark.parametrize(("changed", "line"), [("3003\n\n", 1), ("3003/orders", 4)])
def test_changing_one_of_two_equal_definitions_is_refused_while_the_other_still_holds_it(
    changed: str, line: int
) -> None:
    # definitions are compared per occurrence: a second `localhost:3003` does not hide the changed one
    old = "@baseUrl = http://localhost:3003\n\n###\nGET http://localhost:3003/orders\n"
    new = old.replace(changed, changed.replace("3003", "4000"))
    decision = refused(check_content(POLICY, "__http__/orders.http", old, new))
    assert (decision.rule, decision.pattern) == ("no-port-or-env-change", "localhost:3003")
    assert f"(line {line} of the current file" in decision.reason


def test_one_changed_copy_among_many_is_found_in_linear_time() -> None:
    old = "GET http://localhost:3001/x\n" * 50_000
    new = old[: -len("3001/x\n")] + "4000/x\n"
    started = time.monotonic()
    decision = refused(check_content(POLICY, "__http__/load.http", old, new))
    assert time.monotonic() - started < 5
    assert "(line 50000 of the current file; it holds 50000 copies, this write leaves 49999)" in decision.reason


def test_moving_or_adding_a_copy_of_a_definition_passes() -> None:
    old = "GET http://localhost:3003/a\nGET http://localhost:3003/b\n"
    moved = "GET http://localhost:3003/b\nGET http://localhost:3003/a\n"
    more = old + "GET http://localhost:3003/c\n"
    assert check_content(POLICY, "__http__/orders.http", old, moved) is None
    assert check_content(POLICY, "__http__/orders.http", old, more) is None


def test_changing_the_example_api_dev_script_port_is_refused() -> None:
    old = example("apps/api/package.json")
    new = old.replace("--listen 3001", "--listen 4000")
    decision = refused(check_content(POLICY, "apps/api/package.json", old, new))
    assert decision.pattern == '"dev": "vercel dev --listen 3001"'
    assert "(line 8 of the current file)" in decision.reason


def test_changing_a_dev_script_but_keeping_its_port_passes() -> None:
    old = example("apps/api/package.json")
    new = old.replace('"vercel dev --listen 3001"', '"vercel dev --debug --listen 3001"')
    assert check_content(POLICY, "apps/api/package.json", old, new) is None


def test_deleting_a_file_that_defines_a_port_is_refused() -> None:
    decision = refused(check_content(POLICY, CONFIG, example(CONFIG), None))
    assert decision.pattern == "process.env.API_PORT ?? 3001"
    assert decision.reason.startswith("deleting the file removes `process.env.API_PORT ?? 3001` (line 2")


def test_deleting_a_file_without_definitions_passes() -> None:
    assert check_content(POLICY, BACKEND_FILE, "export const a = 1;\n", None) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a port mentioned in a JS/TS comment documents a definition; it is not one
        ("/** Listens on 3001 (`vercel dev --listen 3001`). */\nexport {};\n", "/** The API port. */\nexport {};\n"),
        ("const report = 3001;\n", "const report = 3002;\n"),
        ("const supportCount = 12;\n", "const supportCount = 13;\n"),
        ("if (port == 3001) start();\n", "if (port == 3002) start();\n"),
        ("const url = process.env.API_URL;\n", "const url = process.env.ORDERS_API_URL;\n"),
        ("const timeoutMs = 3001;\n", "const timeoutMs = 3002;\n"),
        ("const options = { port: p, timeout: 3000 };\n", "const options = { port: p, timeout: 4000 };\n"),
        (
            'const s = z.object({ status: z.enum(["a", "b"]).default("a") });\n',
            'const s = z.object({ status: z.enum(["a", "b"]).default("b") });\n',
        ),
        ("if (env.PORT === '3000') warn();\n", "if (env.PORT === '4000') warn();\n"),
        ("const limit = env.MAX?.length ?? 0;\n", "const limit = env.MAX?.length ?? 0; // max\n"),
    ],
)
def test_edits_that_touch_no_port_or_env_definition_pass(old: str, new: str) -> None:
    assert check_content(POLICY, "packages/backend/src/x.ts", old, new) is None


def test_every_example_backend_file_passes_as_a_new_file() -> None:
    for path in sorted((EXAMPLES / "packages" / "backend" / "src").rglob("*.ts")):
        rel = path.relative_to(EXAMPLES).as_posix()
        assert check_content(POLICY, rel, None, path.read_text(encoding="utf-8")) is None, rel


# --- configuration -----------------------------------------------------------------------------------------


def test_an_unchanged_text_passes_every_rule() -> None:
    text = "import express from 'express';\n// TODO: x\nconst PORT = 3001;\n"
    assert check_content(POLICY, CORE_FILE, text, text) is None


def test_a_policy_without_content_rules_passes_everything() -> None:
    bare = POLICY.model_copy(update={"content_rules": ()})
    assert check_content(bare, CORE_FILE, None, "import express from 'express'; // TODO\n") is None


def test_an_overlay_can_point_the_import_rule_at_another_core_folder() -> None:
    merged = extend_policy(
        POLICY, {"content_rules": [{"id": "core-transport-agnostic", "paths": ["libs/domain/**"]}]}, "repo.toml"
    )
    assert check_content(merged, "libs/domain/order.ts", None, "import 'express';\n") is not None
    assert check_content(merged, CORE_FILE, None, "import 'express';\n") is None
    assert merged.content_rules[0].modules == POLICY.content_rules[0].modules  # type: ignore[union-attr]


def test_an_overlay_can_switch_a_content_rule_off() -> None:
    merged = extend_policy(POLICY, {"content_rules": [{"id": "no-todo-markers", "enabled": False}]}, "repo.toml")
    assert check_content(merged, BACKEND_FILE, None, "// TODO: x\n") is None
    assert refused(check_content(POLICY, BACKEND_FILE, None, "// TODO: x\n")).rule == "no-todo-markers"


def test_an_overlay_can_add_its_own_content_rule_with_placeholders_in_instead() -> None:
    overlay = {
        "content_rules": [
            {
                "id": "no-console",
                "kind": "markers",
                "paths": ["packages/backend/**"],
                "markers": [r"\b(?P<marker>console\.log)\b"],
                "reason": "use the logger.",
                "instead": "replace `{marker}` on line {line} of {name} with logger.info.",
            }
        ]
    }
    merged = extend_policy(POLICY, overlay, ".storyfence.toml")
    decision = check_content(merged, BACKEND_FILE, "a();\n", "a();\nconsole.log(1);\n")
    assert decision is not None
    assert (decision.rule, decision.pattern, decision.policy_file) == (
        "no-console",
        "console.log",
        f"{SOURCE} + .storyfence.toml",
    )
    assert decision.instead == "replace `console.log` on line 2 of orders.ts with logger.info."


# --- properties -------------------------------------------------------------------------------------------

_js_alphabet = st.sampled_from(
    [
        *"abc xyz\n\t'\"`{}()[];,./*\\$=-:#@!",
        *("import ", "export ", "from ", "require(", "import(", "${", "//"),
        *("TODO", "process.env.PORT ?? ", "3001", "listen(", "'express'", "--port ", "*/", "/*"),
    ]
)
_js_text = st.lists(_js_alphabet, max_size=60).map("".join)
_paths = st.sampled_from([CORE_FILE, BACKEND_FILE, "packages/backend/package.json", "__http__/x.http", "README.md"])


@given(_paths, st.one_of(st.none(), _js_text, st.text()), st.one_of(st.none(), _js_text, st.text()))
def test_check_content_never_raises_and_only_ever_refuses(path: str, old: str | None, new: str | None) -> None:
    decision = check_content(POLICY, path, old, new)
    if decision is not None:
        assert decision.allowed is False
        assert decision.rule in {r.id for r in POLICY.content_rules}
        assert decision.pattern


@given(st.one_of(_js_text, st.text()))
def test_find_imports_never_raises_and_reports_lines_inside_the_text(text: str) -> None:
    for imp in find_imports(text):
        assert 1 <= imp.line <= text.count("\n") + 1
        assert imp.module


@given(
    st.lists(st.sampled_from(["a();", "// TODO: x", "// FIXME", "b();", "  // TODO: x", ""]), max_size=12), st.randoms()
)
def test_reordering_the_lines_of_a_file_never_adds_a_marker(lines: list[str], rnd: object) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    old, new = "\n".join(lines) + "\n", "\n".join(shuffled) + "\n"
    decision = check_content(POLICY, BACKEND_FILE, old, new)
    assert decision is None or decision.rule != "no-todo-markers"


PATHOLOGICAL = [
    "/" * 100_000,
    "#" * 100_000,
    "'" * 100_000,
    "`${" * 30_000,
    "{" * 100_000,
    "import " * 15_000,
    "import {" * 15_000,
    "export {" * 15_000,
    "import x" + " " * 100_000,
    "import type" + " " * 100_000,
    '"dev": "' + "1234 " * 20_000,
    "process.env.X ??" + " " * 100_000,
    "--port" + " " * 100_000,
    "A_" * 50_000,
    "env." * 50_000,
    "env.X ?" + " " * 100_000,
    "env.X ? " * 30_000,
    "port: " * 30_000,
    "port = Number(" * 20_000,
    "A: z." * 30_000,
    "A: z.default('" * 10_000,
    "PORT: z.string().default(" * 10_000,
    "GET http://localhost:3001/x\n" * 50_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:12]))
def test_a_pathological_text_is_judged_in_linear_time(text: str) -> None:
    # Python's re backtracks; a quadratic default regex would let one write hang the server
    started = time.monotonic()
    check_content(POLICY, CORE_FILE, text, text + "\nimport x from 'zod';\n")
    check_content(POLICY, "packages/backend/package.json", text, text + "\n")
    assert time.monotonic() - started < 5
