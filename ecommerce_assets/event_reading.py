"""A batch of landing files read by `line_scanner`: plain lines as Arrow columns, the rest as text.

Plain Python over numpy and Arrow; `event_loading` hands the results to DuckDB. Files are
read and scanned in pieces on every core (the scanner runs without the GIL); each piece
keeps its lines' positions, so a refused line's text is cut from the file's bytes only
when it is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from ecommerce_assets.landing_bytes import gzip_content, is_gzip
from ecommerce_assets.line_scanner import (
    BLANK,
    DECIMAL,
    INTEGER,
    OTHER,
    STRING,
    TIMESTAMP,
    ChunkBuffers,
    ScannedChunk,
    Schema,
    after_newline,
    chunk_bounds,
    count_lines,
    hash_text,
    mark_repeats,
    scan_chunk,
)
from ecommerce_assets.validation import FieldSpec, value_column

# Pieces of a file scanned at once: small enough to share a big file between the cores.
CHUNK_BYTES = 32 * 1024 * 1024
READER_TYPES = {str: STRING, int: INTEGER, float: DECIMAL, datetime: TIMESTAMP}
ARROW_TYPES = {STRING: pa.string(), INTEGER: pa.int64(), DECIMAL: pa.float64(), TIMESTAMP: pa.timestamp("us")}


def reader_schema(specs: Sequence[FieldSpec], id_field: str) -> Schema:
    names = tuple(spec.name for spec in specs)
    return Schema(names, tuple(READER_TYPES[spec.base] for spec in specs), names.index(id_field))


def id_seed(day: date) -> int:
    """The hash seed of a day's ids: an id repeats within its day only."""
    return day.toordinal()


@dataclass(frozen=True)
class FilePart:
    """The lines of a landing file that start in bytes [start, end) (the whole file when `end` is None).

    A large file is read in parts, so memory follows the batch size, not the file size;
    a part reads on to the end of its last line, and starts after the line it cuts.
    """

    day: date
    source: Path
    start: int = 0
    end: int | None = None


@dataclass
class ReadFile:
    """One landing file (or part of one) of a batch, scanned: its bytes and what the scanner found.

    `first_line` is the number of its first line in the file, set once the parts before
    it are known.
    """

    index: int
    day: date
    source: Path
    data: np.ndarray
    chunks: list[ScannedChunk]
    first_line: int = 1

    @property
    def line_count(self) -> int:
        return sum(len(chunk.kinds) for chunk in self.chunks)

    def chunk_line(self, chunk: ScannedChunk, k: int) -> bytes:
        """The bytes of the chunk's line `k` less its ending: a CR just before the newline belongs to it."""
        return self.data[chunk.starts[k]:chunk.ends[k]].tobytes().rstrip(b"\r")

    def first_lines(self) -> list[int]:
        """The number of each chunk's first line in the file."""
        firsts, number = [], self.first_line
        for chunk in self.chunks:
            firsts.append(number)
            number += len(chunk.kinds)
        return firsts

    def line_bytes(self, number: int) -> bytes:
        """The bytes of line `number` (of the file), without its ending: the newline and any CR before it."""
        for first, chunk in zip(self.first_lines(), self.chunks):
            if first <= number < first + len(chunk.kinds):
                return self.chunk_line(chunk, number - first)
        raise IndexError(f"{self.source}: no line {number} in this part")


# Room for a part's last line beyond its end; a longer line is read into memory of its own.
LINE_SLACK = 1024 * 1024


class BatchReader:
    """Reads batches of file parts one after the other, reusing its memory from batch to batch.

    The arrays of a batch (its text, the scanner's columns) are valid until the next batch
    is read. Memory stays at about twice the batch's text: the text itself, and the
    scanner's columns (some 200 bytes per line).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._text = np.empty(0, np.uint8)
        self._chunk_buffers: list[ChunkBuffers] = []

    def read(self, parts: Sequence[FilePart]) -> list[ReadFile]:
        """Every part of the batch read and scanned (on every core), in the batch's order."""
        spans = [0 if is_gzip(part.source) else _span(part) for part in parts]
        sizes = [span + LINE_SLACK if span else 0 for span in spans]
        if len(self._text) < sum(sizes):
            self._text = np.empty(0, np.uint8)  # the old text goes before the new is allocated
            self._text = np.empty(sum(sizes), np.uint8)
        places = np.cumsum([0] + sizes)
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            datas = list(pool.map(self._read_part, parts, spans, places[:-1], places[1:]))
            pieces = [(k, bounds) for k, data in enumerate(datas) for bounds in chunk_bounds(data, CHUNK_BYTES)]
            counts = list(pool.map(lambda piece: count_lines(datas[piece[0]], *piece[1]), pieces))
            buffers = self._buffers_for(pieces, counts)
            scanned = list(pool.map(
                lambda piece, out, lines: scan_chunk(datas[piece[0]], *piece[1], self.schema, id_seed(parts[piece[0]].day), out, lines),
                pieces, buffers, counts))
        chunks: list[list[ScannedChunk]] = [[] for _ in parts]
        for (k, _), chunk in zip(pieces, scanned):
            chunks[k].append(chunk)
        return [ReadFile(k, part.day, part.source, datas[k], chunks[k]) for k, part in enumerate(parts)]

    def _read_part(self, part: FilePart, span: int, slot_start: int, slot_end: int) -> np.ndarray:
        if is_gzip(part.source):
            return np.frombuffer(gzip_content(part.source), dtype=np.uint8)
        slot = self._text[slot_start:slot_end]
        begin = max(part.start - 1, 0)  # the byte before the part tells whether a line starts at its start
        with open(part.source, "rb") as file:
            file.seek(begin)
            size = file.readinto(memoryview(slot[: span + (part.start - begin)]))
            read = slot[:size]
            if part.end is not None and size and read[-1] != 10:
                read = _finish_last_line(file, slot, size)
        return read if part.start == 0 else read[after_newline(read, 0):]

    def _buffers_for(self, pieces: list[tuple[int, tuple[int, int]]], counts: list[int]) -> list[ChunkBuffers]:
        """A buffer per piece (of `counts` lines): those kept, where large enough, or new ones
        with room to spare (pieces differ by a line or so), replacing the kept ones not taken."""
        free, chosen = list(self._chunk_buffers), []
        for lines, nbytes in zip(counts, [b - a for _, (a, b) in pieces]):
            fit = next((buffer for buffer in free if buffer.fits(lines, nbytes)), None)
            if fit is None:
                fit = ChunkBuffers(self.schema, lines + lines // 4 + 1, nbytes + nbytes // 4 + 1)
            else:
                free.remove(fit)
            chosen.append(fit)
        self._chunk_buffers = chosen
        return chosen


def _span(part: FilePart) -> int:
    """The bytes of the part before its last line's end."""
    size = part.source.stat().st_size
    return min(part.end, size) - part.start if part.end is not None else size


def _finish_last_line(file, slot: np.ndarray, size: int) -> np.ndarray:
    """Read on into `slot` (or, past its room, into new memory) to the end of the line the text ends in."""
    while True:
        more = file.read(64 * 1024)
        if not more:
            return slot[:size]
        cut = more.find(b"\n")
        more = more if cut < 0 else more[: cut + 1]
        if size + len(more) > len(slot):
            head = slot[:size].tobytes() + more
            rest = file.readline() if cut < 0 else b""
            return np.frombuffer(head + rest, dtype=np.uint8)
        slot[size:size + len(more)] = np.frombuffer(more, dtype=np.uint8)
        size += len(more)
        if cut >= 0:
            return slot[:size]


@dataclass
class PlainLines:
    """The batch's plain lines: typed columns (`table`), and each line's id hash where it has an id."""

    table: pa.Table
    id_hash: np.ndarray
    has_id: np.ndarray
    day_ordinal: np.ndarray


def plain_lines(files: Sequence[ReadFile], specs: Sequence[FieldSpec], schema: Schema) -> PlainLines:
    """Columns `file_index`, `line_number` and each field's value column (`value_column`)."""
    batches, hashes, has_id, days = [], [], [], []
    for file in files:
        for first, chunk in zip(file.first_lines(), file.chunks):
            n = len(chunk.plain_lines)
            columns = {"file_index": pa.array(np.full(n, file.index, dtype=np.int32)),
                       "line_number": pa.array(chunk.plain_lines + first)}
            for k, spec in enumerate(specs):
                columns[value_column(spec).strip('"')] = _column(chunk, schema.types[k], schema.rows[k], chunk.present[k])
            batches.append(pa.RecordBatch.from_pydict(columns))
            hashes.append(chunk.id_hash)
            has_id.append(chunk.present[schema.id_field].astype(bool))
            days.append(np.full(n, file.day.toordinal(), dtype=np.int64))
    def joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    table = pa.Table.from_batches(batches) if batches else None
    return PlainLines(table, joined(hashes, np.uint64), joined(has_id, bool), joined(days, np.int64))


def _column(chunk: ScannedChunk, kind: int, row: int, present: np.ndarray) -> pa.Array:
    """One field's values as Arrow, without copying them (nulls where the field was missing or null)."""
    n = len(present)
    validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    if kind == STRING:
        offsets = chunk.string_offsets[row]
        data = chunk.string_data[row, : offsets[n]]
        return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)])
    values = chunk.decimals[row] if kind == DECIMAL else chunk.numbers[row]
    return pa.Array.from_buffers(ARROW_TYPES[kind], n, [validity, pa.py_buffer(values)])


@dataclass(frozen=True)
class OtherLine:
    file_index: int
    line_number: int
    text: str  # undecodable bytes as \\xNN escapes when the line is not UTF-8
    error: str | None = None  # why the line is not UTF-8

    @property
    def readable(self) -> bool:
        return self.error is None


def other_lines(files: Sequence[ReadFile]) -> list[OtherLine]:
    """The lines the scanner left to the SQL path (as text), and those that are not UTF-8."""
    found = []
    for file in files:
        for first, chunk in zip(file.first_lines(), file.chunks):
            for k in np.flatnonzero(chunk.kinds == OTHER):
                raw = file.chunk_line(chunk, k)
                try:
                    found.append(OtherLine(file.index, int(k) + first, raw.decode("utf-8")))
                except UnicodeDecodeError as error:
                    found.append(OtherLine(file.index, int(k) + first, raw.decode("utf-8", "backslashreplace"),
                                           f"not UTF-8 text: byte {raw[error.start]:#04x} at column {error.start + 1} ({error.reason})"))
    return found


def blank_lines(files: Sequence[ReadFile]) -> dict[date, int]:
    counts: dict[date, int] = {}
    for file in files:
        counts[file.day] = counts.get(file.day, 0) + sum(int(np.count_nonzero(c.kinds == BLANK)) for c in file.chunks)
    return counts


class SeenIds:
    """Each day's ids seen so far in a load, as 64-bit hashes, to tell which lines may repeat one.

    A line is a suspect when its id's hash appears twice in its batch or may have been seen
    in an earlier one (a Bloom filter per day, of 32 bits or more per id: about 0.1% false
    positives): it waits, and suspects are settled on their real ids at the end of the load, so
    neither a hash collision nor a false positive costs an event. Every other line's id is
    the first of its day, and loads at once.
    """

    def __init__(self, expected_ids: dict[date, int]) -> None:
        self._expected = {day.toordinal(): ids for day, ids in expected_ids.items()}
        self._bits: dict[int, np.ndarray] = {}  # by day ordinal, as the hashes' days come

    def forget_before(self, day: date) -> None:
        for earlier in [d for d in self._bits if d < day.toordinal()]:
            del self._bits[earlier]

    def suspects(self, hashes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Which of the batch's `hashes` (of ids on `days`, ordinals) are suspects; the batch's are then seen."""
        suspect = np.zeros(len(hashes), dtype=bool)
        one_day = len(days) == 0 or days.min() == days.max()  # nearly every batch: no sort, no copies
        for ordinal in days[:1] if one_day else np.unique(days):
            on_day = slice(None) if one_day else np.flatnonzero(days == ordinal)
            day_hashes = np.ascontiguousarray(hashes[on_day])
            marked = np.zeros(len(day_hashes), dtype=bool)
            mark_repeats(day_hashes, self._day_bits(int(ordinal)), marked)
            suspect[on_day] = marked
        return suspect

    def _day_bits(self, ordinal: int) -> np.ndarray:
        if ordinal not in self._bits:
            words = 1 << max((self._expected.get(ordinal, 0) // 2).bit_length(), 10)  # 32 bits or more per id
            self._bits[ordinal] = np.zeros(words, dtype=np.uint64)
        return self._bits[ordinal]


def hash_ids(ids: Sequence[str], days: Sequence[date]) -> np.ndarray:
    """The scanner's hash of each id (of lines the SQL path read) under its day's seed."""
    return np.array([hash_text(i, id_seed(d)) for i, d in zip(ids, days)], dtype=np.uint64)
