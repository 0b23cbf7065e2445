"""The packages a change can break: every package that depends on a changed one, directly or through others."""

from __future__ import annotations

from storyfence.core.dependents import dependents, reverse

# core <- backend <- api; core <- api; ui <- web; tools depends on nothing
EDGES = {
    "packages/core": (),
    "packages/backend": ("packages/core",),
    "apps/api": ("packages/backend", "packages/core"),
    "packages/ui": (),
    "apps/web": ("packages/ui",),
    "tools": (),
}


def test_the_dependents_of_a_package_are_found_through_every_path_once() -> None:
    assert dependents(EDGES, ["packages/core"]) == ("apps/api", "packages/backend")
    assert dependents(EDGES, ["packages/backend"]) == ("apps/api",)
    assert dependents(EDGES, ["apps/api"]) == ()
    assert dependents(EDGES, ["tools"]) == ()


def test_changed_packages_are_never_their_own_dependents() -> None:
    assert dependents(EDGES, ["packages/core", "packages/backend"]) == ("apps/api",)
    assert dependents(EDGES, ["packages/core", "packages/ui"]) == ("apps/api", "apps/web", "packages/backend")


def test_a_cycle_is_walked_once_and_ends() -> None:
    cycle = {"a": ("b",), "b": ("c",), "c": ("a",), "d": ("c",)}
    assert dependents(cycle, ["a"]) == ("b", "c", "d")


def test_a_package_listing_itself_is_not_its_own_user() -> None:
    assert reverse({"a": ("a", "b")}) == {"b": ("a",)}
    assert dependents({"a": ("a",)}, ["a"]) == ()
