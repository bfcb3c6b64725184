import base64
import dataclasses
import gzip
import hashlib
import io
import itertools
import shutil
import zlib
from datetime import datetime, timezone
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import brotli
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from zlib_ng import zlib_ng

from threadvault import captures
from threadvault.captures import (
    copy_payload,
    decode_body,
    finish_rewrite,
    is_cut_off,
    is_warc,
    iter_captures,
    read_capture,
    record_offsets,
    unindexed,
    verify,
    write_without,
)
from threadvault.errors import CaptureCorrupt, ThreadvaultError
from threadvault.fetch import Exchange
from threadvault.model import Capture
from threadvault.warcwriter import FileDigest, WarcWriter, import_uri

NOW = datetime(2026, 11, 30, 5, 49, 50, tzinfo=timezone.utc)
FIRST_FILE = "threadvault-20261130054950-00001.warc.gz"
PAGE = b"<html><body><p>A thread, in full.</p></body></html>"


def raw_deflate(data: bytes) -> bytes:
    """Deflate without a zlib wrapper (zlib.compress takes wbits only from Python 3.11)."""
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def make_writer(warc_dir: Path, **options) -> WarcWriter:
    numbers = itertools.count(1)
    record_ids = (f"<urn:uuid:00000000-0000-4000-8000-{number:012d}>" for number in numbers)
    return WarcWriter(warc_dir, clock=lambda: NOW, record_id=lambda: next(record_ids), **options)


def html_exchange(n: int = 1) -> Exchange:
    """A gzipped page fetched with credentials, as fetch.py hands it over."""
    return Exchange(
        url=f"https://nitter.example/user/status/{n}",
        method="GET",
        request_headers=(("Host", "nitter.example"), ("Cookie", "session=c00kie"), ("Authorization", "Bearer t0ken")),
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=(
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Set-Cookie", "session=c00kie; HttpOnly"),
        ),
        body=gzip.compress(PAGE + b"<!-- %d -->" % n, mtime=0),
        fetched_at=f"2026-11-30T05:49:{50 + n}Z",
    )


def written(warc_dir: Path, count: int, **options) -> list[dict]:
    with make_writer(warc_dir, **options) as writer:
        return [writer.write(html_exchange(n)) for n in range(1, count + 1)]


def members(path: Path) -> bytes:
    """The whole file decompressed (gzip reads the concatenated members as one stream)."""
    return gzip.decompress(path.read_bytes())


def test_write_leaves_exactly_these_records(tmp_path):
    exchange = Exchange(
        url="https://mastodon.example/api/v1/statuses/1?x=y",
        method="GET",
        request_headers=(("Host", "mastodon.example"), ("Authorization", "Bearer s3cret"), ("Cookie", "id=s3cret")),
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=(
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),  # httpx hands over the body de-chunked: stored as one chunk
            ("Set-Cookie", "id=s3cret"),
        ),
        body=b'{"id": "1"}',
        fetched_at="2026-11-30T05:49:51Z",
    )
    with make_writer(tmp_path) as writer:
        row = writer.write(exchange)

    assert members(tmp_path / FIRST_FILE).decode().replace("\r\n", "\n") == (
        "WARC/1.0\n"
        "WARC-Type: warcinfo\n"
        "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\n"
        "WARC-Date: 2026-11-30T05:49:50Z\n"
        "WARC-Filename: threadvault-20261130054950-00001.warc.gz\n"
        "WARC-Block-Digest: sha1:6FNLHTDKCO2MPMRZ7U6GMVWRH5U6MUBD\n"
        "Content-Type: application/warc-fields\n"
        "Content-Length: 59\n"
        "\n"
        "software: threadvault/0.1.0\n"
        "format: WARC File Format 1.0\n"
        "\n\n"
        "WARC/1.0\n"
        "WARC-Type: response\n"
        "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>\n"
        "WARC-Date: 2026-11-30T05:49:51Z\n"
        "WARC-Target-URI: https://mastodon.example/api/v1/statuses/1?x=y\n"
        "WARC-Payload-Digest: sha1:BSKBDJYUZOXGUDCPA7BFHXPCVTE2OZZ7\n"
        "WARC-Block-Digest: sha1:Q6S3D7VOVU6UHS6B4XU5ACAPTKRPUST2\n"
        "Content-Type: application/http; msgtype=response\n"
        "Content-Length: 124\n"
        "\n"
        "HTTP/1.1 200 OK\n"
        "Content-Type: application/json\n"
        "Transfer-Encoding: chunked\n"
        "Set-Cookie: [redacted]\n"
        "\n"
        "b\n"
        '{"id": "1"}\n'
        "0\n"
        "\n"
        "\n\n"
        "WARC/1.0\n"
        "WARC-Type: request\n"
        "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000003>\n"
        "WARC-Date: 2026-11-30T05:49:51Z\n"
        "WARC-Target-URI: https://mastodon.example/api/v1/statuses/1?x=y\n"
        "WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000002>\n"
        "WARC-Payload-Digest: sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ\n"
        "WARC-Block-Digest: sha1:Z5ANVU5GGK2FYOIRHA3IHOA4CZZEM7JB\n"
        "Content-Type: application/http; msgtype=request\n"
        "Content-Length: 110\n"
        "\n"
        "GET /api/v1/statuses/1?x=y HTTP/1.1\n"
        "Host: mastodon.example\n"
        "Authorization: [redacted]\n"
        "Cookie: [redacted]\n"
        "\n"
        "\n\n"
    )
    assert row == {
        "id": "<urn:uuid:00000000-0000-4000-8000-000000000002>",
        "url": "https://mastodon.example/api/v1/statuses/1?x=y",
        "fetched_at": "2026-11-30T05:49:51Z",
        "status": 200,
        "content_type": "application/json",
        "sha256": hashlib.sha256(b'{"id": "1"}').hexdigest(),
        "size": 11,
        "warc_file": FIRST_FILE,
        "offset": row["offset"],
        "length": row["length"],
        "warc_payload_digest": "sha1:BSKBDJYUZOXGUDCPA7BFHXPCVTE2OZZ7",
    }
    assert read_capture(tmp_path, row).body == b'{"id": "1"}'


def test_each_record_is_a_gzip_member_of_its_own_compressed_by_zlib_ng_at_level_6(tmp_path):
    written(tmp_path, 2)
    data = (tmp_path / FIRST_FILE).read_bytes()
    records = []
    while data:
        member = zlib.decompressobj(zlib.MAX_WBITS + 16)
        records.append(member.decompress(data))
        compressed, data = data[:len(data) - len(member.unused_data)], member.unused_data
        recompressed = zlib_ng.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        assert recompressed.compress(records[-1]) + recompressed.flush() == compressed
    assert [record.split(b"\r\n")[1] for record in records] == [
        b"WARC-Type: warcinfo", b"WARC-Type: response", b"WARC-Type: request", b"WARC-Type: response",
        b"WARC-Type: request",
    ]


def test_row_places_and_digests_agree_with_warcio(tmp_path):
    rows = written(tmp_path, 2)
    with open(tmp_path / FIRST_FILE, "rb") as fh:
        records = ArchiveIterator(fh)
        places = [
            (record.rec_headers.get_header("WARC-Record-ID"), records.get_record_offset(), records.get_record_length())
            for record in records
            if record.rec_type == "response"
        ]
    assert [(row["id"], row["offset"], row["length"]) for row in rows] == places
    body = html_exchange(1).body
    assert rows[0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert rows[0]["size"] == len(body)
    assert rows[0]["warc_payload_digest"] == "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    assert [row for row, _ in iter_captures(tmp_path / FIRST_FILE, warc_dir=tmp_path)] == rows


def test_read_capture_round_trip_decodes_the_gzipped_body(tmp_path):
    (row,) = written(tmp_path, 1)
    exchange = html_exchange(1)
    assert read_capture(tmp_path, row) == Capture(
        url=exchange.url,
        status=200,
        headers=(
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Set-Cookie", "[redacted]"),
        ),
        body=PAGE + b"<!-- 1 -->",
        fetched_at="2026-11-30T05:49:51Z",
        id=row["id"],
    )


def test_gzipped_body_is_stored_as_sent(tmp_path):
    written(tmp_path, 1)
    on_disk = members(tmp_path / FIRST_FILE)
    assert html_exchange(1).body in on_disk
    assert PAGE not in on_disk


def test_credentials_never_reach_disk(tmp_path):
    written(tmp_path, 1)
    on_disk = members(tmp_path / FIRST_FILE)
    assert b"c00kie" not in on_disk and b"t0ken" not in on_disk
    for line in (b"Cookie: [redacted]\r\n", b"Authorization: [redacted]\r\n", b"Set-Cookie: [redacted]\r\n"):
        assert line in on_disk


def test_rotates_to_a_new_file_past_max_file_bytes(tmp_path):
    rows = written(tmp_path, 3, max_file_bytes=1)
    names = [f"threadvault-20261130054950-{serial:05d}.warc.gz" for serial in (1, 2, 3)]
    assert [row["warc_file"] for row in rows] == names
    assert sorted(path.name for path in tmp_path.iterdir()) == names
    for name in names:
        with open(tmp_path / name, "rb") as fh:
            assert [record.rec_type for record in ArchiveIterator(fh)] == ["warcinfo", "response", "request"]


def test_stays_in_one_file_below_max_file_bytes(tmp_path):
    rows = written(tmp_path, 3)
    assert {row["warc_file"] for row in rows} == {FIRST_FILE}


def test_each_writer_starts_a_new_file_and_none_without_writes(tmp_path):
    warc_dir = tmp_path / "warc"
    with make_writer(warc_dir):
        pass
    assert not warc_dir.exists()
    (first,) = written(warc_dir, 1)
    before = (warc_dir / FIRST_FILE).read_bytes()
    (second,) = written(warc_dir, 1)  # same clock, same second: the next serial, never an append
    assert second["warc_file"] == "threadvault-20261130054950-00002.warc.gz"
    assert (warc_dir / FIRST_FILE).read_bytes() == before
    assert read_capture(warc_dir, first).body == read_capture(warc_dir, second).body


def test_a_failed_write_is_never_followed_by_more_records_in_its_file(tmp_path):
    broken = dataclasses.replace(html_exchange(2), response_headers=(("Content-Length", 52),))  # not a str
    with make_writer(tmp_path) as writer:
        first = writer.write(html_exchange(1))
        with pytest.raises(TypeError):
            writer.write(broken)
        third = writer.write(html_exchange(3))
    assert (first["warc_file"], third["warc_file"]) == (FIRST_FILE, "threadvault-20261130054950-00002.warc.gz")
    assert list(verify(tmp_path, [first, third])) == []


def test_verify_passes_intact_records(tmp_path):
    assert list(verify(tmp_path, written(tmp_path, 3))) == []


T = TypeVar("T")


def until_damage(items: Iterable[T]) -> tuple[list[T], CaptureCorrupt]:
    """What an iterator yields before it raises CaptureCorrupt, and that error (it must raise one)."""
    found = []
    with pytest.raises(CaptureCorrupt) as raised:
        for item in items:
            found.append(item)
    return found, raised.value


def flip_byte(data: bytes, row: dict) -> bytes:
    middle = row["offset"] + row["length"] // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def alter_payload(data: bytes, row: dict) -> bytes:
    """Re-gzip the record with one payload byte changed: sound gzip, wrong digests."""
    start, end = row["offset"], row["offset"] + row["length"]
    record = bytearray(gzip.decompress(data[start:end]))
    record[-8] ^= 0x01  # inside the gzipped body, before the record's closing blank lines
    return data[:start] + gzip.compress(bytes(record), mtime=0) + data[end:]


def cut_in_half(data: bytes, row: dict) -> bytes:
    return data[: row["offset"] + row["length"] // 2]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (flip_byte, "unreadable record (Error -3 while decompressing data: "),
        (alter_payload, "payload does not match its WARC-Payload-Digest sha1:"),
        (cut_in_half, "unreadable or truncated record"),
    ],
)
def test_verify_reports_the_damaged_record_and_goes_on(tmp_path, damage, reason):
    rows = written(tmp_path, 3)
    path = tmp_path / FIRST_FILE
    path.write_bytes(damage(path.read_bytes(), rows[2]))
    rows = [rows[2], *rows[:2]]  # the damaged one first: the others are still checked
    (problem,) = verify(tmp_path, rows)
    assert (problem.file, problem.offset) == (str(path), rows[0]["offset"])
    assert problem.reason.startswith(reason)
    with pytest.raises(CaptureCorrupt) as raised:
        read_capture(tmp_path, rows[0])
    assert raised.value.reason == problem.reason


def test_verify_reports_every_row_of_a_deleted_file(tmp_path):
    rows = written(tmp_path, 2)
    (tmp_path / FIRST_FILE).unlink()
    problems = [(problem.file, problem.offset, problem.reason) for problem in verify(tmp_path, rows)]
    reason = "cannot open the file (No such file or directory)"
    assert problems == [(str(tmp_path / FIRST_FILE), None, reason)] * 2


def test_verify_reports_a_row_whose_sha256_differs(tmp_path):
    (row,) = written(tmp_path, 1)
    (problem,) = verify(tmp_path, [{**row, "sha256": "0" * 64}])
    assert problem.reason == "payload SHA-256 differs from the captures index"


def test_verify_reports_a_row_pointing_at_another_record(tmp_path):
    rows = written(tmp_path, 2)
    (problem,) = verify(tmp_path, [{**rows[0], "offset": rows[1]["offset"]}])
    assert problem.reason == f"record {rows[0]['id']} is not at this offset"


def test_unindexed_finds_records_missing_from_the_index(tmp_path):
    rows = written(tmp_path, 3, max_file_bytes=1)
    assert list(unindexed(tmp_path, {rows[0]["id"], rows[2]["id"]})) == [rows[1]]
    assert list(unindexed(tmp_path, {row["id"] for row in rows})) == []
    assert list(unindexed(tmp_path / "absent", set())) == []


def test_unindexed_reads_every_file_before_reporting_a_damaged_one(tmp_path):
    rows = written(tmp_path, 3, max_file_bytes=1)
    damaged = tmp_path / rows[0]["warc_file"]
    damaged.write_bytes(cut_in_half(damaged.read_bytes(), rows[0]))  # a run killed mid-write
    found, damage = until_damage(unindexed(tmp_path, set()))
    assert found == rows[1:]
    assert (damage.file, damage.offset) == (str(damaged), rows[0]["offset"])


def test_unindexed_collects_each_damaged_file_when_given_a_list(tmp_path):
    rows = written(tmp_path, 4, max_file_bytes=1)
    for row in rows[:2]:
        path = tmp_path / row["warc_file"]
        path.write_bytes(cut_in_half(path.read_bytes(), row))
    damaged = []
    found = list(unindexed(tmp_path, set(), damaged))
    assert found == rows[2:]
    assert [(damage.file, damage.offset) for damage in damaged] == [
        (str(tmp_path / row["warc_file"]), row["offset"]) for row in rows[:2]
    ]


def damage_of(path: Path) -> CaptureCorrupt:
    with pytest.raises(CaptureCorrupt) as raised:
        list(iter_captures(path))
    return raised.value


@pytest.mark.parametrize("kept", [1, 10, 11, 40, "half", "all but the last byte"])
def test_is_cut_off_a_record_cut_short_at_the_end_of_its_file(tmp_path, kept):
    rows = written(tmp_path, 2)
    path = tmp_path / FIRST_FILE
    kept = {"half": rows[1]["length"] // 2, "all but the last byte": rows[1]["length"] - 1}.get(kept, kept)
    path.write_bytes(path.read_bytes()[: rows[1]["offset"] + kept])  # what a kill in the middle of a write leaves
    damage = damage_of(path)
    assert damage.offset == rows[1]["offset"]
    assert is_cut_off(damage)


def test_is_cut_off_a_request_record_cut_in_its_gzip_trailer(tmp_path):
    written(tmp_path, 1)
    path = tmp_path / FIRST_FILE
    path.write_bytes(path.read_bytes()[:-4])
    assert is_cut_off(damage_of(path))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data, row: flip_byte(data, row)[: row["offset"] + row["length"]],  # changed, then cut off
        lambda data, row: data + b"not a WARC record",
        lambda data, row: data + gzip.compress(b"not a WARC record"),
        lambda data, row: data + gzip.compress(b"not a WARC record")[:20],
    ],
    ids=["changed bytes", "bytes", "gzip member", "cut gzip member"],
)
def test_is_cut_off_only_for_a_cut_short_warc_record(tmp_path, damage):
    (row,) = written(tmp_path, 1)
    path = tmp_path / FIRST_FILE
    path.write_bytes(damage(path.read_bytes(), row))
    assert not is_cut_off(damage_of(path))


def test_is_cut_off_not_for_a_missing_file(tmp_path):
    assert not is_cut_off(CaptureCorrupt(str(tmp_path / "gone.warc.gz"), 0, "cannot open the file"))
    assert not is_cut_off(CaptureCorrupt(str(tmp_path / "gone.warc.gz"), None, "cannot open the file"))


def test_write_without_copies_every_other_record_byte_for_byte(tmp_path):
    rows = written(tmp_path, 3)
    path = tmp_path / FIRST_FILE
    data = path.read_bytes()
    copy, offsets = write_without(path, {rows[1]["id"]})
    assert copy == tmp_path / (FIRST_FILE + ".rewrite") and path.read_bytes() == data
    dropped = data[rows[1]["offset"] : rows[2]["offset"]]  # the response and its request record
    assert copy.read_bytes() == data.replace(dropped, b"")
    assert offsets == {rows[0]["id"]: rows[0]["offset"], rows[2]["id"]: rows[2]["offset"] - len(dropped)}
    assert record_offsets(copy) == offsets
    finish_rewrite(path)
    moved = [{**row, "offset": offsets[row["id"]]} for row in (rows[0], rows[2])]
    assert not copy.exists() and list(verify(tmp_path, moved)) == []


def test_write_without_leaves_out_a_record_cut_off_by_a_killed_run(tmp_path):
    rows = written(tmp_path, 2)
    path = tmp_path / FIRST_FILE
    path.write_bytes(cut_in_half(path.read_bytes(), rows[1]))
    copy, offsets = write_without(path, set())
    assert offsets == {rows[0]["id"]: rows[0]["offset"]}
    assert copy.read_bytes() == path.read_bytes()[: rows[1]["offset"]]


def test_write_without_refuses_a_damaged_file_and_leaves_no_copy(tmp_path):
    rows = written(tmp_path, 2)
    path = tmp_path / FIRST_FILE
    path.write_bytes(flip_byte(path.read_bytes(), rows[0]))
    with pytest.raises(CaptureCorrupt) as raised:
        write_without(path, {rows[1]["id"]})
    assert raised.value.offset == rows[0]["offset"]
    assert not (tmp_path / (FIRST_FILE + ".rewrite")).exists()


def test_iter_captures_reads_a_foreign_warc_and_skips_its_revisit(tmp_path, fixtures):
    path = fixtures / "warc" / "warcio-example.warc"
    ((row, capture),) = iter_captures(path)
    assert row == {
        "id": "<urn:uuid:a9c51e3e-0221-11e7-bf66-0242ac120005>",
        "url": "http://example.com/",
        "fetched_at": "2017-03-06T04:02:06Z",
        "status": 200,
        "content_type": "text/html",
        "sha256": "ba85b4903f044b3eb20df400f97f33d8ed96dd8d43edd9cb84e3bcfc900649ff",
        "size": 606,
        "warc_file": str(path.resolve()),
        "offset": 1197,
        "length": 1365,
        "warc_payload_digest": "sha1:G7HRM7BGOKSKMSXZAHMUQTTV53QOFSMK",
    }
    assert capture.header("content-encoding") == "gzip"
    assert capture.body.startswith(b"<!doctype html>\n<html>\n<head>\n    <title>Example Domain</title>")
    assert len(capture.body) == 1270
    assert read_capture(tmp_path, row) == capture  # an absolute warc_file is found from any warc_dir


def test_iter_captures_names_files_inside_warc_dir_relatively(tmp_path, fixtures):
    shutil.copy(fixtures / "warc" / "warcio-example.warc", tmp_path / "crawl.warc")
    ((row, _),) = iter_captures(tmp_path / "crawl.warc", warc_dir=tmp_path)
    assert row["warc_file"] == "crawl.warc"


def test_iter_captures_yields_the_good_records_before_a_corrupt_gzip_member(tmp_path):
    rows = written(tmp_path, 3)
    path = tmp_path / FIRST_FILE
    path.write_bytes(flip_byte(path.read_bytes(), rows[1]))
    found, damage = until_damage(row for row, _ in iter_captures(path, warc_dir=tmp_path))
    assert found == rows[:1]
    assert (damage.file, damage.offset) == (str(path), rows[1]["offset"])


def test_iter_captures_reports_a_truncated_tail(tmp_path):
    rows = written(tmp_path, 2)
    path = tmp_path / FIRST_FILE
    path.write_bytes(cut_in_half(path.read_bytes(), rows[1]))
    found, damage = until_damage(row for row, _ in iter_captures(path, warc_dir=tmp_path))
    assert found == rows[:1]
    assert damage.offset == rows[1]["offset"]


CHUNKED = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"


def another_crawlers_warc(path: Path, payload_digest: str) -> None:
    """A WARC/1.1 record as another crawler writes it: the chunked body as received."""
    buffer = io.BytesIO()
    crawler = WARCWriter(buffer, gzip=False, warc_version="1.1")
    http = StatusAndHeaders("200 OK", [("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
    warc_headers = {"WARC-Date": "2026-11-30T05:49:51.123456Z", "WARC-Payload-Digest": payload_digest}
    record = crawler.create_warc_record(
        "https://example.org/",
        "response",
        payload=io.BytesIO(CHUNKED),
        length=len(CHUNKED),
        http_headers=http,
        warc_headers_dict=warc_headers,
    )
    crawler.write_record(record)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "payload_digest",
    [
        "sha1:" + base64.b32encode(hashlib.sha1(CHUNKED).digest()).decode(),  # over the chunks, as warcio does
        "sha1:" + base64.b32encode(hashlib.sha1(b"hello world").digest()).decode(),  # over the entity (the standard)
        "sha1:" + hashlib.sha1(b"hello world").hexdigest(),
        "sha256:" + base64.b64encode(hashlib.sha256(b"hello world").digest()).decode(),
        "blake7:not-a-digest-hashlib-knows",
    ],
)
def test_iter_captures_dechunks_another_crawlers_record(tmp_path, payload_digest):
    another_crawlers_warc(tmp_path / "other.warc", payload_digest)
    ((row, capture),) = iter_captures(tmp_path / "other.warc")
    assert (capture.body, capture.fetched_at) == (b"hello world", "2026-11-30T05:49:51Z")
    assert (row["size"], row["sha256"]) == (11, hashlib.sha256(b"hello world").hexdigest())
    assert row["warc_payload_digest"] == payload_digest


def test_iter_captures_reports_a_wrong_payload_digest(tmp_path):
    wrong = "sha1:" + base64.b32encode(hashlib.sha1(b"hello there").digest()).decode()
    another_crawlers_warc(tmp_path / "other.warc", wrong)
    with pytest.raises(CaptureCorrupt) as raised:
        list(iter_captures(tmp_path / "other.warc"))
    assert (raised.value.offset, raised.value.reason) == (0, f"payload does not match its WARC-Payload-Digest {wrong}")


def test_iter_captures_reports_a_gzip_member_cut_in_its_trailer(tmp_path):
    rows = written(tmp_path, 2)
    path = tmp_path / FIRST_FILE
    path.write_bytes(path.read_bytes()[:-4])  # the last request record is whole, its member's size field is not
    found, damage = until_damage(row["id"] for row, _ in iter_captures(path))
    assert found == [row["id"] for row in rows]
    assert damage.offset > rows[1]["offset"]
    assert damage.reason == "gzip member does not end with its record (cut short, or holding several records)"


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("ours.warc.gz", None, True),
        ("example.warc", (Path(__file__).parent / "fixtures" / "warc" / "warcio-example.warc").read_bytes(), True),
        ("tweets.jsonl", b'{"id": "1"}\n', False),
        ("page.html.gz", gzip.compress(PAGE), False),
        ("broken.gz", b"\x1f\x8b\x08\x00 not deflate at all", False),
    ],
)
def test_is_warc(tmp_path, name, content, expected):
    if content is None:
        written(tmp_path, 1)
        (tmp_path / FIRST_FILE).rename(tmp_path / name)
    else:
        (tmp_path / name).write_bytes(content)
    assert is_warc(tmp_path / name) is expected


@pytest.mark.parametrize(
    "encoded, coding",
    [
        (PAGE, None),
        (PAGE, ""),
        (PAGE, "identity"),
        (gzip.compress(PAGE), "gzip"),
        (gzip.compress(PAGE), "X-Gzip"),
        (zlib.compress(PAGE), "deflate"),
        (raw_deflate(PAGE), "deflate"),
        (brotli.compress(PAGE), "br"),
        (brotli.compress(gzip.compress(PAGE)), "gzip, br"),
    ],
)
def test_decode_body(encoded, coding):
    assert decode_body(encoded, coding) == PAGE


@pytest.mark.parametrize(
    "encoded, coding, error",
    [
        (PAGE, "compress", "unsupported content-encoding 'compress'"),
        (b"\x1f\x8b not gzip", "gzip", "damaged compressed data (Error -3 while decompressing data: "),
        (gzip.compress(PAGE)[:20], "gzip", "compressed data ends early"),
        (brotli.compress(PAGE)[:10], "br", "compressed data ends early"),
        (gzip.compress(bytes(1_000_000)), "gzip", "decoded body larger than 1,000 bytes"),
        (zlib.compress(bytes(1_000_000)), "deflate", "decoded body larger than 1,000 bytes"),
        (brotli.compress(bytes(1_000_000)), "br", "decoded body larger than 1,000 bytes"),
    ],
)
def test_decode_body_refuses(encoded, coding, error):
    with pytest.raises(ValueError) as raised:
        decode_body(encoded, coding, max_bytes=1_000)
    assert str(raised.value).startswith(error)


# -- resource records: imported files --------------------------------------------------------------

IMPORTED = b"".join(b'{"id": "%d", "text": "line %d"}\n' % (n, n) for n in range(20_000))  # 0.7 MB: many chunks


def written_resource(warc_dir: Path, data: bytes = IMPORTED, **options) -> tuple[dict, Path]:
    source = warc_dir.parent / "collection.jsonl"
    source.write_bytes(data)
    with make_writer(warc_dir, **options) as writer:
        row = writer.write_resource(source, FileDigest.of(source), uri=import_uri(hashlib.sha256(data).hexdigest()),
                                    content_type="application/x-ndjson", fetched_at="2026-11-30T05:49:51Z")
    return row, source


def test_write_resource_round_trip(tmp_path):
    warc_dir = tmp_path / "warc"
    row, _ = written_resource(warc_dir)

    sha256 = hashlib.sha256(IMPORTED).hexdigest()
    digest = "sha1:" + base64.b32encode(hashlib.sha1(IMPORTED).digest()).decode()
    assert row == {
        "id": "<urn:uuid:00000000-0000-4000-8000-000000000002>",
        "url": f"urn:threadvault:import:{sha256}",
        "fetched_at": "2026-11-30T05:49:51Z",
        "status": None,
        "content_type": "application/x-ndjson",
        "sha256": sha256,
        "size": len(IMPORTED),
        "warc_file": FIRST_FILE,
        "offset": row["offset"],
        "length": row["length"],
        "warc_payload_digest": digest,
    }
    head = members(warc_dir / FIRST_FILE).split(b"\r\n\r\n")[2].decode().strip().split("\r\n")  # the resource's
    assert head == [
        "WARC/1.0",
        "WARC-Type: resource",
        "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>",
        "WARC-Date: 2026-11-30T05:49:51Z",
        f"WARC-Target-URI: urn:threadvault:import:{sha256}",
        f"WARC-Payload-Digest: {digest}",
        f"WARC-Block-Digest: {digest}",
        "X-Threadvault-Filename: collection.jsonl",
        "Content-Type: application/x-ndjson",
        f"Content-Length: {len(IMPORTED)}",
    ]
    assert list(verify(warc_dir, [row])) == []
    copied = io.BytesIO()
    copy_payload(warc_dir, row, copied)
    assert copied.getvalue() == IMPORTED
    assert list(unindexed(warc_dir, set())) == [row]
    assert read_capture(warc_dir, row) == Capture(row["url"], 200, (("Content-Type", "application/x-ndjson"),),
                                                  IMPORTED, "2026-11-30T05:49:51Z", row["id"])
    with open(warc_dir / FIRST_FILE, "rb") as fh:  # warcio's reader agrees on where it is
        records = ArchiveIterator(fh)
        assert [(records.get_record_offset(), records.get_record_length()) for record in records
                if record.rec_type == "resource"] == [(row["offset"], row["length"])]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (flip_byte, "unreadable record (Error -3 while decompressing data: "),
        (alter_payload, "payload does not match its WARC-Payload-Digest sha1:"),
        (cut_in_half, "record is truncated: "),
    ],
)
def test_verify_catches_a_damaged_resource_record(tmp_path, damage, reason):
    warc_dir = tmp_path / "warc"
    row, _ = written_resource(warc_dir)
    path = warc_dir / FIRST_FILE
    path.write_bytes(damage(path.read_bytes(), row))

    (problem,) = verify(warc_dir, [row])

    assert (problem.file, problem.offset) == (str(path), row["offset"])
    assert problem.reason.startswith(reason)
    with pytest.raises(CaptureCorrupt):
        copy_payload(warc_dir, row, io.BytesIO())
    damaged = []
    assert list(unindexed(warc_dir, set(), damaged)) == [] and len(damaged) == 1


def test_a_resource_is_read_whole_only_below_the_size_limit(tmp_path, monkeypatch):
    warc_dir = tmp_path / "warc"
    row, _ = written_resource(warc_dir)
    monkeypatch.setattr(captures, "MAX_DECODED_BYTES", len(IMPORTED) - 1)
    with pytest.raises(CaptureCorrupt, match=f"resource larger than {len(IMPORTED) - 1:,} bytes: too large to read whole"):
        read_capture(warc_dir, row)
    copied = io.BytesIO()
    copy_payload(warc_dir, row, copied)  # streamed: no limit
    assert copied.getvalue() == IMPORTED


def test_copy_payload_of_a_response_is_its_body_as_sent(tmp_path):
    (row,) = written(tmp_path, 1)
    copied = io.BytesIO()
    copy_payload(tmp_path, row, copied)
    assert copied.getvalue() == html_exchange(1).body


@pytest.mark.parametrize("change", [b"[" + IMPORTED[1:], IMPORTED[:1000]], ids=["rewritten", "cut short"])
def test_a_file_that_changes_while_it_is_archived_leaves_no_record(tmp_path, change):
    warc_dir = tmp_path / "warc"
    source = tmp_path / "collection.jsonl"
    source.write_bytes(IMPORTED)
    digest = FileDigest.of(source)
    source.write_bytes(change)  # by another program, between the digest and the copy
    with make_writer(warc_dir) as writer:
        with pytest.raises(ThreadvaultError, match="collection.jsonl: the file changed while it was being archived"):
            writer.write_resource(source, digest, uri=import_uri(digest.sha256), content_type="text/plain",
                                  fetched_at="2026-11-30T05:49:51Z")
        after = writer.write(html_exchange(1))
    with open(warc_dir / FIRST_FILE, "rb") as fh:
        assert [record.rec_type for record in ArchiveIterator(fh)] == ["warcinfo"]
    assert after["warc_file"] == "threadvault-20261130054950-00002.warc.gz"
    assert [row["id"] for row in unindexed(warc_dir, set())] == [after["id"]]


def test_write_resource_reads_no_more_than_the_digested_size(tmp_path):
    warc_dir = tmp_path / "warc"
    source = tmp_path / "growing.jsonl"
    source.write_bytes(IMPORTED)
    digest = FileDigest.of(source)
    with source.open("ab") as more:
        more.write(b'{"id": "late"}\n')  # appended after the digest: not part of this import
    with make_writer(warc_dir) as writer:
        row = writer.write_resource(source, digest, uri=import_uri(digest.sha256), content_type="text/plain",
                                    fetched_at="2026-11-30T05:49:51Z")
    copied = io.BytesIO()
    copy_payload(warc_dir, row, copied)
    assert copied.getvalue() == IMPORTED and list(verify(warc_dir, [row])) == []


def test_iter_captures_skips_resource_records(tmp_path):
    warc_dir = tmp_path / "warc"
    written_resource(warc_dir)
    skipped: dict[str, int] = {}
    assert list(iter_captures(warc_dir / FIRST_FILE, skipped=skipped)) == []
    assert skipped == {"warcinfo": 1, "resource": 1}


def test_write_without_keeps_a_resource_record_and_moves_its_offset(tmp_path):
    warc_dir = tmp_path / "warc"
    with make_writer(warc_dir) as writer:
        response = writer.write(html_exchange(1))
        source = tmp_path / "thread.txt"
        source.write_bytes(IMPORTED)
        resource = writer.write_resource(source, FileDigest.of(source), uri=import_uri("x"), content_type="text/plain",
                                         fetched_at="2026-11-30T05:49:51Z")
    path = warc_dir / FIRST_FILE

    copy, offsets = write_without(path, {response["id"]})

    assert offsets == {resource["id"]: response["offset"]}  # where the dropped response and request began
    assert record_offsets(copy) == offsets
    finish_rewrite(path)
    moved = {**resource, "offset": offsets[resource["id"]]}
    copied = io.BytesIO()
    copy_payload(warc_dir, moved, copied)
    assert copied.getvalue() == IMPORTED


def test_decode_body_reads_every_gzip_member() -> None:
    body = gzip.compress(b"first half, ") + gzip.compress(b"second half") + b"\x00\x00"
    assert decode_body(body, "gzip") == b"first half, second half"
    with pytest.raises(ValueError, match="damaged compressed data"):
        decode_body(gzip.compress(b"whole") + b"junk after it", "gzip")
