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


def test_the_packages_are_read_once_while_nothing_they_were_read_from_changed(tmp_path: Path) -> None:
    """Each decision checks what the packages were read from (by identity) and reads them again only when that
    changed: with every input settled (an hour old), the same facts come back, and an edited manifest is read."""
    import os
    import time

    root = copy_example(tmp_path / "repo", node_modules=False)
    old = time.time() - 3600
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (old, old), follow_symlinks=False)
    os.utime(root, (old, old))
    repo = StoryfenceService(root, backend_policy()).repo
    first = repo.packages()
    assert repo.packages() is first  # nothing changed: not read again
    (root / "packages/core/package.json").write_text('{"name": "@example/core"}\n', encoding="utf-8")
    assert repo.packages() is not first  # a manifest changed: read again
