"""A workspace package made outside the server (a shell, the user) is seen at the next decision: the
frontend-by-manifest rule must not miss a package because the server only watched the manifests it knew."""

from __future__ import annotations

import json
from pathlib import Path

from storyfence.app.service import StoryfenceService
from tests.support.policies import backend_policy
from tests.support.repos import copy_example


def test_a_frontend_package_made_outside_the_server_is_refused_at_the_next_decision(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "repo", node_modules=False)
    service = StoryfenceService(root, backend_policy())
    path = "packages/widgets/drizzle/schema.ts"  # allowed by `**/drizzle/**` wherever it is
    assert service.check_path("packages/core/src/orders/x.ts").allowed is True  # the packages are read
    assert service.check_path(path).allowed is True  # no such package yet: backend scope by its folder
    package = root / "packages/widgets"
    package.mkdir()
    manifest = {"name": "@example/widgets", "dependencies": {"react": "19.0.0"}}
    (package / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    decision = service.check_path(path)
    assert (decision.allowed, decision.rule) == (False, "no-frontend-packages-by-manifest")
