"""Read feature labels written by other tools (or by us) as {feature index: text}.

Accepted:
- a JSON object {"12": "dog breeds", ...};
- a JSON list of objects, or JSON lines (one object a line), each with the feature index under the first of
  `feature`, `index`, `latent`, `id` that it has and the text under the first of `label`, `description`,
  `explanation`. This reads our own labels.jsonl (FeatureLabel.to_dict() lines: "feature", "label") and
  Neuronpedia's exports ("index", "description"; their "id" is the explanation's own, hence the order).
  A record whose text is null (e.g. a dead feature of ours) is skipped;
- a delphi `explanations/` folder: files `<module>_latent<i>.txt`, each holding one JSON string. A folder with
  several modules needs `module=` to pick one.
Anything else is a ValueError whose one-line message names the file (and line or item) and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

INDEX_KEYS = ("feature", "index", "latent", "id")
TEXT_KEYS = ("label", "description", "explanation")
DELPHI_FILE = re.compile(r"^(?P<module>.+)_latent(?P<index>\d+)\.txt$")
EXAMPLE = '{"feature": 12, "label": "dog breeds"}'


def read_label_file(path: str | Path, module: str | None = None) -> dict[int, str]:
    """{feature index: label text} from a label file or a delphi explanations folder (see the module doc)."""
    path = Path(path)
    if path.is_dir():
        return _read_delphi(path, module)
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder; give a JSON / JSON-lines label file or a delphi "
                         "explanations/ folder")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8") from None
    if not text.strip():
        raise ValueError(f"{path}: the file is empty; give one JSON object per line such as {EXAMPLE}")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip())
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as err:
        if _parses(lines[first]):  # the first line is JSON by itself: JSON lines
            return _read_json_lines(path, lines)
        raise ValueError(f"{path}: line {err.lineno}: not valid JSON ({err.msg}); fix the JSON, or write one "
                         f"object per line such as {EXAMPLE}") from None
    if isinstance(whole, dict) and not _is_record(whole):
        return _read_mapping(path, whole)
    if isinstance(whole, dict):  # a JSON-lines file of one line
        return _collect(path, [(f"line {first + 1}", whole)])
    if isinstance(whole, list):
        return _collect(path, [(f"item {i + 1}", item) for i, item in enumerate(whole)])
    raise ValueError(f"{path}: holds a JSON {type(whole).__name__}; give a JSON object {{feature: label}}, a list "
                     f"of objects or one object per line such as {EXAMPLE}")


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _is_record(obj: dict) -> bool:
    return any(k in obj for k in INDEX_KEYS) and any(k in obj for k in TEXT_KEYS)


def _read_json_lines(path: Path, lines: list[str]) -> dict[int, str]:
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {n}: not valid JSON ({err.msg} at column {err.colno}); each line must "
                             f"be one JSON object such as {EXAMPLE}") from None
    return _collect(path, items)


def _collect(path: Path, items: list[tuple[str, Any]]) -> dict[int, str]:
    """Records (where, object) -> {index: text}, checking each."""
    out: dict[int, str] = {}
    first_seen: dict[int, str] = {}
    for where, obj in items:
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: {where}: a JSON {type(obj).__name__}, expected an object such as {EXAMPLE}")
        index_key = next((k for k in INDEX_KEYS if k in obj), None)
        text_key = next((k for k in TEXT_KEYS if k in obj), None)
        if index_key is None:
            raise ValueError(f"{path}: {where}: no feature index; give it under one of {', '.join(INDEX_KEYS)} "
                             f"(keys found: {', '.join(sorted(obj)) or 'none'})")
        if text_key is None:
            raise ValueError(f"{path}: {where}: no label text; give it under one of {', '.join(TEXT_KEYS)} "
                             f"(keys found: {', '.join(sorted(obj))})")
        index = _index(path, where, obj[index_key], index_key)
        text = obj[text_key]
        if text is None:  # no label (e.g. our dead features)
            continue
        _add(out, first_seen, path, where, index, _text(path, where, text, text_key))
    return out


def _read_mapping(path: Path, obj: dict) -> dict[int, str]:
    out: dict[int, str] = {}
    first_seen: dict[int, str] = {}
    for key, text in obj.items():
        where = f"key {key!r}"
        index = _index(path, where, key, "key")
        if text is None:
            continue
        _add(out, first_seen, path, where, index, _text(path, where, text, "value"))
    return out


def _index(path: Path, where: str, value: Any, key: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{path}: {where}: the feature index under {key!r} is {value!r}; it must be a whole number "
                     ">= 0 (or a string of digits)")


def _text(path: Path, where: str, value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: {where}: the label under {key!r} is a JSON {type(value).__name__}; it must be a "
                         "string")
    if not value.strip():
        raise ValueError(f"{path}: {where}: the label under {key!r} is empty; give a description or remove the entry")
    return value.strip()


def _add(out: dict[int, str], first_seen: dict[int, str], path: Path, where: str, index: int, text: str) -> None:
    if index in out:
        raise ValueError(f"{path}: {where}: feature {index} has a label already ({first_seen[index]}); keep one "
                         "label per feature")
    out[index], first_seen[index] = text, where


def _read_delphi(folder: Path, module: str | None) -> dict[int, str]:
    found: dict[str, dict[int, Path]] = {}
    for file in sorted(folder.iterdir()):
        match = DELPHI_FILE.match(file.name)
        if match and file.is_file():
            found.setdefault(match["module"], {})[int(match["index"])] = file
    if not found:
        raise ValueError(f"{folder}: no delphi explanation files (<module>_latent<i>.txt) in this folder; give "
                         "delphi's explanations/ folder or a JSON / JSON-lines label file")
    if module is None and len(found) > 1:
        raise ValueError(f"{folder}: explanations of {len(found)} modules ({', '.join(sorted(found))}); pick one "
                         "with module=")
    if module is not None and module not in found:
        raise ValueError(f"{folder}: no explanations of module {module!r}; the folder has {', '.join(sorted(found))}")
    files = found[module if module is not None else next(iter(found))]
    out = {}
    for index, file in sorted(files.items()):
        try:
            text = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{file}: not a JSON string ({err}); delphi writes each explanation as one JSON string "
                             'such as "dog breeds"') from None
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{file}: holds {text!r}, not a non-empty JSON string; delphi writes each explanation as "
                             'one JSON string such as "dog breeds"')
        out[index] = text.strip()
    return out
