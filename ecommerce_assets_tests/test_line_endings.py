"""Landing files as DuckDB's reader must see them: links, and newline copies of files with a CR (pure helpers)."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest

from ecommerce_assets.line_endings import needs_copy, inflated_chunks, reader_files, write_newline_copy


def lines_as_ndjson_reads_them(data: bytes) -> list[bytes]:
    """Split at each newline; a CR just before a newline belongs to the line's ending."""
    *ended, last = data.split(b"\n")
    return [line.removesuffix(b"\r") for line in ended] + [last]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 64])
def test_the_copy_keeps_every_line_with_its_other_carriage_returns_as_tabs(tmp_path, chunk_bytes):
    source, target = tmp_path / "part.jsonl", tmp_path / "copy.jsonl"
    for size in range(7):
        for letters in itertools.product(b"a\r\n", repeat=size):  # every split of CR, LF and CRLF across chunks
            data = bytes(letters)
            source.write_bytes(data)
            write_newline_copy(source, target, chunk_bytes)
            copied = target.read_bytes()
            assert b"\r" not in copied
            assert copied.split(b"\n") == [line.replace(b"\r", b"\t") for line in lines_as_ndjson_reads_them(data)], data


def test_files_holding_a_carriage_return_get_a_copy_and_the_rest_a_link(tmp_path):
    plain_lf = tmp_path / "a.jsonl"
    plain_lf.write_bytes(b'{"a": 1}\n\n{"a": 2}\n')
    empty = tmp_path / "b.jsonl"
    empty.write_bytes(b"")
    gzip_crlf = tmp_path / "c.jsonl.gz"
    gzip_crlf.write_bytes(gzip.compress(b'{"a": 1}\r\n{"a": 2}\r\n'))
    gzip_lf = tmp_path / "d.jsonl.GZ"
    gzip_lf.write_bytes(gzip.compress(b'{"a": 1}\n'))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    assert [needs_copy(p) for p in (plain_lf, empty, gzip_crlf, gzip_lf)] == [False, False, True, False]
    found = reader_files([plain_lf, empty, gzip_crlf, gzip_lf], scratch)
    assert [found[p].copied for p in (plain_lf, empty, gzip_crlf, gzip_lf)] == [False, False, True, False]
    assert all(read.path.parent == scratch for read in found.values())
    assert found[gzip_crlf].path.read_bytes() == b'{"a": 1}\n{"a": 2}\n' and not found[gzip_crlf].path.name.endswith(".gz")
    # Links are read decompressed exactly when the file is gzip, whatever the case of its name.
    assert found[gzip_lf].path.name.endswith(".jsonl.gz") and found[plain_lf].path.name.endswith(".jsonl")
    assert [found[p].path.resolve() for p in (plain_lf, empty, gzip_lf)] == [plain_lf, empty, gzip_lf]


def test_a_gzip_file_padded_with_zeros_is_read_through_a_copy(tmp_path):
    """DuckDB's reader refuses zero padding around gzip members (`Input is not a GZIP stream`)."""
    text = b'{"a": 1}\n{"a": 2}\n'
    padded, plain = tmp_path / "padded.jsonl.gz", tmp_path / "plain.jsonl.gz"
    padded.write_bytes(gzip.compress(text[:9]) + bytes(7) + gzip.compress(text[9:]) + bytes(512))
    plain.write_bytes(gzip.compress(text))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    assert [needs_copy(padded), needs_copy(plain)] == [True, False]
    found = reader_files([padded, plain], scratch)
    assert found[padded].copied and found[padded].path.read_bytes() == text and not found[plain].copied


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


def test_a_corrupt_gzip_file_is_named_before_anything_loads(tmp_path):
    path = tmp_path / "part-07.jsonl.gz"
    data = gzip.compress(b'{"n": 1}\n' * 100)
    path.write_bytes(data[:-8] + bytes(8))  # the CRC and length of another content

    with pytest.raises(ValueError, match=r"part-07\.jsonl\.gz: not a readable gzip file \(.*check\); nothing was loaded"):
        needs_copy(path)
