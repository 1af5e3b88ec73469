"""Landing files as the event loader's line reader must see them: a line ends at a newline.

NDJSON ends a line at a newline; a carriage return (CR) before it belongs to the ending.
DuckDB's CSV reader, which splits the loader's lines, also ends a line at a lone CR, and
in a file that mixes endings counts a CRLF as two: a record holding a CR (JSON whitespace)
came out as two refused halves, and the numbers of the lines after it shifted. Files with
no CR, nearly all, are read as they are. The others are read through a plain copy in which
every line ends with a newline alone and every other CR is a tab: the same lines, and the
same JSON, since a tab is whitespace wherever a CR is, and inside a string both are raw
control characters, which JSON forbids.
"""

from __future__ import annotations

import gzip
import mmap
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

CR = b"\r"
CHUNK_BYTES = 16 * 1024 * 1024


def open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when its name ends in .gz (as DuckDB's reader decides)."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def holds_carriage_return(path: Path) -> bool:
    if not path.name.endswith(".gz"):
        if path.stat().st_size == 0:
            return False
        # A memory map searches at memory speed, without copying the file (2.6 GB in 0.4 s).
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(CR) >= 0
    with open_bytes(path) as data:
        while chunk := data.read(CHUNK_BYTES):
            if CR in chunk:
                return True
    return False


def write_newline_copy(source: Path, target: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Copy `source` (decompressed) to `target`: CRLF -> LF, any other CR -> tab."""
    with open_bytes(source) as data, open(target, "wb") as out:
        held = b""  # a CR ending a chunk: a newline may begin the next one
        while chunk := data.read(chunk_bytes):
            chunk = held + chunk
            held = CR if chunk.endswith(CR) else b""
            out.write(chunk[: len(chunk) - len(held)].replace(b"\r\n", b"\n").replace(CR, b"\t"))
        out.write(held.replace(CR, b"\t"))


def readable_copies(paths: Sequence[Path], scratch: Path) -> dict[Path, Path]:
    """The files holding a CR, each mapped to its newline copy written under `scratch`."""
    with ThreadPoolExecutor() as pool:  # gzip inflates without holding the GIL
        flagged = [path for path, has_cr in zip(paths, pool.map(holds_carriage_return, paths)) if has_cr]
    copies = {}
    for index, path in enumerate(flagged):
        copies[path] = scratch / f"{index:05d}-{path.name.removesuffix('.gz')}"
        write_newline_copy(path, copies[path])
    return copies
