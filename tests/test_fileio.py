"""zoo.core.fileio.read_json_object: the one reader of zoo's JSON object files (run.json, request.json,
model.json, results.json, preprocessing sidecars). Whatever the file holds, the answer is its object or one
line of the caller's error naming the file, the problem and the fix."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.errors import CheckpointError, ZooError
from zoo.core.fileio import read_json_object

FIX = "do the fix"
# no subnormal floats: training sets flush-to-zero for the whole process (RESULTS "Subnormal floats"), and
# hypothesis refuses to draw them once it is set, so the test failed or passed by which test ran before it
finite = st.floats(allow_nan=False, allow_subnormal=False)
scalars = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
)


def one_line_about(exc: ZooError, path, *words: str) -> bool:
    text = str(exc)
    return len(text.splitlines()) == 1 and text.startswith(str(path)) and all(w in text for w in words)


@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_an_object_comes_back_and_anything_else_is_one_line(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("j") / "file.json"
    path.write_text(json.dumps(value))
    if isinstance(value, dict):
        text, data = read_json_object(path, CheckpointError, fix=FIX)
        assert data == value and json.loads(text) == value
    else:
        with pytest.raises(CheckpointError) as caught:
            read_json_object(path, CheckpointError, fix=FIX)
        assert one_line_about(caught.value, path, "must hold one JSON object", type(value).__name__, FIX)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, ("does not exist", "write it first")),
        (lambda p: p.mkdir(), ("cannot be read", "Is a directory", FIX)),
        (lambda p: p.write_bytes(b'{"a": "\xff\xfe"}'), ("cannot be read", FIX)),
        (lambda p: p.write_text('{"a": 1'), ("is not valid JSON", FIX)),
        (lambda p: p.write_text(""), ("is not valid JSON", FIX)),
    ],
    ids=["missing", "a folder", "not utf-8", "cut off", "empty"],
)
def test_each_way_a_file_can_be_wrong_is_one_line_with_its_fix(tmp_path, make, words):
    path = tmp_path / "run.json"
    make(path)
    with pytest.raises(CheckpointError) as caught:
        read_json_object(path, CheckpointError, fix=FIX, missing="write it first")
    assert one_line_about(caught.value, path, *words), caught.value
