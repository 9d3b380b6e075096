"""Sample values per Marketo dataType, how Marketo writes them into files, and what they mean.

Values live in small per-column pools; rows pick from the pools. That keeps a 200,000-lead x
60-column instance at a few MB instead of GBs. A pool holds each value as Marketo's documentation
says a consumer must read the text Marketo writes (DOCUMENTED_VALUE below): the truth comes from
the documented meaning of the file's text, never from what the tap believes.
"""

from __future__ import annotations

import json
import random
import re
import string
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
    # Text that looks like a number or a date stays text: zip codes, ids, versions.
    "02134",
    "007",
    "1e5",
    "12.50",
    "-0",
    "0x1F",
    "2024-01-05",
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

# What the text of a cell of each dataType means, as Marketo's "Field Types" page documents it
# (shared/marketo-docs/api-notes.md, section 9). The sandbox's own reading of its files, written
# from that page alone: it is what GroundTruth holds, whatever any tap believes.
_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}  # 1/0: older files
DOCUMENTED_VALUE: dict[str, Callable[[str], Any]] = {
    "string": str,  # short text (up to 255 characters)
    "text": str,
    "textarea": str,  # up to 30,000 bytes
    "email": str,
    "phone": str,
    "url": str,
    "reference": str,  # a key to another record: CRM ids keep their leading zeros and letters
    "integer": int,
    "score": int,
    "percent": float,  # documented as an integer percentage; real exports carry decimals
    "float": float,
    "currency": float,
    "boolean": _BOOLEAN_TEXT.__getitem__,
    "date": str,  # YYYY-MM-DD
    "datetime": str,  # ISO 8601, 2017-09-08T16:39:14Z
}  # anything else (lead_function, array, new types) is kept as text; formula is not exported


def documented_value(data_type: str, text: str) -> Any:
    """The value a cell's text stands for, per DOCUMENTED_VALUE; `null` is no value."""
    if text == "null":
        return None
    return DOCUMENTED_VALUE.get(data_type, str)(text)


# Textarea holds up to 30,000 bytes (section 9): one value close to that, with every hazard.
TEXTAREA_MAX_BYTES = 30_000


def long_textarea(max_bytes: int = TEXTAREA_MAX_BYTES) -> str:
    chunk = 'Notes, "quoted" — 北京 😀\nline\r\nU+2028\u2028; '
    text = chunk * (max_bytes // len(chunk.encode("utf-8")))
    while len(text.encode("utf-8")) > max_bytes:
        text = text[:-1]
    return text.rstrip() + "."


LONG_TEXTAREA = long_textarea()

# CRM ids, the values of reference fields (foreign keys into the CRM a Marketo instance syncs
# with): Salesforce ids are 15 case-sensitive or 18 case-safe base-62 characters, starting with a
# 3-character object prefix; other CRMs use digit strings with leading zeros.
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SFDC_PREFIXES = ("001", "003", "005", "006", "00Q", "701")  # account, contact, user, ...
_SFDC_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"


def salesforce_id(rng: random.Random, length: int = 18) -> str:
    """A well-formed Salesforce id: prefix, pod, record number; 18-char ones with the case-safe
    suffix (one character per 5, encoding which of them are upper case)."""
    pod = rng.choice(("50", "0J", "8a", "3t", "4W"))
    record = "0" * rng.randint(2, 5)
    record += "".join(rng.choice(_BASE62) for _ in range(10 - len(record)))
    short = rng.choice(_SFDC_PREFIXES) + pod + record
    if length == 15:
        return short
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(short[start : start + 5]) if char.isupper())
        suffix += _SFDC_SUFFIX_ALPHABET[bits]
    return short + suffix


def crm_id(rng: random.Random) -> str:
    """Mostly 18-character Salesforce ids, some 15-character ones, some digits with leading 0s."""
    roll = rng.random()
    if roll < 0.7:
        return salesforce_id(rng)
    if roll < 0.8:
        return salesforce_id(rng, 15)
    return "00" + "".join(rng.choice(string.digits) for _ in range(16))


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
        ("+1 (555) 010-{:04d}", "+44 20 7946 {:04d}", "555.010.{:04d} x12", "+81-3-5555-{:04d}",
         "0044 20 7946 {:04d}", "0{:04d}")
    ).format(rng.randint(0, 9999)),
    "url": lambda rng, span: rng.choice(
        ("https://example.com/p?a=1&b={}", "http://例え.jp/パス/{}", "https://example.com/a,b/{}")
    ).format(rng.randint(1, 999)),
    "integer": lambda rng, span: rng.choice((0, -1, 2147483647, rng.randint(-1000, 100000))),
    "score": lambda rng, span: rng.randint(-20, 300),
    "reference": lambda rng, span: crm_id(rng),
    "percent": lambda rng, span: _clean_float(rng.uniform(0, 100), 2),
    "float": lambda rng, span: _clean_float(rng.uniform(-5000, 5000), 4),
    "currency": lambda rng, span: _clean_float(rng.uniform(0, 5_000_000), 2),
    "boolean": lambda rng, span: rng.random() < 0.5,
    "date": lambda rng, span: iso_date(rng.randint(-631152000, 1104537600)),  # 1950..2004
    "datetime": _datetime_value,
}


def make_pool(rng: random.Random, data_type: str, size: int, span: tuple[int, int]) -> list[Any]:
    """`size` values of `data_type` (about 8% None), drawn from `rng`, each as DOCUMENTED_VALUE
    reads the text Marketo writes for it."""
    generate = GENERATORS.get(data_type, GENERATORS["string"])
    pool: list[Any] = [
        None if rng.random() < NULL_SHARE else generate(rng, span) for _ in range(size)
    ]
    extras: list[Any] = []
    if data_type in ("string", "text", "textarea"):
        # every tricky value shows up at least once in each string column
        extras = list(TRICKY_STRINGS) + (list(MULTILINE_STRINGS) if data_type != "string" else [])
        if data_type == "textarea":
            extras.append(LONG_TEXTAREA)
    elif data_type == "reference":
        # each kind of CRM id in every reference column
        extras = ["0015000000aBcDeAAA", "001656783185136518", salesforce_id(rng, 15)]
    if size >= len(extras):
        pool[: len(extras)] = extras
    return [documented_value(data_type, format_cell(value)) for value in pool]


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
