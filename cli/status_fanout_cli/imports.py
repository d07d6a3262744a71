"""`subscribers import`: a file of any size sent as requests the API takes.

The API takes an import of at most 2 MiB and 10,000 rows
(docs/subscriber-import.md); the CLI sends at most 2,500 rows a request
(MAX_CHUNK_ROWS), so a longer file goes in chunks, each with the header row and
whole records (a quoted field may hold a line break), or `{"subscribers": [...]}`
of whole items, each its own POST with its own Idempotency-Key derived from the
invocation's, so running the same import again with `--idempotency-key`
resumes without importing a chunk twice. The API reports a rejected row by its
line in the body it got (a JSON item by its position); `Chunk.lines` maps that
back to the line (position) in the file. `join_exports` is the other way: the
pages of an export as one file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Under the import route's 2 MiB body (http_errors.ROUTE_MAX_REQUEST_BYTES), with room
# for the header and the JSON wrapper. Fewer rows than its 10,000: each chunk is sent
# with an Idempotency-Key, whose first answer Powertools keeps in one item of at most
# 400 KB; a report rejecting all 2,500 rows (~90 bytes each) is ~225 KB, so a bad file
# is never a server error after its import ran (docs/subscriber-import.md, "Known limits").
MAX_CHUNK_BYTES = 2 * 1024 * 1024 - 64 * 1024
MAX_CHUNK_ROWS = 2_500
CSV_HEADER_END = b"\r\n"


@dataclass
class Chunk:
    body: bytes
    content_type: str
    # lines[i] is the line in the user's file of the chunk's line i + 1 (CSV),
    # or the position in the user's list of the chunk's item i + 1 (JSON).
    lines: list[int]
    rows: int

    def original_line(self, line: Any) -> Any:
        if isinstance(line, int) and not isinstance(line, bool) and 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return line


def chunks(text: str, max_bytes: int = MAX_CHUNK_BYTES, max_rows: int = MAX_CHUNK_ROWS) -> list[Chunk]:
    """A CSV (header first) or JSON (a list, or an export's `{"subscribers": [...]}`),
    cut into chunks of whole rows."""
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheets write
    if text.lstrip().startswith(("[", "{")):
        return _json_chunks(text, max_bytes, max_rows)
    return _csv_chunks(text, max_bytes, max_rows)


def _records(text: str) -> Iterator[tuple[str, list[int]]]:
    """Each CSV record as its raw text and the file's line numbers it spans."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    number = 0
    for record in csv.reader(lines()):
        raw, span = "".join(consumed), list(range(number + 1, number + len(consumed) + 1))
        number += len(consumed)
        consumed.clear()
        if record and any(cell.strip() for cell in record):
            yield (raw if raw.endswith(("\n", "\r")) else raw + "\n"), span


def _csv_chunks(text: str, max_bytes: int, max_rows: int) -> list[Chunk]:
    try:
        records = list(_records(text))
    except csv.Error as error:
        raise ValueError(f"not a CSV file: {error}") from error
    if not records:
        return []
    (header, header_lines), rows = records[0], records[1:]
    result: list[Chunk] = []
    parts, lines, size = [header], list(header_lines), len(header.encode())
    for raw, span in rows:
        length = len(raw.encode())
        if len(parts) > 1 and (size + length > max_bytes or len(parts) - 1 >= max_rows):
            result.append(Chunk("".join(parts).encode(), "text/csv; charset=utf-8", lines, len(parts) - 1))
            parts, lines, size = [header], list(header_lines), len(header.encode())
        parts.append(raw)
        lines.extend(span)
        size += length
    if len(parts) > 1:
        result.append(Chunk("".join(parts).encode(), "text/csv; charset=utf-8", lines, len(parts) - 1))
    return result


def _json_chunks(text: str, max_bytes: int, max_rows: int) -> list[Chunk]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from error
    # An export posted back as it is: its list, and its consent if it names one.
    items = data.get("subscribers") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('a JSON import is a list of subscribers, or {"subscribers": [...]} as export writes it')
    consent = data.get("consent") if isinstance(data, dict) else None
    result: list[Chunk] = []
    batch: list[Any] = []
    start, size = 0, 64
    for index, item in enumerate(items):
        length = len(json.dumps(item).encode()) + 2
        if batch and (size + length > max_bytes or len(batch) >= max_rows):
            result.append(_json_chunk(batch, start, consent))
            batch, start, size = [], index, 64
        batch.append(item)
        size += length
    if batch:
        result.append(_json_chunk(batch, start, consent))
    return result


def _json_chunk(batch: list[Any], start: int, consent: Any) -> Chunk:
    body: dict[str, Any] = {"subscribers": batch} if consent is None else {"consent": consent, "subscribers": batch}
    return Chunk(json.dumps(body).encode(), "application/json", list(range(start + 1, start + len(batch) + 1)),
                 len(batch))


def merge_reports(reports: list[tuple[Chunk, Any]]) -> dict[str, Any]:
    """One report for the whole file, in the API's shape: the counts added up,
    every rejected row with its line in the user's file."""
    total: dict[str, Any] = {"imported": 0, "merged": 0, "rejected": []}
    for chunk, report in reports:
        if not isinstance(report, dict):
            continue
        for name, value in report.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
            elif name in ("rejected", "errors") and isinstance(value, list):
                for row in value:
                    if isinstance(row, dict):
                        row = {**row, "line": chunk.original_line(row.get("line"))}
                    total["rejected"].append(row)
    return total


def count_rows(text: str) -> int:
    """The rows of a CSV under its header."""
    return max(0, sum(1 for _ in _records(text.removeprefix("\ufeff"))) - 1)


def join_exports(pages: list[bytes], as_json: bool) -> tuple[bytes, int]:
    """The pages of an export as one file, and its subscribers: a CSV keeps the
    first page's header only; JSON is one `{"subscribers": [...], "next_cursor": null}`."""
    if as_json:
        documents = [json.loads(page) for page in pages]
        subscribers = [s for document in documents for s in document.get("subscribers") or []]
        if len(pages) == 1:
            return pages[0], len(subscribers)
        return json.dumps({"subscribers": subscribers, "next_cursor": None}, ensure_ascii=False).encode(), \
            len(subscribers)
    joined = pages[0] + b"".join(page.split(CSV_HEADER_END, 1)[1] if CSV_HEADER_END in page else b""
                                 for page in pages[1:])
    return joined, count_rows(joined.decode("utf-8", "replace"))
