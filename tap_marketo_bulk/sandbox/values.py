"""Typed sample values per Marketo dataType, and how Marketo writes them into export files.

Values live in small per-column pools (typed, exactly as a correct tap emits them); rows pick from
the pools. That keeps a 200,000-lead x 60-column instance at a few MB instead of GBs.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from .timeutil import iso, iso_date

# Strings that break naive CSV handling. Never "" (empties are None) and never the literal "null".
TRICKY_STRINGS: tuple[str, ...] = (
    "Smith, John",
    'He said "hello"',
    '"',
    '"Quoted" at start',
    "O'Brien",
    "Ünïcödé Çafé",
    "北京市朝阳区",
    "日本語のテキスト",
    "한국어 텍스트",
    "😀 emoji 🚀 rocket",
    "line\u2028separator",
    "para\u2029separator",
    "nul\x00byte",
    "stray\rcarriage",
    " padded ",
    "semi;colon",
    "tab\tinside",
    "a,b,,c",
    "back\\slash\\",
    "<b>html</b> &amp;",
    "=SUM(A1:A2)",
    "NULLish",
    "None",
    "true",
    "0",
)
MULTILINE_STRINGS: tuple[str, ...] = (
    "line one\nline two",
    "windows\r\nline ending",
    "blank\n\nline",
    "trailing newline\n",
    "\nleading newline",
    'quote "and"\nnewline, comma',
    "mixed\r\n\u2028all\x00kinds",
)
WORDS: tuple[str, ...] = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell",
    "Cyberdyne", "Aperture", "Soylent", "Vandelay", "Massive", "Dynamic", "Oceanic", "Pied Piper",
    "Anna", "Bob", "Chloé", "Dmitri", "Eve", "François", "Grace", "Hiro", "Ingrid", "José", "Zoë",
)
DOMAINS: tuple[str, ...] = ("example.com", "example.org", "mail.example.net", "例え.jp")
EMAIL_LOCALS: tuple[str, ...] = ("info", "a.b+tag", "First.Last")
LEAD_FUNCTIONS: tuple[str, ...] = ("Sales", "Marketing", "IT", "Finance", "Opérations")

NULL_SHARE = 0.08


def _string_value(rng: random.Random, multiline: bool) -> str:
    roll = rng.random()
    if multiline and roll < 0.3:
        return rng.choice(MULTILINE_STRINGS)
    if roll < 0.5:
        return rng.choice(TRICKY_STRINGS)
    words = rng.sample(WORDS, rng.randint(1, 3))
    return " ".join(words) + (f" {rng.randint(1, 999)}" if rng.random() < 0.3 else "")


def _clean_float(value: float, digits: int) -> float:
    # Keep magnitudes where repr() has no exponent, as Marketo writes plain decimals.
    return round(value, digits)


def _datetime_value(rng: random.Random, span: tuple[int, int]) -> str:
    return iso(rng.randint(span[0], span[1]))


GENERATORS: dict[str, Callable[[random.Random, tuple[int, int]], Any]] = {
    "string": lambda rng, span: _string_value(rng, multiline=False),
    "lead_function": lambda rng, span: rng.choice(LEAD_FUNCTIONS),
    "text": lambda rng, span: _string_value(rng, multiline=True),
    "textarea": lambda rng, span: _string_value(rng, multiline=True),
    "email": lambda rng, span: f"{rng.choice(EMAIL_LOCALS)}@{rng.choice(DOMAINS)}",
    "phone": lambda rng, span: rng.choice(
        ("+1 (555) 010-{:04d}", "+44 20 7946 {:04d}", "555.010.{:04d} x12", "+81-3-5555-{:04d}")
    ).format(rng.randint(0, 9999)),
    "url": lambda rng, span: rng.choice(
        ("https://example.com/p?a=1&b={}", "http://例え.jp/パス/{}", "https://example.com/a,b/{}")
    ).format(rng.randint(1, 999)),
    "integer": lambda rng, span: rng.choice((0, -1, 2147483647, rng.randint(-1000, 100000))),
    "score": lambda rng, span: rng.randint(-20, 300),
    "reference": lambda rng, span: rng.randint(1, 99999),
    "percent": lambda rng, span: _clean_float(rng.uniform(0, 100), 2),
    "float": lambda rng, span: _clean_float(rng.uniform(-5000, 5000), 4),
    "currency": lambda rng, span: _clean_float(rng.uniform(0, 5_000_000), 2),
    "boolean": lambda rng, span: rng.random() < 0.5,
    "date": lambda rng, span: iso_date(rng.randint(-631152000, 1104537600)),  # 1950..2004
    "datetime": _datetime_value,
}


def make_pool(rng: random.Random, data_type: str, size: int, span: tuple[int, int]) -> list[Any]:
    """`size` typed values of `data_type` (about 8% None), drawn from `rng`."""
    generate = GENERATORS.get(data_type, GENERATORS["string"])
    pool: list[Any] = [
        None if rng.random() < NULL_SHARE else generate(rng, span) for _ in range(size)
    ]
    if data_type in ("string", "text", "textarea") and size >= len(TRICKY_STRINGS):
        # make sure every tricky value shows up at least once in each string column
        extras = list(TRICKY_STRINGS) + (list(MULTILINE_STRINGS) if data_type != "string" else [])
        pool[: len(extras)] = extras[:size]
    return pool


def format_cell(value: Any, *, digit_booleans: bool = False) -> str:
    """How Marketo writes a typed value into an export file (before CSV quoting)."""
    if value is None:
        return "null"
    if value is True:
        return "1" if digit_booleans else "true"
    if value is False:
        return "0" if digit_booleans else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": ";"}


def make_quoter(delimiter: str) -> Callable[[str], str]:
    """RFC 4180 minimal quoting. Unlike csv.writer with a "\\n" terminator, also quotes bare CR."""
    needs_quotes = re.compile("[" + re.escape(delimiter) + '"\r\n]').search

    def quote(text: str) -> str:
        if needs_quotes(text):
            return '"' + text.replace('"', '""') + '"'
        return text

    return quote
