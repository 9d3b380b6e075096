"""The bare floor: what reading an export file and writing JSON lines costs, with nothing else.

    python benchmarks/floor.py FILE.csv

A streaming csv reader (the same stdlib reader the tap uses, over the same UTF-8 decoding), one
dict per row and msgspec's JSON encoding of it, written to /dev/null; no types, no nulls, no
dedupe, no Singer envelope. Prints {"records": n, "seconds": s} (the loop only; the caller times
the process as well).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time

import msgspec


def main(argv: list[str]) -> int:
    path = argv[1]
    csv.field_size_limit(64 * 1024 * 1024)  # as the tap: long values must not fail the floor
    encode_into = msgspec.json.Encoder().encode_into
    line = bytearray()
    records = 0
    started = time.perf_counter()
    with open(path, "rb") as raw, open("/dev/null", "wb") as out:
        rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(rows)
        write = out.write
        for row in rows:
            encode_into(dict(zip(header, row, strict=False)), line)
            line += b"\n"
            write(line)
            records += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"records": records, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
