"""Landing files' bytes as the event reader takes them: gzip files inflated and checked.

A file is gzip when its name ends in .gz, in any case. A corrupt or truncated gzip file
stops the load naming it, rather than landing what inflated before the damage.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream
CHUNK_BYTES = 16 * 1024 * 1024


def is_gzip(path: Path) -> bool:
    """Whether the file is read decompressed: its name ends in .gz, in any case."""
    return path.name.lower().endswith(".gz")


def gzip_content(path: Path) -> bytes:
    """A gzip file's whole content; a ValueError naming the file if it is not a readable gzip file."""
    try:
        return b"".join(inflated_chunks(path))
    except (zlib.error, EOFError) as error:
        raise ValueError(f"{path}: not a readable gzip file ({error}); nothing was loaded") from None


def inflated_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A gzip file's content, member after member, in chunks of at most `chunk_bytes`.

    Zero bytes around members (gzip allows padding) are skipped. zlib straight, without
    the gzip module's own buffering: a third faster (a 1M-event day on one core,
    alternating: 0.67-0.87 against 1.26-1.35 s). zlib checks each member's CRC and length.
    """
    with open(path, "rb") as file:
        inflater, pending, members = None, b"", 0
        while pending or (pending := file.read(chunk_bytes)):
            if inflater is None:
                pending = pending.lstrip(b"\0")
                if not pending:
                    continue
                inflater, members = zlib.decompressobj(GZIP_WBITS), members + 1
            yield inflater.decompress(pending, chunk_bytes)
            pending = inflater.unconsumed_tail
            if inflater.eof:  # the member ends; another may follow
                inflater, pending = None, inflater.unused_data + pending
        if inflater is not None:
            raise EOFError("the file ends inside a gzip member: truncated")
        if not members:  # a file still being written, or whose writer failed: as gzip -t, not as empty
            raise EOFError("the file holds no gzip member: empty")
