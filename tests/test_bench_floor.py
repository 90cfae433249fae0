"""bench/bench_floor.py's rate of a sweep: its own, or its shards' weighted by their spans."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_floor  # noqa: E402


def test_a_sweeps_own_rate_comes_first():
    rate, note = bench_floor.recorded_rate({"matmul_gflops_per_thread": 80.0, "shards": {
        "a": {"matmul_gflops_per_thread": 100.0, "span_seconds": 10.0}}})
    assert rate == 80.0 and "own" in note


def test_the_shards_rates_are_averaged_with_their_spans_as_weights():
    record = {"shards": {"a": {"matmul_gflops_per_thread": 100.0, "span_seconds": 3000.0},
                         "b": {"matmul_gflops_per_thread": 120.0, "span_seconds": 1000.0}}}
    rate, note = bench_floor.recorded_rate(record)
    assert rate == pytest.approx((100.0 * 3 + 120.0) / 4)
    assert "2 shards' own (100.0 to 120.0)" in note


def test_no_rate_when_the_sweep_or_a_shard_recorded_none():
    assert bench_floor.recorded_rate({}) is None
    assert bench_floor.recorded_rate({"shards": {
        "a": {"matmul_gflops_per_thread": 100.0, "span_seconds": 5.0},
        "b": {"span_seconds": 5.0}}}) is None
