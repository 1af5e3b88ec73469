"""Landing files' bytes: gzip files inflated member by member, and named when they are not readable."""

from __future__ import annotations

import gzip
import zlib

import pytest

from ecommerce_assets.landing_bytes import gzip_content, inflated_chunks


@pytest.mark.parametrize("chunk_bytes", [1, 7, 1 << 20])
def test_a_gzip_file_inflates_as_the_gzip_module_reads_it(tmp_path, chunk_bytes):
    text = b"".join(b'{"n": %d}\r\n' % n for n in range(2000))
    one, other = gzip.compress(text), gzip.compress(b"tail\r")
    path = tmp_path / "part.jsonl.gz"
    for data in (one, one + other, one + b"\0" * 9 + other + b"\0" * 3, gzip.compress(b"")):
        path.write_bytes(data)
        assert b"".join(inflated_chunks(path, chunk_bytes)) == gzip.decompress(data)
    path.write_bytes(one[:-4] + bytes(4))  # a wrong length in the trailer
    with pytest.raises(zlib.error, match="incorrect length check"):
        b"".join(inflated_chunks(path, chunk_bytes))
    path.write_bytes(one[: len(one) // 2])
    with pytest.raises(EOFError, match="truncated"):
        b"".join(inflated_chunks(path, chunk_bytes))
    for nothing in (b"", b"\0" * 5):  # a file still being written, or whose writer failed
        path.write_bytes(nothing)
        with pytest.raises(EOFError, match="no gzip member: empty"):
            b"".join(inflated_chunks(path, chunk_bytes))


def test_a_corrupt_gzip_file_is_named(tmp_path):
    path = tmp_path / "part-07.jsonl.gz"
    data = gzip.compress(b'{"n": 1}\n' * 100)
    path.write_bytes(data[:-8] + bytes(8))  # the CRC and length of another content

    with pytest.raises(ValueError, match=r"part-07\.jsonl\.gz: not a readable gzip file \(.*check\); nothing was loaded"):
        gzip_content(path)
    path.write_bytes(gzip.compress(b"a") + bytes(5) + gzip.compress(b"b"))  # padding between members is no damage
    assert gzip_content(path) == b"ab"
