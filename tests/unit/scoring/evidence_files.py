"""Small real files of each kind evidence accepts (and some it must refuse), built in code so the
tests carry no binaries: a PDF that opens, a PNG that decodes, office archives with their parts."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def pdf(text: str = "learnstreet evidence") -> bytes:
    """A one-page PDF with `text`, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


def jpeg() -> bytes:
    # SOI, an APP0 JFIF header, EOI: enough for the magic bytes (the sniffer reads no further).
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def _zip(entries: dict[str, bytes], stored_first: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if stored_first:
            z.writestr(zipfile.ZipInfo(stored_first), entries[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            if name != stored_first:
                z.writestr(name, data)
    return buf.getvalue()


def ooxml(main_part: str, *, macros: bool = False) -> bytes:
    entries = {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>", main_part: b"<doc/>"}
    if macros:
        entries[main_part.split("/")[0] + "/vbaProject.bin"] = b"\x00" * 16
    return _zip(entries)


def docx() -> bytes:
    return ooxml("word/document.xml")


def xlsx() -> bytes:
    return ooxml("xl/workbook.xml")


def pptx() -> bytes:
    return ooxml("ppt/presentation.xml")


def odf(content_type: str = "application/vnd.oasis.opendocument.text") -> bytes:
    return _zip({"mimetype": content_type.encode(), "content.xml": b"<office:document/>"}, stored_first="mimetype")


def plain_zip() -> bytes:
    return _zip({"notes.txt": b"hello"})


def windows_exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"This program cannot be run in DOS mode."


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 57


def multipart(fields: dict[str, str], filename: str | None, data: bytes | None, *, boundary: str = "b0undary") -> bytes:
    """A multipart/form-data body as a browser sends it (the file part last)."""
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    if data is not None:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"  # fmt: skip
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)
