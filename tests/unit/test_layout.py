"""Layout learning (pure): a package's role follows from its runtime dependencies, not from a peer or dev one."""

from __future__ import annotations

from storyfence.core.layout import learn
from storyfence.core.repo_facts import PackageInfo, RepoFacts


def test_react_as_a_peer_or_dev_dependency_does_not_make_a_server_package_frontend() -> None:
    facts = RepoFacts(
        packages=(
            PackageInfo(dir="packages/trpc", name="@cal/trpc", runtime=("@trpc/server", "zod"), peer=("react",)),
            PackageInfo(dir="packages/pdf", name="@x/pdf", runtime=("react", "@react-pdf/renderer", "express")),
            PackageInfo(dir="packages/ui", name="@x/ui", runtime=("react", "react-dom")),
            PackageInfo(dir="packages/types", name="@x/types", dev=("typescript",)),
        )
    )
    roles = {r.package.dir: r.role for r in learn(facts).roles}
    assert roles == {
        "packages/trpc": "backend",
        "packages/pdf": "backend",
        "packages/ui": "frontend",
        "packages/types": "shared",
    }
