"""metrics.latency: the buckets a duration falls in, the quantile interpolated within
its bucket (checked against a sorted list), and windows between two copies."""

from __future__ import annotations

import math
from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from metrics.latency import BOUNDS_NS, STAGES, Histogram, Stages, quantile, window

INF_BUCKET = len(BOUNDS_NS)           # the index of the +Inf bucket
LAST = BOUNDS_NS[-1]

# Durations anywhere from 0 to past the last bound, with the bounds themselves and
# their neighbours drawn often (where an off-by-one would show).
near_bounds = st.sampled_from(BOUNDS_NS).flatmap(
    lambda b: st.sampled_from((b - 1, b, b + 1)))
durations = st.lists(st.one_of(st.integers(0, 2 * LAST), near_bounds), max_size=300)
fractions = st.floats(0.0, 1.0)


def histogram_of(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.observe(v)
    return h


def bucket_of(ns: int) -> int:
    """The bucket of ``ns``, by looking at every bound in turn: the first bound that
    is not below it (bounds are inclusive upper bounds), or +Inf."""
    for i, bound in enumerate(BOUNDS_NS):
        if ns <= bound:
            return i
    return INF_BUCKET


def true_quantile(values: list[int], q: float) -> int:
    """The q-quantile of ``values`` as the histogram ranks it: the smallest value with
    at least ``q * n`` values at or below it (the first one when that is 0)."""
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered))
    return ordered[max(rank, 1) - 1]


def bucket_range(i: int) -> tuple[int, int]:
    """Bucket ``i`` as a closed range: its upper bound, and the bound below it (which
    an interpolation at the very start of the bucket returns)."""
    return (BOUNDS_NS[i - 1] if i else 0), BOUNDS_NS[i]


# -- properties --------------------------------------------------------------------------


@given(durations, fractions)
def test_the_quantile_lies_in_the_bucket_of_the_true_quantile(values: list[int],
                                                              q: float) -> None:
    h = histogram_of(values)
    got = quantile(h.counts, q)
    if not values:
        assert got is None
        return
    bucket = bucket_of(true_quantile(values, q))
    if bucket == INF_BUCKET:
        assert got == LAST
    else:
        low, high = bucket_range(bucket)
        assert low <= got <= high, (bucket, got)


@given(durations)
def test_count_and_sum_are_those_of_the_observations(values: list[int]) -> None:
    h = histogram_of(values)
    assert h.count == len(values)
    assert h.sum == sum(values)
    assert h.counts == [sum(1 for v in values if bucket_of(v) == i)
                        for i in range(INF_BUCKET + 1)]


@given(durations, durations)
def test_a_window_between_two_copies_holds_only_the_later_observations(
        before: list[int], after: list[int]) -> None:
    h = histogram_of(before)
    earlier = h.copy()
    for v in after:
        h.observe(v)
    assert window(h.copy(), earlier) == histogram_of(after).counts


@given(durations, fractions)
def test_quantiles_do_not_decrease_with_q(values: list[int], q: float) -> None:
    h = histogram_of(values)
    if values:
        assert quantile(h.counts, q / 2) <= quantile(h.counts, q)


# -- boundaries --------------------------------------------------------------------------


def test_a_value_equal_to_a_bound_falls_in_that_bound_s_bucket() -> None:
    for i, bound in enumerate(BOUNDS_NS):
        h = Histogram()
        h.observe(bound)
        assert h.counts[i] == 1, bound


def test_a_value_just_above_a_bound_falls_in_the_next_bucket() -> None:
    for i, bound in enumerate(BOUNDS_NS):
        h = Histogram()
        h.observe(bound + 1)
        assert h.counts[i + 1] == 1, bound


def test_the_buckets_agree_with_a_bisect_of_the_bounds() -> None:
    # The model used above (bucket_of) and the library's bisect see the same buckets.
    for ns in (0, 1, 999, 1000, 1001, 1_999_999, 2_000_000, LAST, LAST + 1):
        assert bucket_of(ns) == bisect_left(BOUNDS_NS, ns)


def test_a_value_above_the_last_bound_goes_to_the_inf_bucket() -> None:
    h = Histogram()
    h.observe(LAST + 1)
    assert h.counts[INF_BUCKET] == 1 and h.count == 1


def test_the_quantile_of_values_above_the_last_bound_is_the_last_bound() -> None:
    h = histogram_of([LAST * 5] * 10)
    assert quantile(h.counts, 0.5) == LAST
    assert quantile(h.counts, 0.99) == LAST


def test_no_observations_have_no_quantile() -> None:
    assert quantile(Histogram().counts, 0.99) is None
    assert quantile([], 0.5) is None


def test_the_quantile_is_linear_within_its_bucket() -> None:
    # 100 reads in (1 ms, 2 ms]: the median is half-way through that bucket, the p99
    # 99% of the way, as Prometheus' histogram_quantile computes it.
    h = histogram_of([1_500_000] * 100)
    assert quantile(h.counts, 0.5) == 1_500_000
    assert quantile(h.counts, 0.99) == 1_990_000


def test_the_quantile_interpolates_from_zero_in_the_first_bucket() -> None:
    h = histogram_of([10] * 4)
    assert quantile(h.counts, 0.5) == BOUNDS_NS[0] // 2


def test_the_bounds_are_1_2_5_steps_from_1_us_to_10_s() -> None:
    assert BOUNDS_NS[:4] == (1_000, 2_000, 5_000, 10_000)
    assert BOUNDS_NS[-2:] == (5_000_000_000, 10_000_000_000)
    assert list(BOUNDS_NS) == sorted(set(BOUNDS_NS))


def test_stages_hold_one_histogram_per_stage_in_order_path_order() -> None:
    stages = Stages()
    assert [name for name, _ in stages.items()] == list(STAGES)
    assert len({id(h) for _, h in stages.items()}) == len(STAGES)
    stages.get("journal").observe(5_000)
    assert stages.get("journal").count == 1 and stages.get("decode").count == 0
