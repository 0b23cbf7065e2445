"""What a change can break: the workspace packages that depend on a changed one, directly or through others.

Pure: the graph comes in as values (each package directory and the directories of the workspace packages
it depends on, read from the manifests by adapters/packages.py). A cycle in the graph is walked once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping


def reverse(edges: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Each package directory and the directories of the packages that depend on it directly."""
    users: dict[str, list[str]] = {}
    for package, needs in edges.items():
        for needed in needs:
            if needed != package:
                users.setdefault(needed, []).append(package)
    return {needed: tuple(sorted(set(found))) for needed, found in users.items()}


def dependents(edges: Mapping[str, Iterable[str]], changed: Collection[str]) -> tuple[str, ...]:
    """Every package that depends on one of `changed`, directly or transitively, and is not in `changed`
    itself, sorted. `edges` maps a package directory to the directories it depends on."""
    users = reverse(edges)
    seen: set[str] = set()
    stack = list(changed)
    while stack:
        for user in users.get(stack.pop(), ()):
            if user not in seen:
                seen.add(user)
                stack.append(user)
    return tuple(sorted(seen - set(changed)))
