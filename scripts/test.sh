#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [pytest args...]
#
# Creates (or refreshes) .venv with the python3 on PATH, installs the tap with its test extras
# in editable mode, and runs the whole pytest suite from the repository root. Extra arguments go
# to pytest (e.g. `bash scripts/test.sh -m "not e2e"` or `-k leads`).
#
# End-to-end tests need PostgreSQL server binaries and the meltano CLI ($MELTANO_BIN or
# .venv-meltano/bin/meltano); without them they are skipped locally and fail under CI=true.
# .ci/run installs both.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1

want=$("$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ needed"; print("%d.%d" % sys.version_info[:2])')
have=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
if [[ "$want" != "$have" ]]; then
    # Missing, broken, or made by another Python: a venv can't be upgraded across versions.
    echo "test.sh: creating $VENV with $("$PYTHON" --version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

echo "test.sh: installing tap-marketo-bulk[test] into $VENV"
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

# singer-sdk ships python-backoff, which provides the `backoff` module; the old `backoff`
# distribution would overwrite it with an incompatible version.
if "$VENV/bin/python" -c 'import importlib.metadata as m; m.distribution("backoff")' 2>/dev/null; then
    echo "test.sh: the 'backoff' distribution is installed in $VENV; it conflicts with python-backoff" >&2
    exit 1
fi

status=0
# --durations: the slowest tests (the end-to-end runs) and their times end up in CI's log.
"$VENV/bin/python" -m pytest --durations=10 "$@" || status=$?
if [[ $status -eq 5 ]]; then
    # pytest's "no tests collected": never a pass.
    echo "test.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
