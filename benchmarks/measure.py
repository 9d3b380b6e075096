"""Run one command and report its wall time and peak RSS as JSON (stdlib only, run with -S -I).

    python -S -I benchmarks/measure.py OUT.json -- COMMAND [ARGS...]

Why a separate process: Linux counts the parent's memory at fork time into the child's
`ru_maxrss` (the pre-exec image's high-water mark is kept across exec). Spawned from the
benchmark process, which holds a sandbox with a million activities, every child would report
~200 MB. This launcher is ~10 MB, so the figure it reports is the command's own.

stdin/stdout/stderr are inherited: the caller redirects them.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    out_path, command = argv[1], argv[3:]
    started = time.time()
    pid = os.posix_spawn(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    ended = time.time()
    result = {
        "started": started,
        "ended": ended,
        "wall_seconds": ended - started,
        "exit_code": os.waitstatus_to_exitcode(status),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "user_seconds": usage.ru_utime,
        "system_seconds": usage.ru_stime,
    }
    with open(out_path, "w", encoding="utf-8") as file:
        json.dump(result, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
