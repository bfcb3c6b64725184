"""Raw captures read back from WARC files, checked and rewritten, with rows of the captures index.

``warcwriter.WarcWriter`` writes them and returns their rows.

    read_capture(warc_dir, row)              the record a row points at, as a model.Capture
    copy_payload(warc_dir, row, dest)        its payload streamed into a file, checked on the way
    iter_captures(path)                      every HTTP response record of any WARC file, with its row
    verify(warc_dir, rows)                   the rows whose records are missing, damaged or altered
    unindexed(warc_dir, known_ids)           records on disk that the index lacks
    is_cut_off(damage)                       whether damage is only a record cut off at the end of its file
    write_without(path, ids), finish_rewrite(path)   a file rewritten without some records (removal requests)
    decode_body(body, content_encoding)      a payload with its content coding (gzip, deflate, br) undone

An index row has exactly: ``id`` (the record's WARC-Record-ID), ``url``, ``fetched_at``, ``status``,
``content_type``, ``sha256`` and ``size`` (of the payload as sent: the entity body with any transfer
coding removed but its content coding, e.g. gzip, kept), ``warc_file`` (relative to the WARC
directory, or absolute for a foreign file), ``offset`` and ``length`` (of the record, as warcio's
ArchiveIterator reports them) and ``warc_payload_digest``.

Two kinds of record are indexed: HTTP ``response`` records, and ``resource`` records holding a file
imported whole (a twarc collection, a Twitter archive, a text file).  A resource's row has no
``status``; its ``url`` is ``urn:threadvault:import:<SHA-256 of the file>`` (``warcwriter.import_uri``), named
by content so that the same bytes are archived once and no local path is stored, and the file's
name as given is kept in the record's ``X-Threadvault-Filename`` field.  Resources may be of any
size: they are written, checked and read back in chunks, never whole in memory.

Damage is reported as CaptureCorrupt(file, offset, reason), never skipped and never read as data.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import brotli
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader, DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import iso_date_to_datetime
from warcio.utils import BUFF_SIZE

from threadvault.errors import CaptureCorrupt
from threadvault.model import Capture, iso_utc
from threadvault.warcwriter import fsync_dir, is_chunked

MAX_DECODED_BYTES = 200_000_000
GZIP_MAGIC = b"\x1f\x8b"
WARC_START = b"WARC/"
REWRITE_SUFFIX = ".rewrite"  # a rewritten copy of a WARC file, before it replaces the file
HEAD_BYTES = 8192  # enough of a record to hold its WARC headers
INDEXED_TYPES = frozenset({"response", "resource"})  # the record types the captures index holds


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    """A response or resource record as read, with its index row.  A response's ``payload`` has any
    transfer coding removed; a resource has no ``http`` and keeps no payload: it may be of any size,
    so it went chunk by chunk to the reader's sink as it was checked."""

    row: dict[str, Any]
    http: StatusAndHeaders | None = None
    payload: bytes = b""


Sink = Callable[[bytes], object]


class _StrictReader(DecompressingBufferedReader):
    """warcio's reader without its leniency: a damaged gzip member raises zlib.error instead of reading
    as a short record, or as raw bytes."""

    def _decompress(self, data: bytes) -> bytes:
        return self.decompressor.decompress(data) if self.decompressor and data else data


class _Digests:
    """SHA-256 and size of a payload read in chunks, and whether it matches a declared digest."""

    def __init__(self, declared: str | None) -> None:
        self.declared, self.sha256, self.size = declared, hashlib.sha256(), 0
        self._checked = _hasher(declared)

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.size += len(chunk)
        if self._checked:
            self._checked.update(chunk)

    def matches(self) -> bool:
        return self._checked is None or _same_digest(self._checked.digest(), self.declared or "")


def _records(path: Path, fh: BinaryIO, warc_file: str, *, resources: bool = False, sink: Sink | None = None,
             skipped: dict[str, int] | None = None) -> Iterator[_Record]:
    """The HTTP response records from fh's position on, and the resource records too if ``resources``
    (their payloads handed to ``sink`` as they are read), counting the other records by type in
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
            kind = _kind(record, resources)
            kept: list[bytes] = []
            digests = _Digests(record.rec_headers.get_header("WARC-Payload-Digest"))
            if kind == "response":
                _read_block(path, offset, record, kept.append)
            elif kind == "resource":
                _read_block(path, offset, record, _feeder(digests, sink))
            else:
                _read_block(path, offset, record, lambda chunk: None)  # read only to check it is whole
            length = records.get_record_length()  # reads on to the end of the record
            if gzipped and not records.reader.decompressor.eof:
                reason = "gzip member does not end with its record (cut short, or holding several records)"
                raise CaptureCorrupt(str(path), offset, reason)
            place = {"warc_file": warc_file, "offset": offset, "length": length}
            if kind == "response":
                yield _response(path, record, b"".join(kept), place)
            elif kind == "resource":
                yield _resource(path, record, digests, place)
            elif skipped is not None:
                skipped[record.rec_type] = skipped.get(record.rec_type, 0) + 1
    except (zlib.error, ArchiveLoadFailed) as error:
        reason, offset = str(error).strip().splitlines()[0], records.offset
        raise CaptureCorrupt(str(path), offset if offset >= 0 else None, f"unreadable record ({reason})") from None
    if records.offset != os.fstat(fh.fileno()).st_size:
        raise CaptureCorrupt(str(path), records.offset, "unreadable or truncated record")


def _kind(record: ArcWarcRecord, resources: bool) -> str | None:
    if record.rec_type == "response" and record.http_headers is not None:
        return "response"
    return "resource" if resources and record.rec_type == "resource" else None


def _feeder(digests: _Digests, sink: Sink | None) -> Sink:
    """Where a resource's chunks go: through its digests, then to the sink if there is one."""
    if sink is None:
        return digests.update
    return lambda chunk: (digests.update(chunk), sink(chunk))


def _read_block(path: Path, offset: int, record: ArcWarcRecord, consume: Sink) -> None:
    """Hand the rest of a record's block to ``consume`` in chunks; a block cut short raises CaptureCorrupt."""
    expected = record.payload_length if record.payload_length >= 0 else record.length
    count = 0
    while chunk := record.raw_stream.read(BUFF_SIZE):
        count += len(chunk)
        consume(chunk)
    if count < expected:
        raise CaptureCorrupt(str(path), offset, f"record is truncated: {count:,} of {expected:,} bytes")


def _response(path: Path, record: ArcWarcRecord, raw: bytes, place: dict[str, Any]) -> _Record:
    """A response record checked against its WARC-Payload-Digest, which some crawlers compute over the
    chunked body and others, as the WARC standard says, over the de-chunked one."""
    http, headers = record.http_headers, record.rec_headers
    payload = ChunkedDataReader(io.BytesIO(raw)).read() if is_chunked(http.get_header("transfer-encoding")) else raw
    digest = headers.get_header("WARC-Payload-Digest")
    if digest and not (_digest_matches(payload, digest) or _digest_matches(raw, digest)):
        raise CaptureCorrupt(str(path), place["offset"], f"payload does not match its WARC-Payload-Digest {digest}")
    try:
        status = int(http.get_statuscode())
    except ValueError:
        raise CaptureCorrupt(str(path), place["offset"], "bad HTTP status line") from None
    row = _row(path, headers, place, status=status, content_type=http.get_header("content-type"),
               sha256=hashlib.sha256(payload).hexdigest(), size=len(payload), warc_payload_digest=digest)
    return _Record(row, http, payload)


def _resource(path: Path, record: ArcWarcRecord, digests: _Digests, place: dict[str, Any]) -> _Record:
    """A resource record (its whole block is the payload) checked against its WARC-Payload-Digest."""
    headers = record.rec_headers
    if not digests.matches():
        raise CaptureCorrupt(str(path), place["offset"], f"payload does not match its WARC-Payload-Digest {digests.declared}")
    row = _row(path, headers, place, status=None, content_type=headers.get_header("Content-Type"),
               sha256=digests.sha256.hexdigest(), size=digests.size, warc_payload_digest=digests.declared)
    return _Record(row)


def _row(path: Path, headers: StatusAndHeaders, place: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A record's index row: its id, target and date from its WARC headers, where it lies, and ``fields``."""
    return {
        "id": headers.get_header("WARC-Record-ID"),
        "url": headers.get_header("WARC-Target-URI"),
        "fetched_at": _warc_date(path, headers, place["offset"]),
        **fields,
        **place,
    }


def _warc_date(path: Path, headers: StatusAndHeaders, offset: int) -> str:
    try:
        return iso_utc(iso_date_to_datetime(headers.get_header("WARC-Date", "")))
    except ValueError:
        raise CaptureCorrupt(str(path), offset, "bad WARC-Date") from None


def _digest_matches(payload: bytes, declared: str) -> bool:
    """Whether ``algorithm:value`` is the payload's digest; an algorithm hashlib does not know cannot
    be checked and counts as a match."""
    hasher = _hasher(declared)
    if hasher is None:
        return True
    hasher.update(payload)
    return _same_digest(hasher.digest(), declared)


def _hasher(declared: str | None) -> Any:
    """A hashlib object for the algorithm of a declared ``algorithm:value`` digest, or None."""
    if not declared:
        return None
    try:
        return hashlib.new(declared.partition(":")[0].lower().replace("-", ""))
    except ValueError:
        return None


def _same_digest(raw: bytes, declared: str) -> bool:
    """Whether ``declared``'s value is this digest in base32, base16 or base64, as WARC writers vary."""
    value, b32, b64 = declared.partition(":")[2].strip(), base64.b32encode(raw).decode(), base64.b64encode(raw).decode()
    return value.upper() == b32 or value.lower() == raw.hex() or value == b64


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise CaptureCorrupt(str(path), None, f"cannot open the file ({error.strerror})") from None


def _load(warc_dir: Path, row: Mapping[str, Any], sink: Sink | None = None) -> tuple[Path, _Record]:
    """The record a row points at, checked against the row and its own digest; a resource's payload
    goes to ``sink`` as it is read, so it is checked only once all of it has gone there."""
    path, offset = Path(warc_dir) / row["warc_file"], row["offset"]
    with _open(path) as fh:
        fh.seek(offset)
        found = next(_records(path, fh, row["warc_file"], resources=True, sink=sink), None)
    if found is None or found.row["offset"] != offset or found.row["id"] != row["id"]:
        raise CaptureCorrupt(str(path), offset, f"record {row['id']} is not at this offset")
    if found.row["sha256"] != row["sha256"]:
        raise CaptureCorrupt(str(path), offset, "payload SHA-256 differs from the captures index")
    return path, found


def _capture(path: Path, response: _Record) -> Capture:
    row, http = response.row, response.http
    assert http is not None  # a response
    try:
        body = decode_body(response.payload, http.get_header("content-encoding"))
    except ValueError as error:
        raise CaptureCorrupt(str(path), row["offset"], f"undecodable body: {error}") from None
    return Capture(row["url"], row["status"], tuple(http.headers), body, row["fetched_at"], row["id"])


def read_capture(warc_dir: Path, row: Mapping[str, Any]) -> Capture:
    """The capture a captures-index row points at, its body decoded; CaptureCorrupt if the file is
    missing, the record damaged or cut short, or its payload no longer matches its digests.

    A resource record (an imported file) reads as replay tools serve one: status 200, its
    Content-Type.  One larger than MAX_DECODED_BYTES raises CaptureCorrupt; copy_payload streams it.
    """
    chunks: list[bytes] = []
    size = 0

    def keep(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        if size > MAX_DECODED_BYTES:
            raise CaptureCorrupt(str(Path(warc_dir) / row["warc_file"]), row["offset"],
                                 f"resource larger than {MAX_DECODED_BYTES:,} bytes: too large to read whole")
        chunks.append(chunk)

    path, record = _load(warc_dir, row, sink=keep)
    if record.http is not None:
        return _capture(path, record)
    found = record.row
    headers = (("Content-Type", found["content_type"]),) if found["content_type"] else ()
    return Capture(found["url"], 200, headers, b"".join(chunks), found["fetched_at"], found["id"])


def copy_payload(warc_dir: Path, row: Mapping[str, Any], dest: BinaryIO) -> None:
    """Write the payload of the record a row points at into ``dest`` in chunks: an imported file as it
    was imported, a response's body as sent.  Raises CaptureCorrupt, after writing, if the payload does
    not match its digests: then what was written must be thrown away."""
    _, record = _load(warc_dir, row, sink=dest.write)
    dest.write(record.payload)  # a response's (a resource's went to dest as it was read)


def iter_captures(
    path: Path,
    *,
    warc_dir: Path | None = None,
    damaged: list[CaptureCorrupt] | None = None,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[dict[str, Any], Capture]]:
    """Every HTTP response record of a WARC file (WARC/1.0 or 1.1, gzipped per record or not, from
    any crawler) with its index row; warcinfo, request, metadata, resource and revisit records are
    skipped.

    ``warc_file`` in the rows is relative to ``warc_dir`` when the file lies inside it, else absolute.
    A damaged gzip member, a cut-off record or unreadable bytes at the end raise CaptureCorrupt,
    after every good record before the damage has been yielded; given a ``damaged`` list, the
    damage is appended to it instead and reading resumes at the next whole gzip member.  Records
    that are not responses are counted by type in ``skipped`` when it is given.
    """
    return _scan(path, warc_dir, damaged, skipped, lambda record: (record.row, _capture(Path(path), record)))


T = TypeVar("T")


def _scan(path: Path, warc_dir: Path | None, damaged: list[CaptureCorrupt] | None, skipped: dict[str, int] | None,
          make: Callable[[_Record], T], *, resources: bool = False) -> Iterator[T]:
    """``make(record)`` for each record of a file that ``_records`` yields, resuming after damage when
    there is a ``damaged`` list; a CaptureCorrupt from ``make`` is damage too."""
    path, resolved = Path(path), Path(path).resolve()
    root = Path(warc_dir).resolve() if warc_dir is not None else None
    warc_file = str(resolved.relative_to(root)) if root and resolved.is_relative_to(root) else str(resolved)
    with _open(path) as fh:
        while True:
            try:
                for record in _records(path, fh, warc_file, resources=resources, skipped=skipped):
                    yield make(record)
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
) -> Iterator[dict[str, Any]]:
    """The index rows of the response and resource records in warc_dir's WARC files whose ids are not
    in ``known_ids``: captures written just before a crash, before their rows were committed.

    Every file is scanned.  Each damaged file (a killed run leaves half a record at the end of its
    file) is appended to ``damaged`` after its good records; without a list, the first damage is
    raised once all the files have been read.
    """
    warc_dir = Path(warc_dir)
    paths = sorted(warc_dir.glob("*.warc.gz")) + sorted(warc_dir.glob("*.warc")) if warc_dir.is_dir() else []
    found: list[CaptureCorrupt] = [] if damaged is None else damaged
    for path in paths:
        try:
            for row in _scan(path, warc_dir, None, None, lambda record: record.row, resources=True):
                if row["id"] not in known_ids:
                    yield row
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


def write_without(path: Path, record_ids: set[str]) -> tuple[Path, dict[str, int]]:
    """A copy of one of threadvault's WARC files (one gzip member a record) without the response and
    resource records ``record_ids`` and the request records made with them, written beside it as
    ``<name>.rewrite`` and fsynced; returns its path and the new offset of each indexed record kept.

    Kept records are copied byte for byte; a record cut off at the end of the file by a killed run
    is left out.  Other damage raises CaptureCorrupt and leaves no copy behind.
    """
    target = path.with_name(path.name + REWRITE_SUFFIX)
    kept: dict[str, int] = {}
    try:
        with _open(path) as members, open(path, "rb") as source, open(target, "wb") as out:
            for offset, length, fields in _members(path, members):
                record_id = fields.get("warc-record-id", "")
                if record_id in record_ids or fields.get("warc-concurrent-to") in record_ids:
                    continue
                if fields.get("warc-type") in INDEXED_TYPES:
                    kept[record_id] = out.tell()
                source.seek(offset)
                _copy(source, out, length)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return target, kept


def finish_rewrite(path: Path) -> None:
    """Put the rewritten copy of ``path`` in its place, atomically and durably."""
    os.replace(path.with_name(path.name + REWRITE_SUFFIX), path)
    fsync_dir(path.parent)


def _copy(source: BinaryIO, out: BinaryIO, length: int) -> None:
    """Copy ``length`` bytes in chunks: a resource record may be larger than memory."""
    while length > 0:
        chunk = source.read(min(length, 1 << 20))
        if not chunk:
            raise CaptureCorrupt(source.name, source.tell(), "file shorter than its records")
        out.write(chunk)
        length -= len(chunk)


def record_offsets(path: Path) -> dict[str, int]:
    """The offset of every response and resource record of a file, by record id, as far as it can be read."""
    found: dict[str, int] = {}
    try:
        with _open(path) as fh:
            for offset, _length, fields in _members(path, fh):
                if fields.get("warc-type") in INDEXED_TYPES:
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
    (zlib's own ``max_length`` output is joined from its blocks at the end).  A gzip body may be several
    members one after another (RFC 1952): all are read."""
    decoded = bytearray()
    pending = body
    try:
        while True:
            inflater = zlib.decompressobj(wbits)
            while not inflater.eof and len(decoded) <= max_bytes:
                block = inflater.decompress(pending, step)
                pending = inflater.unconsumed_tail
                if not block and not pending:
                    break
                decoded += block
            pending = inflater.unused_data
            gzip_member_follows = wbits > zlib.MAX_WBITS and pending.strip(b"\x00")
            if not (inflater.eof and gzip_member_follows and len(decoded) <= max_bytes):
                break
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
