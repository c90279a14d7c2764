#!/usr/bin/env bash
# PostgreSQL server binaries for the distributed-tuning tests (Debian's `postgresql`). The tests start
# and remove their own throwaway cluster; without the binaries they skip with a reason.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian's postgresql for the distributed-tuning tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # the package may start its default cluster; the tests use their own
    (command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
        pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done) || true
    exit 0
fi
echo "note: PostgreSQL is not installed; its tests will be skipped (apt-get install -y postgresql)" >&2
