"""The seed's content rules and the frontend-by-manifest rule, over stdio on the example monorepo:
each refuses its case naming the rule, and the neighbouring legitimate change passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyfence.commands import demo_script as s
from tests.support.client import call, refused
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_each_content_rule_refuses_its_case_and_its_neighbour_passes(example_repo: Path) -> None:
    root = example_repo
    config = root / "packages/backend/src/config.ts"
    config_before = config.read_text(encoding="utf-8")
    list_orders = root / "packages/core/src/orders/list-orders.ts"
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="content rules", objective="prove them")

        express = await refused(
            client,
            "write_file",
            story=s.STORY,
            path="packages/core/src/orders/http.ts",
            content="import express from 'express';\nexport const app = express();\n",
        )
        assert "`core-transport-agnostic` (pattern `express`)" in express
        assert "line 1 imports `express`" in express
        ports = await call(
            client,
            "write_file",
            story=s.STORY,
            path="packages/core/src/orders/uses-port.ts",
            content="import type { OrderRepository } from './ports';\nexport type R = OrderRepository;\n",
        )
        assert ports["change"]["kind"] == "created"

        todo = await refused(
            client,
            "write_file",
            story=s.STORY,
            path="packages/backend/src/cancel.ts",
            content="export function cancel(): void {\n  // TODO: implement cancellation\n}\n",
        )
        assert "`no-todo-markers` (pattern `TODO`)" in todo
        # the TODO already in list-orders.ts is left alone by an unrelated edit
        await call(
            client,
            "edit_file",
            story=s.STORY,
            path="packages/core/src/orders/list-orders.ts",
            edits=[{"old_text": "newest first", "new_text": "newest first (stable)"}],
        )

        port = await refused(
            client,
            "edit_file",
            story=s.STORY,
            path="packages/backend/src/config.ts",
            edits=[{"old_text": "?? 3001", "new_text": "?? 4000"}],
        )
        assert "`no-port-or-env-change`" in port
        reads_env = await call(
            client,
            "write_file",
            story=s.STORY,
            path="packages/backend/src/port-info.ts",
            content="export const apiPort = (): string | undefined => process.env.API_PORT;\n",
        )
        assert reads_env["change"]["kind"] == "created"

        http = await refused(
            client, "write_file", story=s.STORY, path="apps/api/api/orders/cancel.http", content=s.CANCEL_HTTP
        )
        assert "`http-files-under-http-dir`" in http
        assert "write `__http__/cancel.http`" in http

        checked = await call(
            client,
            "check_path",
            path="packages/core/src/orders/x.ts",
            story=s.STORY,
            content="const h = await import('hono');\n",
        )
        assert (checked["allowed"], checked["rule"], checked["pattern"]) == (False, "core-transport-agnostic", "hono")

    assert config.read_text(encoding="utf-8") == config_before
    assert "// TODO: pagination" in list_orders.read_text(encoding="utf-8")
    assert "newest first (stable)" in list_orders.read_text(encoding="utf-8")
    assert not (root / "packages/core/src/orders/http.ts").exists()
    assert not (root / "packages/backend/src/cancel.ts").exists()
    assert not (root / "apps/api/api/orders/cancel.http").exists()


async def test_a_package_whose_manifest_depends_on_react_is_frontend_whatever_its_folder(
    example_repo: Path,
) -> None:
    root = example_repo
    admin = root / "apps/admin"
    (admin / "api").mkdir(parents=True)
    manifest = {"name": "@example/admin", "private": True, "dependencies": {"next": "15.0.0", "react": "19.0.0"}}
    (admin / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    async with connect(root) as client:
        decision = await call(client, "check_path", path="apps/admin/api/stats.ts")
        assert decision["allowed"] is False
        assert decision["rule"] == "no-frontend-packages-by-manifest"
        assert "@example/admin" in decision["message"]
        route = await call(client, "check_path", path="apps/admin/app/api/stats/route.ts")
        assert route["allowed"] is True
        backend = await call(client, "check_path", path="packages/backend/src/x.ts")
        assert backend["allowed"] is True
