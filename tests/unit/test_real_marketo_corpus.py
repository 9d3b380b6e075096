"""tests/real_marketo/corpus.py itself, on a made-up folder: where the captures are found, and
that a new file is classified by its content (or refused, naming it) without code changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real_marketo import corpus


def test_the_env_var_points_to_the_captures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(corpus.ENV_VAR, str(tmp_path))
    assert corpus.corpus_dir() == (tmp_path, "")
    monkeypatch.setenv(corpus.ENV_VAR, str(tmp_path / "missing"))
    folder, why = corpus.corpus_dir()
    assert folder is None and corpus.ENV_VAR in why and "not a directory" in why


def test_without_the_folder_the_reason_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(corpus.ENV_VAR, raising=False)
    monkeypatch.setattr(corpus, "REPO_ROOT", tmp_path / "a" / "repo")
    folder, why = corpus.corpus_dir()
    assert folder is None and "shared/real-marketo/" in why and corpus.ENV_VAR in why
    (tmp_path / "shared" / "real-marketo").mkdir(parents=True)  # beside a parent of the repo
    assert corpus.corpus_dir() == (tmp_path / "shared" / "real-marketo", "")


def test_new_files_are_classified_by_content(tmp_path: Path) -> None:
    files = {
        "odd-name.txt": "id,firstName\n1,Ann\n",
        "x.json": json.dumps({"result": [{"name": "a", "dataType": "string"}], "success": True}),
        "pages": json.dumps({"responses": [{"result": [{"id": 1}], "success": True}]}),
        "recorded": (
            "GET /rest/v1/lists.json\naccept: */*\n\nHTTP/1.1 200 OK\n"
            'content-type: application/json\n\n{"result": [], "success": true}\n'
        ),
        "sub/notes.md": 'a run: {"exportId": "e1", "status": "Queued"}',
        ".hidden": "ignored",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = corpus.discover(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == sorted(
        n for n in files if not n.startswith(".")
    )
    kinds = {p.name: corpus.classify(p).kind for p in found}
    assert kinds == {
        "odd-name.txt": corpus.EXPORT_FILE,
        "x.json": corpus.DESCRIBE,
        "pages": corpus.REST_PAGES,
        "recorded": corpus.HTTP_EXCHANGE,
        "notes.md": corpus.JOB_RUN_NOTES,
    }


def test_an_unrecognised_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "mystery.bin"
    path.write_text("just some words, nothing Marketo wrote\n\nmore")
    with pytest.raises(corpus.Unrecognised, match=r"mystery\.bin: not a CSV"):
        corpus.classify(path)
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(corpus.Unrecognised, match="blob: not UTF-8"):
        corpus.classify(binary)
