"""Input lines: the Line type, the one reader loop, the input file, the JSON-object decoder, the
error formatter.

Input is read as bytes, once, a line at a time, and decoded per line: a line that is not UTF-8,
or longer than MAX_LINE_BYTES, is a rejected line like any other, and the run goes on.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import shlex
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from crm_push.errors import InvalidInput

if TYPE_CHECKING:  # pydantic is imported by the parsers that raise its errors
    from pydantic import ValidationError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: The key a --rejects file adds to each failed line; ignored when the line is pushed again.
REJECT_KEY = "_reject"
#: What a rejected line's error suggests doing.
FIX_LINE = "fix the line and push it again"
#: The longest line read, in bytes without its line break (1 MiB). A longer line is rejected
#: with its size, without being parsed or held whole in memory.
MAX_LINE_BYTES = 1 << 20
#: How much of a rejected line (too long, or not a JSON object) is kept as its `raw` excerpt.
EXCERPT_CHARS = 200
#: How much of the start of an input is looked at to tell it is not JSON Lines text.
SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Skip:
    """What a parser returns for a valid line that is not for us (a Segment `track` event)."""

    type: str


@dataclass(frozen=True, slots=True)
class Line(Generic[T]):
    """One non-blank input line: its number, its text, and exactly one of what it holds (`item`),
    why it is rejected (`error`) or the type of line it skips (`skipped`).

    `end` is the byte offset in the input just after the line, when it was read as bytes (the
    progress bar of a file advances by it); `raw` is an excerpt when the line was too long."""

    line: int
    raw: str
    item: T | None = None
    error: InvalidInput | None = None
    skipped: str | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        given = (self.item is not None) + (self.error is not None) + (self.skipped is not None)
        if given != 1:
            raise ValueError("a Line holds exactly one of item, error and skipped")


class Parser(Protocol[T_co]):
    """Turns one stripped, non-blank line into its item (or a Skip); raises InvalidInput."""

    def __call__(self, text: str, *, line: int) -> T_co | Skip: ...


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line as an InputFile reads it: its bytes with the line break (only the first bytes
    when it is too long), its size in bytes without the line break, and the byte offset in the
    input just after it."""

    data: bytes
    size: int
    end: int


def read_lines(lines: Iterable[str | bytes | RawLine], parse: Parser[T]) -> Iterator[Line[T]]:
    """Yield each non-blank line as a Line; a bad line never stops the stream.

    Lines may be text (a file opened in text mode), bytes (a file opened in binary mode: each
    line is decoded on its own) or the RawLines of an InputFile. A UTF-8 byte order mark at the
    start is dropped."""
    for number, chunk in enumerate(lines, start=1):
        text, error = _decode(chunk, number)
        end = chunk.end if isinstance(chunk, RawLine) else None
        if error is None:
            text = text.strip()
            if not text:
                continue
            try:
                parsed = parse(text, line=number)
            except InvalidInput as exc:
                error = exc
            else:
                if isinstance(parsed, Skip):
                    yield Line(number, text, skipped=parsed.type, end=end)
                else:
                    yield Line(number, text, item=parsed, end=end)
                continue
        yield Line(number, text, error=error, end=end)


def _decode(chunk: str | bytes | RawLine, number: int) -> tuple[str, InvalidInput | None]:
    """A line's text, or why it cannot be read (too long, not UTF-8) and an excerpt of it."""
    if isinstance(chunk, str):
        text = chunk.removeprefix("\ufeff") if number == 1 else chunk
        if len(text) > MAX_LINE_BYTES // 4:  # else it cannot be too long, whatever it holds
            size = len(text.rstrip("\r\n").encode("utf-8", "surrogatepass"))
            if size > MAX_LINE_BYTES:
                return _excerpt(text), _too_long(number, size)
        return text, None
    data = chunk.data if isinstance(chunk, RawLine) else chunk
    if number == 1 and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    size = chunk.size if isinstance(chunk, RawLine) else len(data.rstrip(b"\r\n"))
    if size > MAX_LINE_BYTES:
        return _excerpt(data[: EXCERPT_CHARS * 4].decode("utf-8", "replace")), _too_long(
            number, size
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        error = InvalidInput(
            f"line {number}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
            f"{exc.start + 1} of the line): save the file as UTF-8",
            field="(line)",
            next_step=FIX_LINE,
        )
        return data.decode("utf-8", "backslashreplace").strip(), error


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _too_long(number: int, size: int) -> InvalidInput:
    return InvalidInput(
        f"line {number}: too long ({size:,} bytes; a line holds at most {MAX_LINE_BYTES:,} "
        "bytes, 1 MiB): shorten its values or split it",
        field="(line)",
        next_step=FIX_LINE,
    )


class NotJsonLines(ValueError):
    """The input is clearly not JSON Lines text (compressed, binary, UTF-16): nothing is read."""

    def __init__(self, name: str, what: str, command: str | None) -> None:
        super().__init__(f"{name} looks like {what}, not JSON Lines text")
        self.name = name
        self.what = what
        self.command = command

    def advice(self, push: str = "crm-push … push") -> str:
        """What it looks like and what to do, with the `push` command to pipe text into."""
        if self.command is None:
            return f"{self}: push a JSON Lines file (one JSON object a line)"
        verb = "convert it to UTF-8" if self.command.startswith("iconv") else "decompress it"
        source = "FILE" if self.name == "stdin" else shlex.quote(self.name)
        return (
            f"{self.name} looks like {self.what}: {verb} first, "
            f"e.g. {self.command} {source} | {push} -"
        )


class InputFile:
    """An input read once, as bytes, a line at a time: a file, a named pipe, or stdin ("-").

    Opening it looks at its first bytes (without consuming them, so a pipe is read once) and
    raises NotJsonLines when they are clearly not JSON Lines text. `size` is the number of bytes
    to read when the input is a regular file, else None (a pipe, a terminal). Iterating yields
    RawLines; a line longer than MAX_LINE_BYTES is skipped over in chunks, never held whole.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = "stdin" if path == "-" else path
        if path == "-":
            stream: IO[bytes] = sys.stdin.buffer
        else:
            stream = open(path, "rb", buffering=1 << 16)  # noqa: SIM115 (closed when read)
        self._close = path != "-"
        if not hasattr(stream, "peek"):  # a BytesIO standing in for stdin, say
            stream = io.BufferedReader(_Raw(stream))  # type: ignore[arg-type]
        self._stream = stream
        self.size = _size_left(stream)
        try:
            head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]  # type: ignore[attr-defined]
        except BaseException:
            self.close()
            raise
        if (looks := looks_like(head)) is not None:
            self.close()
            raise NotJsonLines(self.name, *looks)

    def __iter__(self) -> Iterator[RawLine]:
        readline = self._stream.readline
        end = 0
        try:
            while data := readline(MAX_LINE_BYTES + 2):  # room for the line break, \r\n too
                end += len(data)
                if len(data) < MAX_LINE_BYTES + 2 or data.endswith(b"\n"):
                    yield RawLine(data, len(data.rstrip(b"\r\n")), end)
                    continue
                size = len(data)  # too long: skip the rest of the line, a chunk at a time
                while (rest := readline(1 << 16)) and not rest.endswith(b"\n"):
                    size += len(rest)
                end += size - len(data) + len(rest)
                yield RawLine(data[: EXCERPT_CHARS * 4], size + len(rest.rstrip(b"\r\n")), end)
        finally:
            self.close()

    def close(self) -> None:
        if self._close:
            self._stream.close()

    def __enter__(self) -> InputFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Raw(io.RawIOBase):
    """A binary stream without `peek` as a raw stream, to buffer it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._read = getattr(stream, "read1", stream.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _size_left(stream: IO[bytes]) -> int | None:
    """The bytes left to read in a regular file; None for a pipe, a terminal or a stand-in."""
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return max(0, info.st_size - stream.tell())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


#: Magic numbers of what people push by mistake ⇒ (what it is, the command that makes text).
_MAGIC = (
    (b"\x1f\x8b", "a gzip file", "gzip -dc"),
    (b"BZh", "a bzip2 file", "bzip2 -dc"),
    (b"\xfd7zXZ\x00", "an xz file", "xz -dc"),
    (b"\x28\xb5\x2f\xfd", "a zstd file", "zstd -dc"),
    (b"PK\x03\x04", "a zip file (or a spreadsheet)", "unzip -p"),
    (codecs.BOM_UTF16_LE, "UTF-16 text", "iconv -f UTF-16 -t UTF-8"),
    (codecs.BOM_UTF16_BE, "UTF-16 text", "iconv -f UTF-16 -t UTF-8"),
)


#: The control characters text holds: tab, line feed, form feed, carriage return.
_TEXT_CONTROLS = frozenset(b"\t\n\f\r")


def looks_like(head: bytes) -> tuple[str, str | None] | None:
    """What the first bytes of an input look like when clearly not JSON Lines text, with the
    command that would turn it into text (None when there is none); None when they may be."""
    for magic, what, command in _MAGIC:
        if head.startswith(magic) and (magic != b"BZh" or head[3:4].isdigit()):
            return what, command
    if not head:
        return None
    if head.count(0) > len(head) // 4 and (
        head[1::2].count(0) > len(head) // 3 or head[0::2].count(0) > len(head) // 3
    ):
        return "UTF-16 text", "iconv -f UTF-16 -t UTF-8"
    # Text, in whatever encoding, has next to no control characters; binary data is full of
    # them (1 byte in 8 of random data). Text in another encoding than UTF-8 is not refused
    # here: each of its lines that is not UTF-8 is rejected, saying so.
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    if controls > len(head) * 0.05:
        return "a binary file", None
    return None


def open_lines(path: str) -> Iterator[RawLine]:
    """The lines of a file, or of stdin for "-", read lazily as bytes, once."""
    yield from InputFile(path)


def json_object(
    text: str, *, line: int, what: str, next_step: str | None = FIX_LINE
) -> dict[str, Any]:
    """One line as a JSON object, without the `_reject` key a rejects file added.

    `next_step=None` keeps InvalidInput's own next step (a visitor's)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"line {line}: not valid JSON ({exc.msg} at column {exc.colno})",
            field="(line)",
            next_step=next_step,
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"line {line}: expected a JSON object ({what}), got {type(data).__name__}",
            field="(line)",
            next_step=next_step,
        )
    data.pop(REJECT_KEY, None)
    return data


def field_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a reader writes it: `key_contacts[0].email`."""
    from crm_push.models.fields import QUOTE_CHARS  # with pydantic, when a line is validated

    out = ""
    for part in loc:
        if isinstance(part, str) and len(part) > QUOTE_CHARS:  # an unknown key of megabytes
            part = f"{part[:QUOTE_CHARS]}… ({len(part):,} characters)"
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def invalid_input(
    exc: ValidationError,
    where: str,
    *,
    whole: str,
    fields: Mapping[str, str] | None = None,
    extra: str | None = None,
    record: str | None = None,
    next_step: str | None = FIX_LINE,
) -> InvalidInput:
    """The first error of a pydantic validation as InvalidInput: `{where}: {field}: {message}`.

    `whole` names an error of the whole object, `fields` renames fields as the input names them,
    `extra` replaces pydantic's message for an unknown key.
    """
    first = exc.errors()[0]
    field = field_path(first["loc"]) or whole
    field = (fields or {}).get(field, field)
    message = first["msg"].removeprefix("Value error, ")
    if extra is not None and first["type"] == "extra_forbidden":
        message = extra
    if first["type"] == "string_unicode":  # a lone surrogate, from a "\ud83d" escape
        message = "holds half a character (a lone surrogate such as \\ud83d: an emoji cut in two)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InvalidInput(
        f"{where}: {field}: {message}{more}", field=field, record=record, next_step=next_step
    )
