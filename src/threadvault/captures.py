"""Raw captures: HTTP exchanges written to WARC files and read back, with rows of the captures index.

    WarcWriter(warc_dir).write(exchange)     a response + request record pair, fsynced; returns its index row
    read_capture(warc_dir, row)              the record a row points at, as a model.Capture
    iter_captures(path)                      every HTTP response record of any WARC file, with its row
    verify(warc_dir, rows)                   the rows whose records are missing, damaged or altered
    unindexed(warc_dir, known_ids)           records on disk that the index lacks
    is_cut_off(damage)                       whether damage is only a record cut off at the end of its file
    write_without(path, ids), finish_rewrite(path)   a file rewritten without some records (removal requests)

An index row has exactly: ``id`` (the response record's WARC-Record-ID), ``url``, ``fetched_at``,
``status``, ``content_type``, ``sha256`` and ``size`` (of the payload as sent: the entity body with
any transfer coding removed but its content coding, e.g. gzip, kept), ``warc_file`` (relative to
the WARC directory, or absolute for a foreign file), ``offset`` and ``length`` (of the response
record, as warcio's ArchiveIterator reports them) and ``warc_payload_digest``.

Damage is reported as CaptureCorrupt(file, offset, reason), never skipped and never read as data.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import brotli
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader, DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordbuilder import RecordBuilder
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import iso_date_to_datetime
from warcio.utils import BUFF_SIZE
from warcio.warcwriter import WARCWriter

from threadvault import __version__
from threadvault.errors import CaptureCorrupt
from threadvault.fetch import Exchange
from threadvault.model import Capture, iso_utc

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "[redacted]"
MAX_DECODED_BYTES = 200_000_000
GZIP_MAGIC = b"\x1f\x8b"
WARC_START = b"WARC/"
REWRITE_SUFFIX = ".rewrite"  # a rewritten copy of a WARC file, before it replaces the file
HEAD_BYTES = 8192  # enough of a record to hold its WARC headers


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


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
        try:
            warc = self._warc or self._open_next()
            row = self._write_pair(warc, exchange)
            warc.out.flush()
            os.fsync(warc.out.fileno())
        except BaseException:
            self.close()  # the file may end in half a record: never write after it
            raise
        if warc.out.tell() >= self.max_file_bytes:
            self.close()
        return row

    def close(self) -> None:
        if self._warc is not None:
            self._warc.out.close()
            self._warc = None

    def _open_next(self) -> WARCWriter:
        self.warc_dir.mkdir(parents=True, exist_ok=True)
        date = iso_utc(self._clock())
        stamp = "".join(char for char in date if char.isdigit())
        while self._warc is None:
            self._serial += 1
            self._name = f"threadvault-{stamp}-{self._serial:05d}.warc.gz"
            try:
                self._warc = WARCWriter(open(self.warc_dir / self._name, "xb"), gzip=True)
            except FileExistsError:
                continue
        _fsync_dir(self.warc_dir)
        info = f"software: {self._software}\r\nformat: WARC File Format 1.0\r\n".encode()
        fields = [("WARC-Filename", self._name)]
        self._warc.write_record(_record("warcinfo", self._record_id(), date, fields, info))
        return self._warc

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
        offset = warc.out.tell()
        warc.write_record(response)
        length = warc.out.tell() - offset
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
    first = [("WARC-Type", kind), ("WARC-Record-ID", record_id), ("WARC-Date", date)]
    warc_headers = StatusAndHeaders("", first + fields, protocol="WARC/1.0")
    return RecordBuilder().create_warc_record(
        "", kind, payload=io.BytesIO(payload), length=len(payload), warc_headers=warc_headers, http_headers=http
    )


def _fsync_dir(directory: Path) -> None:
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


def _is_chunked(transfer_encoding: str | None) -> bool:
    return "chunked" in (transfer_encoding or "").lower()


def _transfer_encoded(body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The body framed as one chunk when the headers say chunked: httpx hands over the de-chunked body."""
    if not _is_chunked(next((value for name, value in headers if name.lower() == "transfer-encoding"), None)):
        return body
    return (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"


def _sha1_digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    """An HTTP response record as read, with its index row; ``payload`` has any transfer coding removed."""

    row: dict[str, Any]
    http: StatusAndHeaders
    payload: bytes


class _StrictReader(DecompressingBufferedReader):
    """warcio's reader without its leniency: a damaged gzip member raises zlib.error instead of reading
    as a short record, or as raw bytes."""

    def _decompress(self, data: bytes) -> bytes:
        return self.decompressor.decompress(data) if self.decompressor and data else data


def _responses(path: Path, fh: BinaryIO, warc_file: str, skipped: dict[str, int] | None = None) -> Iterator[_Response]:
    """The HTTP response records from fh's position on, counting the other records by type in
    ``skipped``.  Damage raises CaptureCorrupt after the good records before it, and so do unreadable
    bytes after the last record."""
    start = fh.tell()
    gzipped = fh.read(2) == GZIP_MAGIC
    fh.seek(start)
    records = ArchiveIterator(fh)
    records.reader = _StrictReader(records.fh, decomp_type="gzip" if gzipped else None)
    try:
        for record in records:
            offset = records.offset
            if record.length is None:
                raise CaptureCorrupt(str(path), offset, "record has no Content-Length")
            is_response = record.rec_type == "response" and record.http_headers is not None
            raw = _read_block(path, offset, record, keep=is_response)
            length = records.get_record_length()  # reads on to the end of the record
            if gzipped and not records.reader.decompressor.eof:
                reason = "gzip member does not end with its record (cut short, or holding several records)"
                raise CaptureCorrupt(str(path), offset, reason)
            if is_response:
                yield _response(path, record, raw, {"warc_file": warc_file, "offset": offset, "length": length})
            elif skipped is not None:
                skipped[record.rec_type] = skipped.get(record.rec_type, 0) + 1
    except (zlib.error, ArchiveLoadFailed) as error:
        reason, offset = str(error).strip().splitlines()[0], records.offset
        raise CaptureCorrupt(str(path), offset if offset >= 0 else None, f"unreadable record ({reason})") from None
    if records.offset != os.fstat(fh.fileno()).st_size:
        raise CaptureCorrupt(str(path), records.offset, "unreadable or truncated record")


def _read_block(path: Path, offset: int, record: ArcWarcRecord, *, keep: bool) -> bytes:
    """The rest of a record's block, returned only if ``keep``; a block cut short raises CaptureCorrupt."""
    expected = record.payload_length if record.payload_length >= 0 else record.length
    kept, count = [], 0
    while chunk := record.raw_stream.read(BUFF_SIZE):
        count += len(chunk)
        if keep:
            kept.append(chunk)
    if count < expected:
        raise CaptureCorrupt(str(path), offset, f"record is truncated: {count:,} of {expected:,} bytes")
    return b"".join(kept)


def _response(path: Path, record: ArcWarcRecord, raw: bytes, place: dict[str, Any]) -> _Response:
    """A response record checked against its WARC-Payload-Digest, which some crawlers compute over the
    chunked body and others, as the WARC standard says, over the de-chunked one."""
    http, headers = record.http_headers, record.rec_headers
    payload = ChunkedDataReader(io.BytesIO(raw)).read() if _is_chunked(http.get_header("transfer-encoding")) else raw
    digest = headers.get_header("WARC-Payload-Digest")
    if digest and not (_digest_matches(payload, digest) or _digest_matches(raw, digest)):
        raise CaptureCorrupt(str(path), place["offset"], f"payload does not match its WARC-Payload-Digest {digest}")
    try:
        fetched_at = iso_utc(iso_date_to_datetime(headers.get_header("WARC-Date", "")))
        status = int(http.get_statuscode())
    except ValueError:
        raise CaptureCorrupt(str(path), place["offset"], "bad WARC-Date or HTTP status line") from None
    row = {
        "id": headers.get_header("WARC-Record-ID"),
        "url": headers.get_header("WARC-Target-URI"),
        "fetched_at": fetched_at,
        "status": status,
        "content_type": http.get_header("content-type"),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        **place,
        "warc_payload_digest": digest,
    }
    return _Response(row, http, payload)


def _digest_matches(payload: bytes, declared: str) -> bool:
    """Whether ``algorithm:value`` (base32, base16 or base64, as WARC writers vary) is the payload's
    digest; an algorithm hashlib does not know cannot be checked and counts as a match."""
    algorithm, _, value = declared.partition(":")
    try:
        raw = hashlib.new(algorithm.lower().replace("-", ""), payload).digest()
    except ValueError:
        return True
    value, b32, b64 = value.strip(), base64.b32encode(raw).decode(), base64.b64encode(raw).decode()
    return value.upper() == b32 or value.lower() == raw.hex() or value == b64


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise CaptureCorrupt(str(path), None, f"cannot open the file ({error.strerror})") from None


def _load(warc_dir: Path, row: Mapping[str, Any]) -> tuple[Path, _Response]:
    """The response record a row points at, checked against the row and its own digest."""
    path, offset = Path(warc_dir) / row["warc_file"], row["offset"]
    with _open(path) as fh:
        fh.seek(offset)
        response = next(_responses(path, fh, row["warc_file"]), None)
    if response is None or response.row["offset"] != offset or response.row["id"] != row["id"]:
        raise CaptureCorrupt(str(path), offset, f"response record {row['id']} is not at this offset")
    if response.row["sha256"] != row["sha256"]:
        raise CaptureCorrupt(str(path), offset, "payload SHA-256 differs from the captures index")
    return path, response


def _capture(path: Path, response: _Response) -> Capture:
    row = response.row
    try:
        body = decode_body(response.payload, response.http.get_header("content-encoding"))
    except ValueError as error:
        raise CaptureCorrupt(str(path), row["offset"], f"undecodable body: {error}") from None
    return Capture(row["url"], row["status"], tuple(response.http.headers), body, row["fetched_at"], row["id"])


def read_capture(warc_dir: Path, row: Mapping[str, Any]) -> Capture:
    """The capture a captures-index row points at, its body decoded; CaptureCorrupt if the file is
    missing, the record damaged or cut short, or its payload no longer matches its digests."""
    return _capture(*_load(warc_dir, row))


def iter_captures(
    path: Path,
    *,
    warc_dir: Path | None = None,
    damaged: list[CaptureCorrupt] | None = None,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[dict[str, Any], Capture]]:
    """Every HTTP response record of a WARC file (WARC/1.0 or 1.1, gzipped per record or not, from
    any crawler) with its index row; warcinfo, request, metadata and revisit records are skipped.

    ``warc_file`` in the rows is relative to ``warc_dir`` when the file lies inside it, else absolute.
    A damaged gzip member, a cut-off record or unreadable bytes at the end raise CaptureCorrupt,
    after every good record before the damage has been yielded; given a ``damaged`` list, the
    damage is appended to it instead and reading resumes at the next whole gzip member.  Records
    that are not responses are counted by type in ``skipped`` when it is given.
    """
    path, resolved = Path(path), Path(path).resolve()
    root = Path(warc_dir).resolve() if warc_dir is not None else None
    warc_file = str(resolved.relative_to(root)) if root and resolved.is_relative_to(root) else str(resolved)
    with _open(path) as fh:
        while True:
            try:
                for response in _responses(path, fh, warc_file, skipped):
                    yield response.row, _capture(path, response)
                return
            except CaptureCorrupt as damage:
                if damaged is None:
                    raise
                damaged.append(damage)
                resume = _next_member(fh, (damage.offset or 0) + 1)
                if resume is None:
                    return
                fh.seek(resume)


def _next_member(fh: BinaryIO, start: int, chunk: int = 1 << 20) -> int | None:
    """The offset of the next gzip member at or after ``start`` that begins a WARC record."""
    position = start
    while True:
        fh.seek(position)
        block = fh.read(chunk + len(GZIP_MAGIC))
        if len(block) <= len(GZIP_MAGIC):
            return None
        found = block.find(GZIP_MAGIC)
        while 0 <= found < chunk:
            fh.seek(position + found)
            try:
                head = zlib.decompressobj(wbits=31).decompress(fh.read(512), 16)
            except zlib.error:
                head = b""
            if head.startswith(b"WARC/"):
                return position + found
            found = block.find(GZIP_MAGIC, found + 1)
        position += chunk


def is_warc(path: Path) -> bool:
    """Whether a file is a WARC file, gzipped per record or not, judged from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 16)
        except zlib.error:
            return False
    return head.startswith(b"WARC/")


def verify(warc_dir: Path, rows: Iterable[Mapping[str, Any]]) -> Iterator[CaptureCorrupt]:
    """Re-read the record behind each row and check it against the row's SHA-256 and its own
    WARC-Payload-Digest; yields a CaptureCorrupt for each missing, damaged or altered one."""
    for row in rows:
        try:
            _load(warc_dir, row)
        except CaptureCorrupt as error:
            yield error


def unindexed(
    warc_dir: Path, known_ids: set[str], damaged: list[CaptureCorrupt] | None = None
) -> Iterator[tuple[dict[str, Any], Capture]]:
    """Response records in warc_dir's WARC files whose ids are not in ``known_ids``: captures written
    just before a crash, before their index rows were committed.

    Every file is scanned.  Each damaged file (a killed run leaves half a record at the end of its
    file) is appended to ``damaged`` after its good records; without a list, the first damage is
    raised once all the files have been read.
    """
    warc_dir = Path(warc_dir)
    paths = sorted(warc_dir.glob("*.warc.gz")) + sorted(warc_dir.glob("*.warc")) if warc_dir.is_dir() else []
    found: list[CaptureCorrupt] = [] if damaged is None else damaged
    for path in paths:
        try:
            for row, capture in iter_captures(path, warc_dir=warc_dir):
                if row["id"] not in known_ids:
                    yield row, capture
        except CaptureCorrupt as error:
            found.append(error)
    if damaged is None and found:
        raise found[0]


def is_cut_off(damage: CaptureCorrupt) -> bool:
    """Whether the damage is a record cut off at the end of its file and nothing else: the bytes from
    its offset on are the start of one gzip member of a WARC record, cut short.  That is what a
    writer killed in the middle of a record leaves; changed or added bytes decompress to an error,
    to a member that ends, or to something that is not a WARC record."""
    if damage.offset is None:
        return False
    inflater, start, read = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), b"", 0
    try:
        with open(damage.file, "rb") as fh:
            fh.seek(damage.offset)
            while chunk := fh.read(BUFF_SIZE):
                read += len(chunk)
                start += inflater.decompress(chunk)[: len(WARC_START) - len(start)]
                if inflater.eof or not WARC_START.startswith(start):
                    return False
    except (OSError, zlib.error):
        return False
    return read > 0


# -- removing records ------------------------------------------------------------------------------


def write_without(path: Path, response_ids: set[str]) -> tuple[Path, dict[str, int]]:
    """A copy of one of threadvault's WARC files (one gzip member a record) without the response
    records ``response_ids`` and the request records made with them, written beside it as
    ``<name>.rewrite`` and fsynced; returns its path and the new offset of each response kept.

    Kept records are copied byte for byte; a record cut off at the end of the file by a killed run
    is left out.  Other damage raises CaptureCorrupt and leaves no copy behind.
    """
    target = path.with_name(path.name + REWRITE_SUFFIX)
    kept: dict[str, int] = {}
    try:
        with _open(path) as members, open(path, "rb") as source, open(target, "wb") as out:
            for offset, length, fields in _members(path, members):
                record_id = fields.get("warc-record-id", "")
                if record_id in response_ids or fields.get("warc-concurrent-to") in response_ids:
                    continue
                if fields.get("warc-type") == "response":
                    kept[record_id] = out.tell()
                source.seek(offset)
                out.write(source.read(length))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return target, kept


def finish_rewrite(path: Path) -> None:
    """Put the rewritten copy of ``path`` in its place, atomically and durably."""
    os.replace(path.with_name(path.name + REWRITE_SUFFIX), path)
    _fsync_dir(path.parent)


def response_offsets(path: Path) -> dict[str, int]:
    """The offset of every response record of a file, by record id, as far as it can be read."""
    found: dict[str, int] = {}
    try:
        with _open(path) as fh:
            for offset, _length, fields in _members(path, fh):
                if fields.get("warc-type") == "response":
                    found[fields.get("warc-record-id", "")] = offset
    except CaptureCorrupt:
        pass  # what follows the damage is unknown; the offsets before it are right
    return found


def _members(path: Path, fh: BinaryIO) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Offset, length and WARC header fields (names lower-cased) of each gzip member of a file.
    A member cut off at the end ends the iteration; other damage raises CaptureCorrupt."""
    offset, data = 0, fh.read(BUFF_SIZE)
    while data:
        inflater, head, length = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), b"", 0
        try:
            while not inflater.eof:
                if not data and not (data := fh.read(BUFF_SIZE)):
                    return  # cut off: never indexed, so never kept
                head += inflater.decompress(data)[: HEAD_BYTES - len(head)]
                length += len(data) - len(inflater.unused_data)
                data = inflater.unused_data
        except zlib.error as error:
            raise CaptureCorrupt(str(path), offset, f"unreadable gzip member ({error})") from None
        if not head.startswith(WARC_START):
            raise CaptureCorrupt(str(path), offset, "gzip member does not hold a WARC record")
        lines = head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")[1:]
        yield offset, length, {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        offset += length
        data = data or fh.read(BUFF_SIZE)


# -- content coding --------------------------------------------------------------------------------


def decode_body(body: bytes, content_encoding: str | None, *, max_bytes: int = MAX_DECODED_BYTES) -> bytes:
    """The body with the content codings of a Content-Encoding header undone, last applied first.

    gzip, deflate (zlib-wrapped or raw), br and identity.  An unknown coding, damaged or cut-off
    data, or a result larger than ``max_bytes`` (a decompression bomb) raises ValueError.
    """
    codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
    for coding in reversed([coding for coding in codings if coding not in ("", "identity")]):
        body = _decode_one(body, coding, max_bytes)
    return body


def _decode_one(body: bytes, coding: str, max_bytes: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, max_bytes)
    if coding == "deflate":  # zlib-wrapped, as RFC 9110 says, or raw, as some servers send it
        wrapped = len(body) >= 2 and body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0
        return _inflate(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, max_bytes)
    if coding == "br":
        return _unbrotli(body, max_bytes)
    raise ValueError(f"unsupported content-encoding {coding!r}")


def _inflate(body: bytes, wbits: int, max_bytes: int, step: int = 1 << 20) -> bytes:
    """Inflate in steps into one growing buffer, so a refused bomb costs about ``max_bytes``, not twice it
    (zlib's own ``max_length`` output is joined from its blocks at the end)."""
    inflater = zlib.decompressobj(wbits)
    decoded = bytearray()
    pending = body
    try:
        while not inflater.eof and len(decoded) <= max_bytes:
            block = inflater.decompress(pending, step)
            pending = inflater.unconsumed_tail
            if not block and not pending:
                break
            decoded += block
    except zlib.error as error:
        raise ValueError(f"damaged compressed data ({error})") from None
    return _checked(decoded, inflater.eof, max_bytes)


def _unbrotli(body: bytes, max_bytes: int) -> bytes:
    decompressor = brotli.Decompressor()
    try:
        decoded = decompressor.process(body, output_buffer_limit=max_bytes + 1)
    except brotli.error as error:
        raise ValueError(f"damaged compressed data ({error})") from None
    return _checked(decoded, decompressor.is_finished(), max_bytes)


def _checked(decoded: bytes | bytearray, finished: bool, max_bytes: int) -> bytes:
    if len(decoded) > max_bytes:
        raise ValueError(f"decoded body larger than {max_bytes:,} bytes")
    if not finished:
        raise ValueError("compressed data ends early")
    return bytes(decoded)
