"""Evidence files (佐证材料) for assessed indicators: what a file is (from its bytes, never from what
the client says), what it may be called, how big it may be, and who may upload, read or remove one.

Pure: no I/O. The HTTP reader feeds bytes into `Received` as they arrive; the use case calls
`identify` once the body is complete.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_FILENAME_CHARS = 150


@dataclass(frozen=True)
class FileKind:
    kind: str
    content_type: str
    extensions: tuple[str, ...]  # the first is the one a name without an extension gets
    label: str


PDF = FileKind("pdf", "application/pdf", (".pdf",), "a PDF document")
PNG = FileKind("png", "image/png", (".png",), "a PNG image")
JPEG = FileKind("jpeg", "image/jpeg", (".jpg", ".jpeg"), "a JPEG image")
DOCX = FileKind(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
    "a Word document",
)
XLSX = FileKind(
    "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",), "an Excel workbook"
)
PPTX = FileKind(
    "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    (".pptx",),
    "a PowerPoint presentation",
)
ODT = FileKind("odt", "application/vnd.oasis.opendocument.text", (".odt",), "an OpenDocument text")
ODS = FileKind("ods", "application/vnd.oasis.opendocument.spreadsheet", (".ods",), "an OpenDocument spreadsheet")
ODP = FileKind("odp", "application/vnd.oasis.opendocument.presentation", (".odp",), "an OpenDocument presentation")

KINDS = (PDF, PNG, JPEG, DOCX, XLSX, PPTX, ODT, ODS, ODP)
BY_CONTENT_TYPE = {k.content_type: k for k in KINDS}
ACCEPTED = ", ".join(sorted({e for k in KINDS for e in k.extensions}))

# An office document names its main part in a fixed place of the archive.
_OOXML_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX), ("ppt/presentation.xml", PPTX))
_ODF = {ODT.content_type: ODT, ODS.content_type: ODS, ODP.content_type: ODP}

# Executables and scripts are refused by name, so the reason says what the file really is.
_EXECUTABLES = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xce\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java executable"),
    (b"#!", "a script"),
)


class Refused(Exception):
    """A file or a form field that cannot be evidence: `status` 413 (too large), 415 (not an accepted
    kind of file) or 422 (a name or field that does not fit), with the field and the reason."""

    def __init__(self, status: int, field: str, reason: str, code: str) -> None:
        super().__init__(reason)
        self.status, self.field, self.reason, self.code = status, field, reason, code


def too_large(max_bytes: int, field: str = "file") -> Refused:
    return Refused(413, field, f"larger than the limit of {max_bytes} bytes ({max_bytes / 1048576:g} MiB)", "too_large")


@dataclass
class Received:
    """The bytes of one file as they arrive: counted, hashed and kept up to `max_bytes`; one byte
    more refuses it at once, so a client streaming a gigabyte never has more than the limit held."""

    max_bytes: int
    size: int = 0
    _chunks: list[bytes] = field(default_factory=list)
    _sha: Any = field(default_factory=hashlib.sha256)

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self._chunks.clear()
            raise too_large(self.max_bytes)
        self._chunks.append(chunk)
        self._sha.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def content(self) -> bytes:
        return b"".join(self._chunks)


def sniff(data: bytes) -> FileKind:
    """The kind of file `data` is, from its magic bytes (and, for the ZIP-based office formats, from
    the archive's directory; nothing is decompressed). Refused (415) when it is none we accept."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    for magic, what in _EXECUTABLES:
        if data.startswith(magic):
            raise Refused(415, "file", f"the file is {what}, not evidence; accepted: {ACCEPTED}", "executable")
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise Refused(415, "file", "legacy Office files (.doc/.xls/.ppt) are not accepted: save it as "
                                   ".docx, .xlsx or .pptx", "unsupported_type")  # fmt: skip
    raise Refused(415, "file", f"not a file kind accepted as evidence ({ACCEPTED})", "unsupported_type")


def _office(data: bytes) -> FileKind:
    # OpenDocument stores its type uncompressed as the first entry, at a fixed offset.
    if data[30:38] == b"mimetype":
        for content_type, kind in _ODF.items():
            if data[38 : 38 + len(content_type)] == content_type.encode():
                return kind
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Refused(415, "file", "a damaged ZIP archive, not an office document", "unsupported_type") from None
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise Refused(415, "file", "an office document with macros is not accepted: save it without macros "
                                   "(.docx, .xlsx, .pptx)", "executable")  # fmt: skip
    if "[Content_Types].xml" in names:
        for part, kind in _OOXML_PARTS:
            if part in names:
                return kind
    raise Refused(415, "file", f"a ZIP archive, not an office document; accepted: {ACCEPTED}", "unsupported_type")


_UNSAFE = re.compile(r"[^\w\-. ()\[\]+,&@#'、，（）【】《》]")
_SPACES = re.compile(r"\s+")


def sanitise_filename(name: str | None) -> str:
    """A name safe to store and to send back in Content-Disposition: the last path segment only (no
    directories, `..` or drive letters), Unicode NFC (Chinese names kept), no control or shell
    characters, no leading dot, at most MAX_FILENAME_CHARS characters with the extension kept.
    Empty when nothing usable is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")  # control, format, private-use
    base = _SPACES.sub(" ", _UNSAFE.sub("_", base)).strip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext.lower()[:10]
    stem = stem.strip(" .")[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .")
    if not stem:
        return ""
    return f"{stem}.{ext}" if ext else stem


def identify(raw_name: str | None, data: bytes) -> tuple[str, FileKind]:
    """The stored name and the kind of an uploaded file. The kind comes from the bytes; a name whose
    extension says another kind is refused (422: a PNG named .pdf is not silently relabelled, the
    uploader picked the wrong file or renamed it); a name without extension gets the kind's."""
    if not data:
        raise Refused(422, "file", "the file is empty", "empty")
    kind = sniff(data)
    name = sanitise_filename(raw_name)
    if not name:
        name = f"evidence{kind.extensions[0]}"
    _, dot, ext = name.rpartition(".")
    ext = f".{ext}" if dot else ""
    if not ext:
        name = f"{name}{kind.extensions[0]}"
    elif ext not in kind.extensions:
        raise Refused(422, "file", f"the file is {kind.label} but is named {ext}; rename it to "
                                   f"{kind.extensions[0]} or upload the right file", "type_mismatch")  # fmt: skip
    return name, kind


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266, RFC 5987)."""
    fallback = "".join(c if c.isascii() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# --- who may do what ---------------------------------------------------------------------------------

UPLOADERS = ("operator", "assessor", "community_worker")
READERS = ("operator", "assessor", "community_worker")


def may_read(role: str, own_community: str | None, community_id: str) -> bool:
    """Assessors and operators read all evidence; a community workstation its own community's."""
    if role in ("operator", "assessor"):
        return True
    return role == "community_worker" and own_community == community_id
