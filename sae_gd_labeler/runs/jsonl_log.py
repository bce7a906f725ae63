"""An append-only JSON-lines file that a crash can never leave with a partial or duplicated record.

Each batch of records is written with one `write` and fsync'ed. A process killed in the middle of that
write (SIGKILL included) leaves at most an unterminated last line: `repair` cuts it off before the next
writer appends, and readers ignore it. Complete lines are never rewritten, so no finished record is lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonlLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, in file order; an unterminated last line (a write cut short) is skipped."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        records = []
        for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{self.path}, line {number}: not valid JSON ({e.msg}); this file is written "
                                 "only by sae-gd-labeler: remove the line or rerun with --overwrite") from None
        return records

    def repair(self) -> int:
        """Cut an unterminated last line; returns the number of bytes removed."""
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        with open(self.path, "rb+") as f:
            end = size
            while end > 0:  # scan back to the last newline, a block at a time
                start = max(0, end - 65536)
                f.seek(start)
                at = f.read(end - start).rfind(b"\n")
                if at >= 0:
                    end = start + at + 1
                    break
                end = start
            if end < size:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
        return size - end

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:  # one write in practice; a short write is continued, never restarted
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file renamed into place: readers see the old or the new file, whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl_atomic(path: Path, records: list[dict[str, Any]]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
