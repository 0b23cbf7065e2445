"""The benchmark's side orders: every side comes right after every other side equally often, so what one side
leaves for the disk (a sync, a rename) never lands on the same neighbour's timing every time."""

from __future__ import annotations

from collections import Counter

import pytest
from bench.stats import balanced_orders


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_each_side_follows_each_other_side_equally_often_and_runs_once_per_order(n: int) -> None:
    orders = balanced_orders(n)
    assert all(sorted(order) == list(range(n)) for order in orders)
    follows = Counter((order[i], order[i + 1]) for order in orders for i in range(n - 1))
    assert set(follows) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert len(set(follows.values())) == 1
    firsts = Counter(order[0] for order in orders)
    assert set(firsts) == set(range(n))
    assert len(set(firsts.values())) == 1
