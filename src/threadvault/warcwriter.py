"""Writing raw captures: HTTP exchanges and imported files as records of new WARC files.

    WarcWriter(warc_dir).write(exchange)     a response + request record pair, fsynced; returns its index row
    WarcWriter(warc_dir).write_resource(path, FileDigest.of(path), uri=import_uri(sha256), ...)
                                             an imported file as one resource record, streamed, fsynced

Each record is one gzip member, and a writer never appends to an existing file.  The rows returned
are rows of the captures index, described in ``captures``; credentials in headers are redacted.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.recordbuilder import RecordBuilder
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import BUFF_SIZE
from warcio.warcwriter import WARCWriter
from zlib_ng import zlib_ng

from threadvault import __version__
from threadvault.errors import ThreadvaultError
from threadvault.fetch import Exchange
from threadvault.model import iso_utc

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "[redacted]"
GZIP_LEVEL = 6  # gzip's default; warcio's fixed 9 takes 10-15% longer on thread pages for files 0.4% smaller
IMPORT_URN = "urn:threadvault:import:"
FILENAME_FIELD = "X-Threadvault-Filename"  # a resource record's file name as it was imported


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def import_uri(sha256: str) -> str:
    """The WARC-Target-URI of an imported file with this SHA-256 (hex)."""
    return IMPORT_URN + sha256


@dataclass(frozen=True)
class FileDigest:
    """A file's size and digests, taken before it is archived: WARC headers precede the bytes."""

    size: int
    sha256: str  # hex
    warc: str  # sha1:BASE32, the form of WARC-Payload-Digest

    @classmethod
    def of(cls, path: Path) -> FileDigest:
        sha256, sha1, size = hashlib.sha256(), hashlib.sha1(), 0
        with open(path, "rb") as fh:
            while chunk := fh.read(BUFF_SIZE):
                sha256.update(chunk)
                sha1.update(chunk)
                size += len(chunk)
        return cls(size, sha256.hexdigest(), "sha1:" + base64.b32encode(sha1.digest()).decode("ascii"))


class _CheckedReader:
    """A file read for writing into a record: at most ``size`` bytes, hashed on the way, so a file
    that changed since its digest was taken is caught."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh, self._left, self.sha256, self.read_bytes = fh, size, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(chunk)
        self.read_bytes += len(chunk)
        self.sha256.update(chunk)
        return chunk


class _GzipMembers:
    """A WARC file as a warcio writer made with ``gzip=False`` sees it: each record is compressed into
    a gzip member of its own, at GZIP_LEVEL, ended when warcio flushes at the end of the record (as
    warcio's own gzip wrapper is, which always compresses at level 9).

    zlib-ng, not the standard library's zlib, compresses: the same gzip format at half the CPU time
    for files under 1% larger.  Compressing was a fetched page's largest cost after parsing."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self._member = _gzip_member()

    def write(self, data: bytes) -> None:
        self.file.write(self._member.compress(data))

    def flush(self) -> None:
        self.file.write(self._member.flush())
        self.file.flush()
        self._member = _gzip_member()


def _gzip_member() -> zlib_ng._Compress:
    return zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, zlib_ng.MAX_WBITS + 16)


class WarcWriter:
    """Writes exchanges into new ``threadvault-<UTC time>-<serial>.warc.gz`` files, one gzip member a record.

    A writer never appends to an existing file (a killed run may have left half a record at its
    end) and moves to a new file once the current one reaches ``max_file_bytes``.
    """

    def __init__(
        self,
        warc_dir: Path,
        *,
        max_file_bytes: int = 1_000_000_000,
        clock: Callable[[], datetime] = _utc_now,
        record_id: Callable[[], str] = _new_record_id,
        software: str = f"threadvault/{__version__}",
    ) -> None:
        self.warc_dir = Path(warc_dir)
        self.max_file_bytes = max_file_bytes
        self._clock = clock
        self._record_id = record_id
        self._software = software
        self._serial = 0
        self._warc: WARCWriter | None = None
        self._name = ""

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, exchange: Exchange) -> dict[str, Any]:
        """Write the response and request records and fsync them; returns the response's index row."""
        return self._durably(lambda warc: self._write_pair(warc, exchange))

    def write_resource(self, path: Path, digest: FileDigest, *, uri: str, content_type: str,
                       fetched_at: str) -> dict[str, Any]:
        """Write a file as one resource record, streamed from disk, and fsync it; returns its index row.

        ``digest`` is ``FileDigest.of(path)``.  A file that no longer matches it (still being written
        by another program, say) raises ThreadvaultError and leaves nothing of the record behind.
        """
        return self._durably(lambda warc: self._write_resource(warc, Path(path), digest, uri, content_type, fetched_at))

    def _durably(self, write: Callable[[WARCWriter], dict[str, Any]]) -> dict[str, Any]:
        try:
            warc = self._warc or self._open_next()
            row = write(warc)
            os.fsync(warc.out.file.fileno())  # warcio flushed the file at the record's end
        except BaseException:
            self.close()  # the file may end in half a record: never write after it
            raise
        if warc.out.file.tell() >= self.max_file_bytes:
            self.close()
        return row

    def close(self) -> None:
        if self._warc is not None:
            self._warc.out.file.close()
            self._warc = None

    def _open_next(self) -> WARCWriter:
        self.warc_dir.mkdir(parents=True, exist_ok=True)
        date = iso_utc(self._clock())
        stamp = "".join(char for char in date if char.isdigit())
        while self._warc is None:
            self._serial += 1
            self._name = f"threadvault-{stamp}-{self._serial:05d}.warc.gz"
            try:
                self._warc = WARCWriter(_GzipMembers(open(self.warc_dir / self._name, "xb")), gzip=False)
            except FileExistsError:
                continue
        fsync_dir(self.warc_dir)
        info = f"software: {self._software}\r\nformat: WARC File Format 1.0\r\n".encode()
        fields = [("WARC-Filename", self._name)]
        self._warc.write_record(_record("warcinfo", self._record_id(), date, fields, info))
        return self._warc

    def _write_resource(self, warc: WARCWriter, path: Path, digest: FileDigest, uri: str, content_type: str,
                        fetched_at: str) -> dict[str, Any]:
        record_id = self._record_id()
        fields = [("WARC-Target-URI", uri), ("WARC-Payload-Digest", digest.warc), ("WARC-Block-Digest", digest.warc),
                  (FILENAME_FIELD, path.name)]
        offset = warc.out.file.tell()
        with open(path, "rb") as fh:
            body = _CheckedReader(fh, digest.size)
            record = RecordBuilder().create_warc_record(
                "", "resource", payload=body, length=digest.size, warc_content_type=content_type,
                warc_headers=_warc_headers("resource", record_id, fetched_at, fields),
            )  # both digests given, so warcio reads the file once, as it writes it
            warc.write_record(record)
        if (body.read_bytes, body.sha256.hexdigest()) != (digest.size, digest.sha256):
            warc.out.file.truncate(offset)
            raise ThreadvaultError(f"{path}: the file changed while it was being archived; import it again once complete")
        return {
            "id": record_id,
            "url": uri,
            "fetched_at": fetched_at,
            "status": None,
            "content_type": content_type,
            "sha256": digest.sha256,
            "size": digest.size,
            "warc_file": self._name,
            "offset": offset,
            "length": warc.out.file.tell() - offset,
            "warc_payload_digest": digest.warc,
        }

    def _write_pair(self, warc: WARCWriter, exchange: Exchange) -> dict[str, Any]:
        response_id, digest, date = self._record_id(), _sha1_digest(exchange.body), exchange.fetched_at
        status_line = f"{exchange.status} {exchange.reason}".rstrip()
        http = StatusAndHeaders(status_line, _redacted(exchange.response_headers), protocol=exchange.http_version)
        payload = _transfer_encoded(exchange.body, exchange.response_headers)
        fields = [("WARC-Target-URI", exchange.url), ("WARC-Payload-Digest", digest)]
        response = _record("response", response_id, date, fields, payload, http)
        request_line = f"{exchange.method} {_request_target(exchange.url)} {exchange.http_version}"
        http = StatusAndHeaders(request_line, _redacted(exchange.request_headers), is_http_request=True)
        fields = [("WARC-Target-URI", exchange.url), ("WARC-Concurrent-To", response_id)]
        request = _record("request", self._record_id(), date, fields, http=http)
        offset = warc.out.file.tell()
        warc.write_record(response)
        length = warc.out.file.tell() - offset
        warc.write_record(request)
        return {
            "id": response_id,
            "url": exchange.url,
            "fetched_at": exchange.fetched_at,
            "status": exchange.status,
            "content_type": exchange.header("content-type"),
            "sha256": hashlib.sha256(exchange.body).hexdigest(),
            "size": len(exchange.body),
            "warc_file": self._name,
            "offset": offset,
            "length": length,
            "warc_payload_digest": digest,
        }


def _record(
    kind: str,
    record_id: str,
    date: str,
    fields: list[tuple[str, str]],
    payload: bytes = b"",
    http: StatusAndHeaders | None = None,
) -> ArcWarcRecord:
    return RecordBuilder().create_warc_record(
        "", kind, payload=io.BytesIO(payload), length=len(payload), warc_headers=_warc_headers(kind, record_id, date, fields),
        http_headers=http,
    )


def _warc_headers(kind: str, record_id: str, date: str, fields: list[tuple[str, str]]) -> StatusAndHeaders:
    first = [("WARC-Type", kind), ("WARC-Record-ID", record_id), ("WARC-Date", date)]
    return StatusAndHeaders("", first + fields, protocol="WARC/1.0")


def fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable (POSIX; elsewhere directories cannot be opened)."""
    if os.name == "posix":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _redacted(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, REDACTED if name.lower() in SECRET_HEADERS else value) for name, value in headers]


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def is_chunked(transfer_encoding: str | None) -> bool:
    return "chunked" in (transfer_encoding or "").lower()


def _transfer_encoded(body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The body framed as one chunk when the headers say chunked: httpx hands over the de-chunked body."""
    if not is_chunked(next((value for name, value in headers if name.lower() == "transfer-encoding"), None)):
        return body
    return (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"


def _sha1_digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")
