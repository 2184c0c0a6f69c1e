"""Fixed-width byte rows in numpy: the primitives of the vectorised decoder (``columnar``).

A ``Block`` holds rows of equal width (the records of one layout, or the slots of a repeated
group) in one buffer with spare bytes around them, so that any 8 bytes of a row can be read as
one unaligned little-endian ``uint64`` per row (a strided view, then one copy). On such words:
``digit_words`` / ``not_digits`` / ``all_spaces`` / ``swar`` turn up to 8 ASCII digits into
their number (three multiply-shift steps instead of a numpy pass per digit), ``padding`` finds
the unused slots of a group. ``strings`` and ``text`` make Arrow string columns of ASCII and
of cp932 bytes (one decode per column; a column of only full-width characters, as names are,
by a table of each byte pair's UTF-8 bytes instead of the codec).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing.records import ENCODING

_IDEOGRAPHIC_SPACE = "\u3000".encode(ENCODING)


@lru_cache(maxsize=512)
def offsets(n: int, step: int) -> pa.Array:
    """0, step, 2 step ... n step (int32): the offsets of n values of one width (immutable, so
    shared by every column of that many values)."""
    return pa.array(np.arange(0, (n + 1) * step, step, dtype=np.int32))


# Numbers are read 8 bytes at a time: a field's bytes as one little-endian uint64 (unaligned,
# strided: a view, then one copy) and turned into its value by SWAR arithmetic (three
# multiply-shift steps per 8 digits) instead of one numpy pass per digit. A field shorter than
# 8 bytes is read as the word that ends where it ends; the bytes before it are masked to '0'.
SPARE = 8  # bytes before the first row (and after the last) of every block, so such a word can be read
_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_HIGH = _U(0x8080808080808080)
_ABOVE_NINE = _U(0x7676767676767676)  # + a byte 0-9 stays below 0x80, + 10 or more reaches it
_SWAR = ((_U(0x0F0F0F0F0F0F0F0F), _U(2561), _U(8)), (_U(0x00FF00FF00FF00FF), _U(6553601), _U(16)),
         (_U(0x0000FFFF0000FFFF), _U(42949672960001), _U(32)))


def _top(n: int) -> np.uint64:
    """Mask of the last ``n`` bytes of a little-endian word (the high ones)."""
    return _U(((1 << (8 * n)) - 1) << (8 * (8 - n)) & 0xFFFFFFFFFFFFFFFF)


class Block:
    """``rows`` fixed-width rows of ``stride`` bytes in one buffer, with spare bytes around them:
    the records of a layout, or the slots of a repeated group (one row per slot)."""

    __slots__ = ("buf", "rows", "stride")

    def __init__(self, buf: np.ndarray, rows: int, stride: int) -> None:
        self.buf, self.rows, self.stride = buf, rows, stride

    @classmethod
    def of(cls, view: np.ndarray) -> Block:
        """A copy of ``view`` (values of one numpy void type, any strides) as a block, one
        row per value: numpy copies a void element at once, several times faster than bytes."""
        rows, stride = view.size, view.dtype.itemsize
        buf = np.empty(2 * SPARE + rows * stride, np.uint8)
        buf[:SPARE] = 0
        buf[-SPARE:] = 0
        np.ndarray(view.shape, view.dtype, buf, SPARE)[...] = view
        return cls(buf, rows, stride)

    def matrix(self) -> np.ndarray:
        return self.buf[SPARE:SPARE + self.rows * self.stride].reshape(self.rows, self.stride)

    def take(self, idx: np.ndarray) -> Block:
        buf = np.zeros(2 * SPARE + len(idx) * self.stride, np.uint8)
        np.take(self.matrix(), idx, axis=0, out=buf[SPARE:SPARE + len(idx) * self.stride].reshape(-1, self.stride))
        return Block(buf, len(idx), self.stride)

    def words(self, col: int, count: int = 1, step: int = 0) -> np.ndarray:
        """The 8 bytes from ``col`` (may be down to -8) of every row, ``count`` times ``step``
        apart, as one flat uint64 array (rows x count)."""
        shape, strides = ((self.rows,), (self.stride,)) if count == 1 else ((self.rows, count), (self.stride, step))
        return np.ndarray(shape, "<u8", self.buf, SPARE + col, strides).reshape(-1).copy()

    def cells(self, col: int, length: int, count: int = 1) -> np.ndarray:
        """The bytes of a field, (rows x count, length), contiguous: copied as numpy void values
        (one element per value), several times faster than byte by byte."""
        view = np.ndarray((self.rows, count), f"V{length}", self.buf, SPARE + col, (self.stride, length))
        return np.ascontiguousarray(view).reshape(-1).view(np.uint8).reshape(-1, length)

    def at(self, index: int, col: int, length: int, count: int) -> bytes:
        """The bytes of value ``index`` (in rows x count order) of a field."""
        row, n = divmod(index, count)
        start = SPARE + row * self.stride + col + n * length
        return self.buf[start:start + length].tobytes()


def padding(slots: Block) -> np.ndarray:
    """True for a slot of only spaces, '0' and U+3000 (an unused element), as the per-record
    parser has it. Eight bytes at a time: a byte is ' ' or '0' exactly when ``byte | 0x10`` is
    0x30. Slots with bytes >= 0x80 (text, or U+3000 padding) are looked at byte by byte, and the
    rare one of only ' ', '0', 0x81 and 0x40 is checked exactly in Python.

    A slot whose first 8 bytes are not all ' ', '0', 0x81 or 0x40 is not padding: only the
    others (the unused slots, and the few used ones that start that way) are looked at whole."""
    width = slots.stride
    if width > 8 and slots.rows:
        x = slots.words(0)
        x |= _U(0x1010101010101010)
        x ^= _ZEROS  # ' ', '0', '@', 0x81 leave only bits of 0xE1
        maybe = np.flatnonzero((x & _U(0x1E1E1E1E1E1E1E1E)) == 0)
        if len(maybe) * 2 < slots.rows:
            blank = np.zeros(slots.rows, bool)
            if len(maybe):
                blank[maybe] = _padding_whole(slots.take(maybe))
            return blank
    return _padding_whole(slots)


def _padding_whole(slots: Block) -> np.ndarray:
    width = slots.stride
    if width > _WIDE_SLOT:  # few wide slots (CK's 1,220 bytes): byte-wise rows, not 150 calls per word
        matrix = slots.matrix()
        pad = (matrix | 0x10) == 0x30
        blank = pad.all(axis=1)
        maybe = np.flatnonzero(~blank & (pad | (matrix == 0x40) | (matrix == 0x81)).all(axis=1))
        for i in maybe:
            blank[i] = not slots.at(int(i), 0, width, 1).replace(_IDEOGRAPHIC_SPACE, b"").strip(b" 0")
        return blank
    cols = [width - 8] if width < 8 else [*range(0, width - 7, 8), *([width - 8] if width % 8 else [])]
    acc = np.zeros(slots.rows, np.uint64)
    for col in cols:
        w = slots.words(col)
        if col < 0:  # bytes of the slot before: count them as '0'
            w &= _top(width)
            w |= _ZEROS & ~_top(width)
        w |= _U(0x1010101010101010)
        w ^= _ZEROS
        acc |= w
    blank = acc == 0
    # ' ', '0', '@' and 0x81 (U+3000 is 0x81 0x40) leave only the bits of 0xE1 in ``acc``: any
    # other bit rules U+3000 padding out (text almost always sets one); a byte >= 0x80 is needed
    high = acc & _HIGH
    if not high.any():
        return blank
    maybe = np.flatnonzero(~blank & (high != 0) & ((acc & _U(0x1E1E1E1E1E1E1E1E)) == 0))
    if len(maybe):
        some = slots.take(maybe).matrix()
        inside = (((some | 0x10) == 0x30) | (some == 0x40) | (some == 0x81)).all(axis=1)
        for i in maybe[inside]:  # only 0x81 0x40 pairs (U+3000) may stand in for padding
            blank[i] = not slots.at(int(i), 0, width, 1).replace(_IDEOGRAPHIC_SPACE, b"").strip(b" 0")
    return blank


_WIDE_SLOT = 64


def digit_words(words: np.ndarray, n: int) -> np.ndarray:
    """Words whose last ``n`` (<= 8) bytes are a field's, the bytes before masked to '0', XOR '0'
    (in place): a digit becomes 0-9, a space 0x10."""
    if n < 8:
        words &= _top(n)
        words |= _ZEROS & ~_top(n)
    words ^= _ZEROS
    return words


def not_digits(x: np.ndarray) -> np.ndarray:
    """Non-zero where a word of ``digit_words`` holds a byte that was not a digit."""
    bad = x + _ABOVE_NINE
    bad |= x
    bad &= _HIGH
    return bad


def all_spaces(x: np.ndarray, n: int) -> np.ndarray:
    """True where the ``n`` bytes of a word of ``digit_words`` were all spaces."""
    return x == (_U(0x1010101010101010) & _top(n))


def swar(x: np.ndarray) -> np.ndarray:
    """Eight digits 0-9, the first in the lowest byte, to their number (in place)."""
    for mask, multiplier, shift in _SWAR:
        x &= mask
        x *= multiplier
        x >>= shift
    return x


def strings(view: np.ndarray, *, trim: bool = True) -> pa.Array:
    """ASCII (or already valid) bytes as a string column without a copy per value; trimmed when
    a value starts or ends with a byte padding may make."""
    rows, width = view.shape
    data = np.ascontiguousarray(view)
    array = pa.StringArray.from_buffers(rows, offsets(rows, width).buffers()[1], pa.py_buffer(data))
    if trim and rows and width and (edges(data[:, 0]) or edges(data[:, width - 1])):
        return pc.utf8_trim(array, " \u3000")
    return array


def edges(column: np.ndarray) -> bool:
    """Whether any of these bytes is one padding may make at either end of a value (``EDGES``).
    Most columns (digits, letters) lie between two such bytes: their minimum and maximum say
    so in two passes, without a look-up per byte."""
    low, high = int(column.min()), int(column.max())
    if any(a < low and high < b for a, b in _GAPS):
        return False
    return bool(EDGES[column].any())


# Bytes at either end of a value that padding may make: ' ', and either byte of U+3000 (0x81 0x40).
EDGES = np.zeros(256, bool)
EDGES[[0x20, 0x40, 0x81]] = True
_GAPS = ((-1, 0x20), (0x20, 0x40), (0x40, 0x81), (0x81, 0x100))  # open ranges of bytes between them


def text(view: np.ndarray) -> pa.Array:
    """cp932 text, a column in one decode: the values with a line feed after each, decoded from
    cp932 and encoded to UTF-8 in one call each; the line feeds give the offsets and are trimmed
    off with the padding. A line feed never ends a cp932 character, so a value cut inside one
    still fails to decode. A column that holds a line feed of its own takes the per-value way.

    Short values are laid side by side by numpy (no Python object per value); long ones (6,800
    bytes of a course description, mostly U+3000) are joined by Python without their trailing
    padding, which is most of the bytes to decode."""
    rows, width = view.shape
    if width % 2 == 0 and width < _LONG_TEXT and rows:  # _LONG_TEXT <= 254
        done = _double_byte(view)
        if done is not None:
            return done
    if (view == 10).any():
        return _text_per_value(view)
    if width >= _LONG_TEXT:
        data = np.ascontiguousarray(view)
        raw = memoryview(data.tobytes())
        cuts = _content_lengths(data).tolist()
        joined = b"\n".join([raw[start:start + cut] for start, cut in zip(range(0, rows * width, width), cuts)])
        joined += b"\n"
    else:
        lines = np.empty((rows, width + 1), np.uint8)
        lines[:, :width] = view
        lines[:, width] = 10
        joined = lines.tobytes()
    utf8 = joined.decode(ENCODING).encode("utf-8")
    if len(utf8) >= 2 ** 31:
        return _text_per_value(view)
    ends = np.flatnonzero(np.frombuffer(utf8, np.uint8) == 10) + 1
    bounds = np.zeros(rows + 1, np.int32)
    bounds[1:] = ends
    array = pa.StringArray.from_buffers(rows, pa.py_buffer(bounds), pa.py_buffer(utf8))
    return pc.utf8_trim(array, " \u3000\n")


_LONG_TEXT = 256


def _double_byte(view: np.ndarray) -> pa.Array | None:
    """A column of only double-byte cp932 characters (names in 全角 fields: kana, kanji,
    U+3000 padding) decoded without the codec: each byte pair looked up in a table of its
    UTF-8 bytes, the U+3000 at either end left out. None when any pair is not such a
    character (a space, a half-width kana, a byte that is no lead byte): then the codec does it.
    Pairs from the first byte are how cp932 reads them, since a lead byte always takes the next."""
    rows, width = view.shape
    pairs = np.ascontiguousarray(view).view(">u2").astype(np.uint16)
    text = pairs != 0x8140  # not U+3000
    chars = width // 2  # < 128: positions fit in uint8
    at = np.arange(1, chars + 1, dtype=np.uint8)
    # one past the last character that is not U+3000 (a max over the transposed: numpy's max
    # along a short last axis is several times slower)
    last = np.ascontiguousarray((text.view(np.uint8) * at).T).max(axis=0)
    prefix = _prefixes(chars)
    keep = np.take(prefix, last, axis=0)  # the characters before ``last``
    first = text.argmax(axis=1)
    if first.any():
        keep &= ~np.take(prefix, first, axis=0)
    else:
        first = np.zeros(rows, np.int64)
    data = np.take(_double_byte_table(), pairs[keep], axis=0)
    if len(data) and not data[:, 0].all():  # a pair that is not one 3-byte character (U+3000 is one)
        return None
    last = np.maximum(last.astype(np.int64), first)
    bounds = np.zeros(rows + 1, np.int64)
    np.cumsum((last - first) * 3, out=bounds[1:])
    if bounds[-1] >= 2 ** 31:
        return None
    return pa.StringArray.from_buffers(rows, pa.py_buffer(bounds.astype(np.int32)), pa.py_buffer(data))


@lru_cache(maxsize=64)
def _prefixes(n: int) -> np.ndarray:
    """Row k: k True then n - k False (k = 0..n)."""
    table = np.tri(n + 1, n, -1, dtype=bool)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=1)
def _double_byte_table() -> np.ndarray:
    """For each cp932 byte pair (lead byte first), the UTF-8 bytes of its character (65536 x 3),
    0 0 0 where the pair is not one character of 3 UTF-8 bytes."""
    table = np.zeros((65536, 3), np.uint8)
    for lead in [*range(0x81, 0xA0), *range(0xE0, 0xFD)]:
        for trail in range(256):
            try:
                char = bytes((lead, trail)).decode(ENCODING)
            except UnicodeDecodeError:
                continue
            code = char.encode("utf-8")
            if len(char) == 1 and len(code) == 3:
                table[lead << 8 | trail] = tuple(code)
    table.setflags(write=False)
    return table

_PAD_WORDS = (_U(0x4081408140814081), _U(0x2020202020202020))  # four U+3000, eight spaces


def _content_lengths(data: np.ndarray) -> np.ndarray:
    """Per row of cp932 text, a length that leaves out only trailing padding: the whole 8-byte
    words (counted from the end) of only U+3000 or only spaces. Where that run starts with
    0x81 after a byte that may lead a double-byte character, that 0x81 could be its second
    byte: the cut moves 2 bytes on (the '@' or U+3000 left in is trimmed after decoding)."""
    rows, width = data.shape
    words = width // 8
    if words == 0:
        return np.full(rows, width, np.int64)
    tail = np.ndarray((rows, words), "<u8", data, width - 8 * words, (width, 8))
    pad = (tail == _PAD_WORDS[0]) | (tail == _PAD_WORDS[1])
    trailing = np.where(pad.all(axis=1), words, pad[:, ::-1].argmin(axis=1))
    cuts = width - 8 * trailing
    inside = np.flatnonzero((cuts > 0) & (cuts < width))
    if len(inside):
        at, before = data[inside, cuts[inside]], data[inside, cuts[inside] - 1]
        lead = ((before >= 0x81) & (before <= 0x9F)) | (before >= 0xE0)
        cuts[inside[(at == 0x81) & lead]] += 2
    return cuts


def _text_per_value(view: np.ndarray) -> pa.Array:
    rows, width = view.shape
    data = np.ascontiguousarray(view).tobytes()
    values = [data[i:i + width].decode(ENCODING).strip(" \u3000") for i in range(0, width * rows, width)]
    return pa.array(values, pa.string())
