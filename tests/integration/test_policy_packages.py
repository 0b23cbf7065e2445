"""The manifest rule on the example monorepo's workspace packages, as the packages adapter reads them from disk."""

from __future__ import annotations

from storyfence.adapters.packages import WorkspacePackages
from storyfence.core.decisions import decide_write
from storyfence.core.policy import PackageFacts, Policy
from tests.support.paths import EXAMPLES
from tests.support.policies import backend_policy

POLICY: Policy = backend_policy()


def test_the_example_workspace_packages_refuse_the_frontend_and_allow_the_backend() -> None:
    ws = WorkspacePackages(EXAMPLES)
    facts = [PackageFacts(dir=p.dir, name=p.name, dependencies=p.dependencies) for p in ws.packages]
    assert {f.name for f in facts} >= {"@example/web", "@example/ui", "@example/backend", "@example/core"}
    assert decide_write(POLICY, "packages/backend/src/orders.ts", packages=facts).allowed is True
    assert decide_write(POLICY, "packages/core/src/orders/cancel-order.ts", packages=facts).allowed is True
    assert decide_write(POLICY, "apps/api/api/orders/cancel.ts", packages=facts).allowed is True
    # the example's frontend folders are refused by their names first; by manifest when renamed
    renamed = [f.model_copy(update={"dir": "apps/storefront"}) if f.name == "@example/web" else f for f in facts]
    decision = decide_write(POLICY, "apps/storefront/api/orders.ts", packages=renamed)
    assert (decision.allowed, decision.rule, decision.pattern) == (False, "no-frontend-packages-by-manifest", "react")
