"""Reads an evidence upload (multipart/form-data) as it streams in: the file's bytes go into the
domain's `Received` (counted against the limit chunk by chunk), the text fields into small buffers.

FastAPI's `UploadFile` would first spool the whole body (to disk past 1 MiB) and only then let the
route see its size; this reader stops at the first byte over the limit, so a 1 GB upload costs at
most the limit in memory and is never written anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.scoring.domain.evidence import Received, Refused, too_large

FILE_FIELD = "file"
# The form's own text fields are short; the whole form besides the file stays under this.
MAX_FIELD_BYTES = 4096
MAX_PARTS = 12
# What a form adds around the file (boundaries, part headers, the text fields).
FORM_OVERHEAD_BYTES = MAX_PARTS * 1024 + MAX_FIELD_BYTES * 4


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file: Received | None = None


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise Refused(415, "body", "send the evidence as multipart/form-data (a `file` part and form fields)",
                      "not_multipart")  # fmt: skip
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise Refused(422, "body", "multipart/form-data without a usable boundary", "bad_form")
    return boundary


def refuse_declared_length(content_length: str | None, max_file_bytes: int) -> None:
    """A body declaring more than the file limit plus a form's overhead is refused before a byte of it
    is read (a client sending `Expect: 100-continue` never sends it at all)."""
    if content_length and content_length.isdigit() and int(content_length) > max_file_bytes + FORM_OVERHEAD_BYTES:
        raise too_large(max_file_bytes)


# What is read and thrown away after a refusal, so that a client that sent a little too much gets
# its answer on a clean connection; past this the connection is closed instead (the client may then
# see a reset rather than the answer: it was sending far more than it may).
DRAIN_BYTES = 16 * 1024 * 1024


class Body:
    """A request body read from ASGI `receive` as it arrives, which knows whether it has ended (a
    refusal mid-body drains the rest; after the end, `receive` would wait for the disconnect)."""

    def __init__(self, receive: Callable[[], Awaitable[dict]], content_length: str | None = None) -> None:
        self._receive = receive
        self.declared = int(content_length) if content_length and content_length.isdigit() else None
        self.complete = False
        self.gone = False

    async def _next(self) -> bytes:
        message = await self._receive()
        if message["type"] != "http.request":
            self.gone = True
            raise Refused(400, "body", "the client went away before the body ended", "disconnected")
        self.complete = not message.get("more_body", False)
        return message.get("body", b"")

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            yield await self._next()

    async def drain(self, max_bytes: int = DRAIN_BYTES) -> bool:
        """Reads and discards the rest; True when the body ended within `max_bytes` (a body declared
        longer than that is not read at all)."""
        if self.declared is not None and self.declared > max_bytes + FORM_OVERHEAD_BYTES and not self.complete:
            return False
        seen = 0
        try:
            while not self.complete:
                seen += len(await self._next())
                if seen > max_bytes and not self.complete:
                    return False
        except Refused:
            return False
        return True


class _Reader:
    def __init__(self, max_file_bytes: int, text_fields: frozenset[str]) -> None:
        self.form = Form()
        self.max_file_bytes = max_file_bytes
        self.text_fields = text_fields
        self.parts = 0
        self.ended = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._text: bytearray | None = None
        self._name = ""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Refused(422, "body", f"more than {MAX_PARTS} form parts", "bad_form")
        self._headers = {}

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name, self._text = name, None
        if name == FILE_FIELD:
            if self.form.file is not None:
                raise Refused(422, FILE_FIELD, "one file per upload", "bad_form")
            # Browsers send the name as raw UTF-8 (a Chinese name stays readable); undecodable bytes do not fail it.
            self.form.filename = params.get(b"filename", b"").decode("utf-8", "replace")
            self.form.file = Received(self.max_file_bytes)
        elif name in self.text_fields:
            if name in self.form.fields:
                raise Refused(422, name, "given twice", "bad_form")
            self._text = bytearray()
        else:
            known = ", ".join(sorted({FILE_FIELD, *self.text_fields}))
            raise Refused(422, name or "body", f"unknown form field {name!r}; the form has {known}", "bad_form")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == FILE_FIELD:
            self.form.file.add(data[start:end])  # type: ignore[union-attr]
        elif self._text is not None:
            self._text.extend(data[start:end])
            if len(self._text) > MAX_FIELD_BYTES:
                raise Refused(422, self._name, f"longer than {MAX_FIELD_BYTES} bytes", "bad_form")

    def on_part_end(self) -> None:
        if self._text is not None:
            try:
                self.form.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(422, self._name, "not UTF-8 text", "bad_form") from None
        self._text, self._name = None, ""

    def on_end(self) -> None:
        self.ended = True


async def read_form(
    chunks: AsyncIterator[bytes], content_type: str | None, *, max_file_bytes: int, text_fields: frozenset[str]
) -> Form:
    """The form of an upload, read chunk by chunk; `Refused` (413) as soon as the file passes
    `max_file_bytes`, (422) for a form that is not the evidence form or ends early."""
    reader = _Reader(max_file_bytes, text_fields)
    parser = MultipartParser(boundary_of(content_type), reader.callbacks())
    try:
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except FormParserError as e:
        raise Refused(422, "body", f"not a well-formed multipart body: {e}", "bad_form") from None
    if not reader.ended:
        raise Refused(422, "body", "the multipart body ended before its closing boundary", "bad_form")
    if reader.form.file is None:
        raise Refused(422, FILE_FIELD, "no file part named `file`", "bad_form")
    return reader.form
