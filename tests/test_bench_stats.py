"""bench._stats.percentile: the one latency percentile of every benchmark."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench._stats import percentile


def test_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([4, 1, 3, 2], 50) == 2.0  # unsorted input is fine
    assert percentile(range(1, 101), 99) == 99.0
    assert percentile(range(1, 101), 100) == 100.0
    assert percentile([7.5], 1) == 7.5


@given(st.lists(st.floats(-1e6, 1e6), min_size=1), st.floats(0.01, 100))
def test_an_observed_value_with_p_percent_at_or_below(values: list[float], p: float) -> None:
    v = percentile(values, p)
    assert v in values
    assert sum(x <= v for x in values) >= len(values) * p / 100 - 1e-9
    assert sum(x < v for x in values) < len(values) * p / 100 or p == pytest.approx(100)
