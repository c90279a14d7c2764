#!/usr/bin/env bash
# Checks that zoo works on Python 3.11, 3.12 and 3.13 (issue 39), as a user installs it: from the wheel,
# outside the repository. It
#   1. builds the wheel once from the committed tree (git archive HEAD) and checks it holds zoo/weights/*/;
#   2. per Python: a fresh venv, `pip install <wheel> pytest hypothesis` (timed), then, from an empty
#      folder with ZOO_ARTIFACTS and ZOO_HOME pointing into it: `zoo --version`, `zoo models` and
#      `zoo.create_model('fashion-mlp', pretrained=True)` (the shipped weights come from the wheel);
#   3. a quick subset of tests/ (copied next to that empty folder, so `zoo` and `cli` are the installed
#      wheel's), files that need no repository file: see TESTS below (213 tests, 1 skipped without CUDA).
#      One of them (test_resnet's training test) reads Fashion-MNIST from /usr/share/datasets/fashion-mnist
#      and is skipped where it is absent; the rest and the smoke commands read no dataset.
# Prints one line per Python (install seconds, torch, smoke, tests) and exits 1 if any failed.
#
# Downloads: torch and torchvision are pinned (torch==2.14.1) and their wheels are per-Python. On the
# development machine (2026-12-07, 2 shared cores) the 3.11 wheels lie on a local index: install ~85 s,
# 124 MB from PyPI. For 3.12 and 3.13 pip downloads ~1 GB each from PyPI (torch 555 MB, triton 248 MB,
# nvjitlink 47 MB, scipy, onnxruntime, torchvision, numpy...): 80-110 s each there, 170-200 s while tests
# ran beside it. The CUDA libraries (nvidia-*, cuda-toolkit: py3-none wheels, ~2 GB) came from the local
# index; from PyPI alone count ~2 GB more per Python. Each venv takes 6 GB of disk (the script leaves them
# in $WORK); each test subset ~20-95 s. The whole script: ~10 minutes there.
#
# Usage: benchmarks/python_versions.sh [3.11 3.12 3.13]     (WORK=/tmp/zoo-pyversions by default)
# Each Python is found as ~/.pyenv/versions/3.XX.*/bin/python3.XX, else python3.XX on PATH.
set -u

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/zoo-pyversions}
VERSIONS=("$@")
[ ${#VERSIONS[@]} -eq 0 ] && VERSIONS=(3.11 3.12 3.13)
TESTS=(tests/test_registry.py tests/test_config.py tests/test_layers.py tests/test_metrics.py
       tests/test_budget.py tests/test_statistics.py tests/test_fileio.py tests/test_data_splits.py
       tests/test_resnet.py)

find_python() {  # the newest pyenv 3.X.y, else python3.X on PATH
    local v=$1 found
    found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -1)
    [ -n "$found" ] && { echo "$found"; return; }
    command -v "python$v"
}

case "$WORK" in /tmp/?*) ;; *) [ ! -e "$WORK" ] || { echo "WORK=$WORK exists and is not under /tmp: remove it first"; exit 2; } ;; esac
rm -rf "$WORK" && mkdir -p "$WORK/wheels" "$WORK/empty"

# 1. the wheel, from the committed tree
git -C "$REPO" archive HEAD --prefix=src/ | tar x -C "$WORK"
builder=$(find_python "${VERSIONS[0]}")
"$builder" -m pip wheel --quiet --no-deps -w "$WORK/wheels" "$WORK/src" || { echo "wheel build failed"; exit 1; }
wheel=$(ls "$WORK"/wheels/zoo-*.whl)
n_weights=$("$builder" -c "import sys, zipfile; print(sum(n.startswith('zoo/weights/') and n.count('/') == 3
    for n in zipfile.ZipFile(sys.argv[1]).namelist()))" "$wheel")
echo "wheel: $wheel ($n_weights files under zoo/weights/*/)"
[ "$n_weights" -gt 0 ] || { echo "the wheel holds no zoo/weights/*/ files"; exit 1; }

# the empty folder the checks run from: no zoo/ or cli/ beside it, its own artifacts and weights cache
cp -r "$WORK/src/tests" "$WORK/empty/tests"
export ZOO_ARTIFACTS="$WORK/empty/art" ZOO_HOME="$WORK/empty/home"
unset ZOO_DATA_DIR  # zoo has no switch to hide /usr/share/datasets (see 3. above)

failed=0
summary=()
for v in "${VERSIONS[@]}"; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then summary+=("$v: no python$v found"); failed=1; continue; fi
    venv="$WORK/py$v" log="$WORK/py$v.log"
    "$py" -m venv "$venv"
    start=$(date +%s)
    nice "$venv/bin/python" -m pip install --progress-bar off "$wheel" pytest hypothesis > "$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -ne 0 ]; then
        summary+=("$v: install FAILED after ${secs}s (see $log)"); failed=1; continue
    fi
    line="$("$venv/bin/python" -c 'import platform, torch; print(platform.python_version(), "torch", torch.__version__)')"
    line="Python $line, install ${secs}s"
    # smoke: each command must succeed (an && chain: set -e does not hold inside `( ... ) &&`)
    (
        cd "$WORK/empty" &&
        "$venv/bin/zoo" --version &&
        "$venv/bin/zoo" models > "$WORK/models-$v.txt" &&
        grep -q '^fashion-mlp ' "$WORK/models-$v.txt" &&
        "$venv/bin/python" -c "import zoo; m = zoo.create_model('fashion-mlp', pretrained=True); \
n = sum(p.numel() for p in m.parameters()); print(n); assert n > 0; \
assert zoo.__file__.startswith('$venv'), zoo.__file__"
    ) >> "$log" 2>&1 && line+=", smoke ok" || { line+=", smoke FAILED"; failed=1; }
    (cd "$WORK/empty" && nice "$venv/bin/python" -m pytest -q -x -p no:cacheprovider "${TESTS[@]}") \
        > "$WORK/tests-$v.txt" 2>&1
    rc=$?
    cat "$WORK/tests-$v.txt" >> "$log"
    tests=$(tail -1 "$WORK/tests-$v.txt")
    [ $rc -eq 0 ] && line+=", tests: $tests" || { line+=", tests FAILED: $tests"; failed=1; }
    summary+=("$line")
done

printf '%s\n' "${summary[@]}"
exit $failed
