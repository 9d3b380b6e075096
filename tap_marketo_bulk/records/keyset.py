"""KeySet: the primary keys a stream emitted this run, kept compactly, to drop repeated records.

Marketo returns a record twice at window boundaries (and around daylight-saving changes), so a
bulk stream remembers every key it emitted. A plain `set` of 1,000,000 activity marketoGUIDs
(decimal strings) costs ~100 MB; Marketo's keys are almost always non-negative integers that
are dense (lead ids, activity GUIDs), so those are kept as bits instead: 1 bit per id in the
span the ids cover (1M consecutive GUIDs: 128 KB). Keys of any other shape (text, tuples,
None, ids with leading zeros) go to a plain set.

A sparse id space would make bits more expensive than a set, so the bitmap stops growing when
it costs more than `_MAX_BITMAP_BYTES_PER_KEY` per key stored; the ids that would have needed
a new chunk from then on go to the plain set. Either way one key always lands in the same place,
so membership stays exact.

Ids and their decimal text share the bitmap (7 and "7" are one key): a stream's key column has
one type (its coercer's), so the two never meet in one KeySet.
"""

from __future__ import annotations

from collections.abc import Hashable

_CHUNK_SHIFT = 15  # 32768 ids per chunk
_CHUNK_MASK = (1 << _CHUNK_SHIFT) - 1
_CHUNK_BYTES = 1 << (_CHUNK_SHIFT - 3)  # 4 KiB
_CHUNK_OVERHEAD = 150  # bytearray object + dict entry, roughly
# The bitmap may always grow to this many chunks (4 MiB); past it, it doubles only while dense.
_FIRST_CHUNK_CHECK = 1024
# A set of ints costs ~70 bytes a key; past this, bits no longer pay for themselves.
_MAX_BITMAP_BYTES_PER_KEY = 48


class KeySet:
    """Exact membership of hashable keys; compact for non-negative integers and their text."""

    __slots__ = ("_chunks", "_growing", "_next_check", "_others")

    def __init__(self) -> None:
        self._chunks: dict[int, bytearray] = {}
        self._others: set[Hashable] = set()
        self._growing = True
        self._next_check = _FIRST_CHUNK_CHECK

    def add(self, key: Hashable) -> bool:
        """Record `key`; True when it was not there yet (the record is new)."""
        cls = key.__class__
        if cls is str:
            # Canonical decimal text only ("12", not "012", "+12" or "١٢"), so that distinct
            # strings never share an id; Marketo writes marketoGUID as such text.
            if not (key.isascii() and key.isdigit() and key[0] != "0"):  # type: ignore[union-attr]
                return self._add_other(key)
            number = int(key)  # type: ignore[call-overload]
        elif cls is int and key >= 0:  # type: ignore[operator]
            number = key  # type: ignore[assignment]
        else:
            return self._add_other(key)
        chunk = self._chunks.get(number >> _CHUNK_SHIFT)
        if chunk is None:
            chunk = self._new_chunk(number >> _CHUNK_SHIFT)
            if chunk is None:
                return self._add_other(number)
        offset = number & _CHUNK_MASK
        index = offset >> 3
        bit = 1 << (offset & 7)
        byte = chunk[index]
        if byte & bit:
            return False
        chunk[index] = byte | bit
        return True

    def __contains__(self, key: object) -> bool:
        number = _as_id(key)
        if number is None:
            return key in self._others
        chunk = self._chunks.get(number >> _CHUNK_SHIFT)
        if chunk is None:
            return number in self._others
        offset = number & _CHUNK_MASK
        return bool(chunk[offset >> 3] & (1 << (offset & 7)))

    def __len__(self) -> int:
        return len(self._others) + sum(_bit_count(chunk) for chunk in self._chunks.values())

    @property
    def approximate_bytes(self) -> int:
        """Memory the keys take, roughly (for logs and benchmarks)."""
        return len(self._chunks) * (_CHUNK_BYTES + _CHUNK_OVERHEAD) + len(self._others) * 70

    def _add_other(self, key: Hashable) -> bool:
        others = self._others
        if key in others:
            return False
        others.add(key)
        return True

    def _new_chunk(self, high: int) -> bytearray | None:
        """A new chunk for ids `high << _CHUNK_SHIFT ...`, or None once bits stopped paying."""
        if not self._growing:
            return None
        if len(self._chunks) >= self._next_check:
            keys = len(self)
            if len(self._chunks) * (_CHUNK_BYTES + _CHUNK_OVERHEAD) > (
                _MAX_BITMAP_BYTES_PER_KEY * keys
            ):
                self._growing = False
                return None
            self._next_check *= 2
        chunk = self._chunks[high] = bytearray(_CHUNK_BYTES)
        return chunk


def _as_id(key: object) -> int | None:
    """The id `add` files `key` under in the bitmap, or None when it goes to the plain set."""
    if key.__class__ is str:
        text: str = key  # type: ignore[assignment]
        return int(text) if text.isascii() and text.isdigit() and text[0] != "0" else None
    if key.__class__ is int and key >= 0:  # type: ignore[operator]
        return key  # type: ignore[return-value]
    return None


def _bit_count(chunk: bytearray) -> int:
    return int.from_bytes(chunk, "little").bit_count()
