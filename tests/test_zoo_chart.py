"""benchmarks/zoo_chart.py: the Pareto front it computes, the picture it draws from the repository's data."""

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("zoo_chart", ROOT / "benchmarks" / "zoo_chart.py")
zoo_chart = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo_chart)
pareto_front = zoo_chart.pareto_front


def test_dominated_points_are_left_out_and_the_front_is_in_increasing_x():
    # (latency, accuracy): (2, 90) is slower and less accurate than (1, 91); (3, 89) worse than both
    points = [(2.0, 90.0), (1.0, 91.0), (5.0, 95.0), (3.0, 89.0), (0.5, 80.0)]
    assert pareto_front(points, minimize_x=True) == [4, 1, 2]


def test_throughput_is_better_higher():
    points = [(100.0, 95.0), (1000.0, 92.0), (500.0, 91.0), (50.0, 94.0)]
    assert pareto_front(points, minimize_x=False) == [0, 1]


def test_ties():
    # equal points dominate neither other: both stay
    assert pareto_front([(1.0, 90.0), (1.0, 90.0)], minimize_x=True) == [0, 1]
    # same latency: the more accurate wins; same accuracy: the faster wins
    assert pareto_front([(1.0, 90.0), (1.0, 91.0)], minimize_x=True) == [1]
    assert pareto_front([(2.0, 90.0), (1.0, 90.0)], minimize_x=True) == [1]
    assert pareto_front([(2.0, 90.0), (1.0, 90.0)], minimize_x=False) == [0]


def test_a_single_point_and_none():
    assert pareto_front([(3.0, 50.0)], minimize_x=True) == [0]
    assert pareto_front([], minimize_x=False) == []


_coords = st.integers(0, 20).map(float)


@given(st.lists(st.tuples(_coords, _coords), max_size=30), st.booleans())
def test_the_front_is_exactly_the_undominated_points(points, minimize_x):
    def dominates(a, b):
        x_ok = a[0] <= b[0] if minimize_x else a[0] >= b[0]
        return x_ok and a[1] >= b[1] and a != b

    front = pareto_front(points, minimize_x=minimize_x)
    assert front == sorted(front, key=lambda i: (points[i][0], points[i][1], i))
    for i, p in enumerate(points):
        assert (i in front) == (not any(dominates(q, p) for q in points))


def test_the_repository_table_reads_as_a_user_gets_each_file():
    records = zoo_chart.read_records()
    source = zoo_chart.read_latency(records=records)
    zoo_chart.check_records(source.points, records)
    assert (source.date, source.machine) == ("2026-11-30", "AMD EPYC, 1 core")
    by_key = {(p.model, p.runtime, p.variant): p for p in source.points}
    assert len(by_key) == len(source.points)
    # fp32: onnxruntime's 9,234 of 10,000; int8: that less the drop (-0.02 points); bf16: the fp32 figure
    assert by_key["fashion-cnn", "onnxruntime", "fp32"].top1 == pytest.approx(92.34)
    assert by_key["fashion-cnn", "openvino", "int8"].top1 == pytest.approx(92.36)
    assert by_key["fashion-cnn", "openvino", "bf16"].top1 == pytest.approx(92.34)
    assert by_key["fashion-cnn", "torch-cpu", "fp32"].p50_ms_1 == pytest.approx(0.332)
    assert by_key["fashion-mlp", "openvino", "int8"].ips_256 == 497_385
    # the refused int8 export has no point
    assert source.refused_int8 == ["fashion-cnn-baseline"]
    assert not any(p.model == "fashion-cnn-baseline" and p.variant == "int8" for p in source.points)


def test_the_script_writes_the_same_png_twice(tmp_path, capsys):
    first, second = tmp_path / "a" / "zoo.png", tmp_path / "zoo.png"
    assert zoo_chart.main(["--out", str(first)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front, accuracy vs p50 latency at batch 1:" in out
    assert "fashion-mlp onnxruntime/fp32" in out  # the fastest single-image model is on the front
    assert zoo_chart.main(["--out", str(second)]) == 0
    data = first.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < len(data) < 400_000
    assert data == second.read_bytes()
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_table_without_a_column_is_one_line_naming_it(tmp_path, capsys):
    table = tmp_path / "latency.md"
    text = zoo_chart.LATENCY_MD.read_text().replace("| img/s @256 |", "| images @256 |")
    table.write_text(text)
    out = tmp_path / "zoo.png"
    assert zoo_chart.main(["--latency", str(table), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {table}: table lacks the column 'img/s @256'"
    assert not out.exists()
