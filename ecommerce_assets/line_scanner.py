"""A compiled one-pass reader of JSON lines into typed columns, for the common case only.

Each line of a file is read once, at compiled speed and without the GIL (numba), and
sorted into one of three kinds:
- blank: nothing but spaces, tabs and carriage returns;
- plain: a JSON object in the one shape the collector writes, whose every key is a field of
  the schema, given once, with a value of the field's own JSON type (or null): its fields
  come out as typed columns, its event id hashed;
- other: anything else, valid or not (a key beyond the schema, a repeated key, an escape
  or a byte beyond ASCII in a string, a value of another type, a timestamp in another
  spelling, a number too long to convert exactly, a line that is not JSON).

It judges nothing: plain lines still meet every rule of the contract, in SQL, and the
other lines meet the whole contract, through the SQL path that reads JSON text. The reader
only has to be exact about what it calls plain, which is why it is narrow: a strict
JSON grammar, ASCII strings without escapes, integers that fit 64 bits, decimals converted
only where the conversion is exact (as DuckDB's cast would round them), and the one
timestamp spelling `YYYY-MM-DDTHH:MM:SS.mmmZ` on a real calendar day.

Strings and the keys the line before had at the same place are read eight bytes at a time
(one little-endian word); the helpers take the bytes without numba's reference counting.
On one core, 2.2 ns a byte before both, 1.0 after.

This module knows nothing of DuckDB or Dagster: bytes in, numpy arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit
from numba.extending import intrinsic
from numpy.lib.stride_tricks import as_strided

STRING, INTEGER, DECIMAL, TIMESTAMP = 0, 1, 2, 3  # a field's type, as the reader converts it
PLAIN, BLANK, OTHER = 0, 1, 2  # a line's kind

_JSON_INTEGER, _JSON_DECIMAL = 0, 1  # the kinds of number `_number` reads
_EXACT_POWERS = np.array([10.0**k for k in range(23)])  # every power of ten a float64 holds exactly
_DAYS_BEFORE_MONTH = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
# Bytes in a plain string: 0 plain, 1 its closing quote, 2 not plain (an escape, a control, beyond ASCII).
_STRING_BYTE = np.array([2 if b < 32 or b >= 127 or b == 92 else 1 if b == 34 else 0 for b in range(256)], dtype=np.uint8)
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_ONES, _HIGHS = np.uint64(0x0101010101010101), np.uint64(0x8080808080808080)


@dataclass(frozen=True)
class Schema:
    """The fields a plain line may hold, each with its type, and the one whose text is hashed."""

    names: tuple[str, ...]
    types: tuple[int, ...]
    id_field: int

    @cached_property
    def name_bytes(self) -> np.ndarray:
        return np.frombuffer("".join(self.names).encode(), dtype=np.uint8)

    @cached_property
    def name_offsets(self) -> np.ndarray:
        return np.cumsum([0] + [len(n.encode()) for n in self.names]).astype(np.int64)

    @cached_property
    def name_words(self) -> np.ndarray:
        """Each name's bytes as little-endian words of eight (the last zero-padded), row per field."""
        width = max(1, -(-int(np.diff(self.name_offsets).max(initial=1)) // 8))
        words = np.zeros((len(self.names), width * 8), np.uint8)
        for k, name in enumerate(self.names):
            words[k, : len(name.encode())] = np.frombuffer(name.encode(), np.uint8)
        return words.view(np.uint64)

    @cached_property
    def name_masks(self) -> np.ndarray:
        """Which bytes of each of `name_words` belong to the name (its nonzero ones: no name holds a zero byte)."""
        return np.where(self.name_words.view(np.uint8) != 0, 0xFF, 0).astype(np.uint8).view(np.uint64)

    @cached_property
    def type_codes(self) -> np.ndarray:
        return np.array(self.types, dtype=np.int64)

    @cached_property
    def rows(self) -> np.ndarray:
        """Each field's row among the fields converted the same way (strings, int64s, float64s)."""
        rows, counts = [], {STRING: 0, DECIMAL: 0, INTEGER: 0}
        for kind in self.types:
            group = kind if kind in (STRING, DECIMAL) else INTEGER
            rows.append(counts[group])
            counts[group] += 1
        return np.array(rows, dtype=np.int64)


@dataclass
class ScannedChunk:
    """What the reader found in `buf[start:end]` (whole lines).

    Per line: `kinds`, and `starts`/`ends` in `buf`. Per plain line (`plain_lines`, indexes
    into the chunk's lines): each field's value (`strings` as offsets into `string_data`,
    `numbers` as int64, `decimals` as float64, each with its `present` flags, rows in the
    schema's order of each type) and `id_hash`, the id's hash under the chunk's seed.
    """

    kinds: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    plain_lines: np.ndarray
    present: np.ndarray
    string_offsets: np.ndarray
    string_data: np.ndarray
    numbers: np.ndarray
    decimals: np.ndarray
    id_hash: np.ndarray


@intrinsic
def uncounted(typingctx, array):
    """The same array without a reference count (no meminfo), valid while the caller holds it.

    Numba counts references to an array each time a helper takes it, with an atomic
    increment and decrement: the reader's helpers take the line's bytes by the dozen per
    line, and the counting was 60% of the reader's time.
    """
    def codegen(context, builder, signature, args):
        given = context.make_array(signature.args[0])(context, builder, value=args[0])
        view = context.make_array(signature.return_type)(context, builder)
        context.populate_array(view, data=given.data, shape=given.shape, strides=given.strides,
                               itemsize=given.itemsize, meminfo=None, parent=None)
        return view._getvalue()

    return array(array), codegen


def words_of(data: np.ndarray) -> np.ndarray:
    """The eight bytes of `data` (one row, or each row of two) at each index, as one little-endian
    uint64: a view, `words[..., j]` is `data[..., j:j + 8]`."""
    if data.shape[-1] < 8:
        return np.zeros(data.shape[:-1] + (0,), np.uint64)
    first = data.reshape(-1)[:8].view(np.uint64)
    return as_strided(first, shape=data.shape[:-1] + (data.shape[-1] - 7,), strides=data.strides,
                      writeable=data.flags.writeable)


@njit(cache=True, nogil=True, inline="always")
def _stops_string(word):
    """Nonzero when any of the eight bytes of `word` is not plain in a string: a quote, a
    backslash, a control (below 32) or a byte beyond ASCII (127 and up)."""
    quote = word ^ np.uint64(0x2222222222222222)
    backslash = word ^ np.uint64(0x5C5C5C5C5C5C5C5C)
    found = (quote - _ONES) & ~quote
    found |= (backslash - _ONES) & ~backslash
    found |= (word - np.uint64(0x2020202020202020)) & ~word
    found |= (word + _ONES) | word
    return found & _HIGHS


@njit(cache=True, nogil=True, inline="always")
def _skip_blanks(buf, i, end):
    """Past JSON's whitespace within the line: space, tab and carriage return (CR), which
    before the newline belongs to the line's ending and elsewhere separates values."""
    while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 13):
        i += 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _string_end(buf, i, end):
    """The index after the closing quote of the string opening at `i`, or -1 (not plain)."""
    i += 1
    while i < end:
        c = _STRING_BYTE[buf[i]]
        if c != 0:
            return i + 1 if c == 1 else -1
        i += 1
    return -1


@njit(cache=True, nogil=True, inline="always")
def _digits_end(buf, i, end):
    while i < end and 48 <= buf[i] <= 57:
        i += 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _number(buf, i, end):
    """Read a strict JSON number at `i`: (end, kind, integer, digits, exponent), its value the integer
    of all its digits times ten to the exponent; end is -1 when the text is no JSON number or cannot
    be converted exactly."""
    start = i
    negative = i < end and buf[i] == 45
    if negative:
        i += 1
    if i >= end or not (48 <= buf[i] <= 57):
        return -1, 0, 0, 0, 0
    if buf[i] == 48 and i + 1 < end and 48 <= buf[i + 1] <= 57:
        return -1, 0, 0, 0, 0  # a leading zero
    int_end = _digits_end(buf, i, end)
    frac_start = frac_end = int_end
    if int_end < end and buf[int_end] == 46:
        frac_start = int_end + 1
        frac_end = _digits_end(buf, frac_start, end)
        if frac_end == frac_start:
            return -1, 0, 0, 0, 0
    i = frac_end
    exponent = 0
    kind = _JSON_INTEGER if frac_end == int_end else _JSON_DECIMAL
    if i < end and (buf[i] == 101 or buf[i] == 69):
        kind = _JSON_DECIMAL
        i += 1
        exp_negative = False
        if i < end and (buf[i] == 43 or buf[i] == 45):
            exp_negative = buf[i] == 45
            i += 1
        exp_end = _digits_end(buf, i, end)
        if exp_end == i or exp_end - i > 4:
            return -1, 0, 0, 0, 0
        for k in range(i, exp_end):
            exponent = exponent * 10 + (buf[k] - 48)
        if exp_negative:
            exponent = -exponent
        i = exp_end
    significant = (int_end - (start + negative)) + (frac_end - frac_start)
    if significant > 18:
        return -1, 0, 0, 0, 0  # beyond what int64 holds without care: the SQL path decides
    value = 0
    for k in range(start + negative, int_end):
        value = value * 10 + (buf[k] - 48)
    for k in range(frac_start, frac_end):
        value = value * 10 + (buf[k] - 48)
    if negative and value == 0:
        return -1, 0, 0, 0, 0  # -0 or -0.0: the SQL path keeps a fraction's sign
    return i, kind, -value if negative else value, significant, exponent - (frac_end - frac_start)


@njit(cache=True, nogil=True, inline="always")
def _days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True, inline="always")
def _read_digits(buf, i, n):
    value = 0
    for k in range(i, i + n):
        c = buf[k]
        if not (48 <= c <= 57):
            return -1
        value = value * 10 + (c - 48)
    return value


@njit(cache=True, nogil=True, inline="always")
def _timestamp(buf, s, e):
    """Microseconds since the epoch of `"YYYY-MM-DDTHH:MM:SS.mmmZ"` (quotes at s and e-1), or -1 (not plain)."""
    if e - s != 26:
        return -1
    i = s + 1
    if buf[i + 4] != 45 or buf[i + 7] != 45 or buf[i + 10] != 84 or buf[i + 13] != 58 \
            or buf[i + 16] != 58 or buf[i + 19] != 46 or buf[i + 23] != 90:
        return -1
    year, month, day = _read_digits(buf, i, 4), _read_digits(buf, i + 5, 2), _read_digits(buf, i + 8, 2)
    hour, minute, second = _read_digits(buf, i + 11, 2), _read_digits(buf, i + 14, 2), _read_digits(buf, i + 17, 2)
    millis = _read_digits(buf, i + 20, 3)
    if year < 1 or month < 0 or day < 0 or hour < 0 or minute < 0 or second < 0 or millis < 0:
        return -1
    if not (1 <= month <= 12) or hour > 23 or minute > 59 or second > 59:
        return -1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = _DAYS_BEFORE_MONTH[month] - _DAYS_BEFORE_MONTH[month - 1] if month < 12 else 31
    if month == 2 and leap:
        month_days = 29
    if not (1 <= day <= month_days):
        return -1
    days = _days_from_civil(year, month, day)
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1000 + millis) * 1000


@njit(cache=True, nogil=True)
def hash_bytes(buf, s, e, seed):
    """A 64-bit hash of `buf[s:e]` under `seed`: FNV-1a over four interleaved lanes (four
    multiplications in flight instead of one after another), mixed by splitmix64's finish."""
    h0 = _FNV_OFFSET ^ np.uint64(seed)
    h1, h2, h3 = h0 ^ np.uint64(1), h0 ^ np.uint64(2), h0 ^ np.uint64(3)
    k = s
    while k + 4 <= e:
        h0 = (h0 ^ np.uint64(buf[k])) * _FNV_PRIME
        h1 = (h1 ^ np.uint64(buf[k + 1])) * _FNV_PRIME
        h2 = (h2 ^ np.uint64(buf[k + 2])) * _FNV_PRIME
        h3 = (h3 ^ np.uint64(buf[k + 3])) * _FNV_PRIME
        k += 4
    while k < e:
        h0 = (h0 ^ np.uint64(buf[k])) * _FNV_PRIME
        k += 1
    h = np.uint64(e - s)
    for lane in (h0, h1, h2, h3):
        h = _mix(h ^ lane)
    return h


@njit(cache=True, nogil=True, inline="always")
def _mix(h):
    """splitmix64's finish: every bit of the input reaches every bit of the output."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def is_text(buf, start, length, text_bytes, text_offsets, k):
    """Whether buf[start:start + length] is text k of a flat store (`text_bytes`, cut at `text_offsets`)."""
    a = text_offsets[k]
    if text_offsets[k + 1] - a != length:
        return False
    for m in range(length):
        if buf[start + m] != text_bytes[a + m]:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _is_guess(buf, words, i, n, name_words, name_masks, k):
    """Whether the `n` bytes after `i` are field k's name: eight at a time where the bytes hold them."""
    if i + 1 + 8 * ((n + 7) // 8) > buf.shape[0]:
        return False
    for w in range((n + 7) // 8):
        if words[i + 1 + 8 * w] & name_masks[k, w] != name_words[k, w]:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _key(buf, words, i, e, name_bytes, name_offsets, name_words, name_masks, order, position):
    """The field named by the key whose quote opens at `i`, and the index after the key; -1 when none.

    Lines of one writer give their keys in one order: the field found at this position
    last time is tried first, straight against the bytes.
    """
    guess = order[position]
    if guess >= 0:
        n = name_offsets[guess + 1] - name_offsets[guess]
        if i + n + 1 < e and buf[i + 1 + n] == 34 and _is_guess(buf, words, i, n, name_words, name_masks, guess):
            return guess, i + n + 2
    key_end = _string_end(buf, i, e)
    if key_end < 0:
        return -1, -1
    for k in range(name_offsets.shape[0] - 1):
        if is_text(buf, i + 1, key_end - i - 2, name_bytes, name_offsets, k):
            order[position] = k
            return k, key_end
    return -1, -1


@njit(cache=True, nogil=True, inline="always")
def _decimal(value, digits, exponent):
    """The float64 of `value` times ten to `exponent` (`digits` digits, read by `_number`), exact as a
    correctly rounded parse, or NaN when the fast path cannot promise that (Clinger: an exact
    integer times an exact power of ten)."""
    if digits > 15 or exponent < -22 or exponent > 22:
        return np.nan
    if exponent < 0:
        return value / _EXACT_POWERS[-exponent]
    return value * _EXACT_POWERS[exponent]


@njit(cache=True, nogil=True)
def _kernel(buf, words, start, end, name_bytes, name_offsets, name_words, name_masks, types, rows, id_field, seed,
            order, kinds, starts, ends, plain_lines, present, string_offsets, string_data, string_words, numbers,
            decimals, id_hash):
    buf, words, name_bytes, name_offsets = uncounted(buf), uncounted(words), uncounted(name_bytes), uncounted(name_offsets)
    name_words, name_masks, order = uncounted(name_words), uncounted(name_masks), uncounted(order)
    string_offsets[:, 0] = 0
    string_end = np.zeros(string_offsets.shape[0], np.int32)
    fields = types.shape[0]
    line = 0
    plain = 0
    s = start
    while s < end:  # the newline ending the last line starts no line
        # A line's end is found as it is read: no byte of a plain line is looked at twice.
        i = _skip_blanks(buf, s, end)
        kind = OTHER
        e = s  # the line's end, or (other lines) where the search for its newline starts
        if i == end or buf[i] == 10:
            kind = BLANK
            e = i
        elif buf[i] == 123:
            # Values are written where this line's row would go; they count only if it is plain.
            given = 0  # fields holding a value
            named = 0  # fields whose key was seen (a value or null)
            i = _skip_blanks(buf, i + 1, end)
            position = 0
            if i < end and buf[i] == 125:
                e = _skip_blanks(buf, i + 1, end)
                if e == end or buf[e] == 10:
                    kind = PLAIN
            else:
                while i < end and buf[i] == 34 and position < fields:
                    k, i = _key(buf, words, i, end, name_bytes, name_offsets, name_words, name_masks, order, position)
                    if k < 0 or (named >> k) & 1:
                        break  # a key beyond the schema, or a key given twice
                    named |= 1 << k
                    i = _skip_blanks(buf, i, end)
                    if i >= end or buf[i] != 58:
                        break
                    i = _skip_blanks(buf, i + 1, end)
                    if i >= end:
                        break
                    c = buf[i]
                    t = types[k]
                    row = rows[k]
                    if c == 110:
                        if i + 4 > end or buf[i + 1] != 117 or buf[i + 2] != 108 or buf[i + 3] != 108:
                            break
                        i += 4
                    elif t == STRING:
                        if c != 34:
                            break
                        o = string_offsets[row, plain]
                        j = i + 1
                        while j + 8 <= end:  # eight bytes at a time, to the word holding the quote
                            word = words[j]
                            if _stops_string(word) != 0:
                                break
                            string_words[row, o] = word
                            o += 8
                            j += 8
                        cls = 2
                        while j < end:
                            b = buf[j]
                            cls = _STRING_BYTE[b]
                            if cls != 0:
                                break
                            string_data[row, o] = b
                            o += 1
                            j += 1
                        if cls != 1:
                            break
                        string_end[row] = o
                        if k == id_field:
                            id_hash[plain] = hash_bytes(buf, i + 1, j, seed)
                        given |= 1 << k
                        i = j + 1
                    elif t == TIMESTAMP:
                        if c != 34 or i + 26 > end or buf[i + 25] != 34:
                            break
                        micros = _timestamp(buf, i, i + 26)
                        if micros < 0:
                            break
                        numbers[row, plain] = micros
                        given |= 1 << k
                        i += 26
                    else:
                        if not (c == 45 or 48 <= c <= 57):
                            break
                        number_end, number_kind, value, digits, exponent = _number(buf, i, end)
                        if number_end < 0:
                            break
                        if t == INTEGER:
                            if number_kind != _JSON_INTEGER:
                                break
                            numbers[row, plain] = value
                        else:
                            converted = _decimal(value, digits, exponent)
                            if np.isnan(converted):
                                break
                            decimals[row, plain] = converted
                        given |= 1 << k
                        i = number_end
                    i = _skip_blanks(buf, i, end)
                    if i >= end:
                        break
                    if buf[i] == 125:
                        e = _skip_blanks(buf, i + 1, end)
                        if e == end or buf[e] == 10:
                            kind = PLAIN
                        break
                    if buf[i] != 44:
                        break
                    i = _skip_blanks(buf, i + 1, end)
                    position += 1
            if kind == PLAIN:
                for k in range(fields):
                    has = (given >> k) & 1
                    present[k, plain] = has
                    if types[k] == STRING:
                        row = rows[k]
                        string_offsets[row, plain + 1] = string_end[row] if has else string_offsets[row, plain]
                plain_lines[plain] = line
                plain += 1
        if kind == OTHER:
            while e < end and buf[e] != 10:
                e += 1
        starts[line] = s
        ends[line] = e
        kinds[line] = kind
        line += 1
        s = e + 1
    return line, plain


# Bytes compared at once by `count_lines`: its comparison's memory is reused from the heap,
# where a whole piece's would be fresh pages the kernel zeroes (a tenth of a 10M-event load).
COUNT_WINDOW = 256 * 1024


def count_lines(buf: np.ndarray, start: int, end: int) -> int:
    """Newlines in `buf[start:end]`, plus one: at most the lines it holds (numpy, not numba:
    each compiled function costs a process some 0.1 s to load from numba's cache)."""
    found = np.empty(min(COUNT_WINDOW, max(end - start, 0)), dtype=bool)
    newlines = 0
    for at in range(start, end, COUNT_WINDOW):
        window = buf[at:min(at + COUNT_WINDOW, end)]
        newlines += int(np.count_nonzero(np.equal(window, 10, out=found[: len(window)])))
    return newlines + 1


class ChunkBuffers:
    """Output arrays for one chunk, kept across batches: fresh memory costs a page fault per
    4 KiB touched (measured: a third of the reader's time was system time)."""

    def __init__(self, schema: Schema, lines: int, nbytes: int) -> None:
        fields, n_strings = len(schema.types), schema.types.count(STRING)
        n_decimals = schema.types.count(DECIMAL)
        self.lines, self.nbytes = lines, nbytes
        self.kinds = np.empty(lines, np.uint8)
        self.starts = np.empty(lines, np.int64)
        self.ends = np.empty(lines, np.int64)
        self.plain_lines = np.empty(lines, np.int64)
        self.present = np.empty((fields, lines), np.uint8)
        self.string_offsets = np.empty((n_strings, lines + 1), np.int32)
        self.string_data = np.empty((n_strings, max(nbytes, 1)), np.uint8)
        self.string_words = words_of(self.string_data)
        self.numbers = np.empty((fields - n_strings - n_decimals, lines), np.int64)
        self.decimals = np.empty((n_decimals, lines), np.float64)
        self.id_hash = np.empty(lines, np.uint64)

    def fits(self, lines: int, nbytes: int) -> bool:
        return lines <= self.lines and nbytes <= self.nbytes


def scan_chunk(buf: np.ndarray, start: int, end: int, schema: Schema, seed: int,
               buffers: ChunkBuffers | None = None, lines: int | None = None) -> ScannedChunk:
    """Read the whole lines of `buf[start:end]` (`end` at a newline or the end of `buf`).

    The result's arrays are views of `buffers` (new ones when not given): valid until
    those are used again. `lines`: `count_lines` of the piece, when the caller has it.
    """
    lines = count_lines(buf, start, end) if lines is None else lines
    if buffers is None or not buffers.fits(lines, end - start):
        buffers = ChunkBuffers(schema, lines, end - start)
    b = buffers
    order = np.full(len(schema.names), -1, np.int64)  # the field last found at each key position
    n, plain = _kernel(buf, words_of(buf), start, end, schema.name_bytes, schema.name_offsets, schema.name_words,
                       schema.name_masks, schema.type_codes, schema.rows, schema.id_field, seed, order,
                       b.kinds, b.starts, b.ends, b.plain_lines, b.present, b.string_offsets, b.string_data,
                       b.string_words, b.numbers, b.decimals, b.id_hash)
    return ScannedChunk(b.kinds[:n], b.starts[:n], b.ends[:n], b.plain_lines[:plain], b.present[:, :plain],
                        b.string_offsets[:, :plain + 1], b.string_data, b.numbers[:, :plain], b.decimals[:, :plain],
                        b.id_hash[:plain])


def after_newline(buf: np.ndarray, i: int) -> int:
    """The index after the first newline at or after `i` (the end of `buf` if none)."""
    while i < len(buf):
        window = buf[i:i + 65536]
        found = np.flatnonzero(window == 10)
        if len(found):
            return i + int(found[0]) + 1
        i += len(window)
    return len(buf)


def chunk_bounds(buf: np.ndarray, target: int) -> list[tuple[int, int]]:
    """`buf` cut after newlines into pieces of about `target` bytes (one piece when it is smaller)."""
    bounds, start, size = [], 0, len(buf)
    while start < size:
        end = size if start + target >= size else after_newline(buf, start + target)
        bounds.append((start, end))
        start = end
    return bounds or [(0, 0)]


@njit(cache=True, nogil=True)
def mark_repeats(hashes, bits, suspect):
    """Set `suspect` where a hash was seen before, in `bits` (a blocked Bloom filter of the
    day's hashes so far, updated) or earlier in `hashes`; and also the first of each
    repeated hash in `hashes`. A false positive only makes a line wait for the exact check.
    """
    words = bits.shape[0]
    n = hashes.shape[0]
    repeats = np.empty(n, np.uint64)
    found = 0
    for p in range(n):
        h = hashes[p]
        word = (h >> np.uint64(12)) & np.uint64(words - 1)
        mask = (np.uint64(1) << (h & np.uint64(63))) | (np.uint64(1) << ((h >> np.uint64(6)) & np.uint64(63)))
        if bits[word] & mask == mask:
            suspect[p] = True
            repeats[found] = h
            found += 1
        else:
            bits[word] |= mask
    if found:
        # The first line of a hash repeated in this batch was let through above: catch it.
        # A sieve on the hashes' low bits (cache-resident) spares nearly every line the search.
        repeated = np.sort(repeats[:found])
        sieve = np.zeros(1 << 16, np.uint8)
        for q in range(found):
            sieve[repeated[q] & np.uint64(0xFFFF)] = 1
        for p in range(n):
            if not suspect[p] and sieve[hashes[p] & np.uint64(0xFFFF)]:
                k = np.searchsorted(repeated, hashes[p])
                if k < found and repeated[k] == hashes[p]:
                    suspect[p] = True
    return found


def hash_text(text: str, seed: int) -> int:
    """The hash `scan_chunk` gives an id of this text under `seed`."""
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return int(hash_bytes(data, 0, len(data), seed))
