"""The ``threadvault`` command: options in, one library call, a report out."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlite_utils
from tqdm import tqdm

from threadvault import __version__, imports, jobs, parsing, replays, store
from threadvault.errors import ThreadvaultError
from threadvault.fetch import FetchSettings
from threadvault.migrations import migrations

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_METADATA = Path("metadata.yml")
MAX_ERRORS_SHOWN = 20  # bad records listed per imported file


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=store.DEFAULT_DB,
        show_default=True,
        help="The archive's SQLite file; raw captures go to warc/ beside it.",
    )(command)


def parse_workers_option(meanwhile: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--parse-workers", type=click.IntRange(0, 64), default=parsing.default_workers,
        show_default="one per CPU beyond the first, at most 4",
        help=f"Processes that parse pages while {meanwhile}, when there are {parsing.PARSE_POOL_FROM} URLs or more; "
        "0 parses them in this command's own process.",
    )


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version")
def cli() -> None:
    """Archive social-media threads: every response kept in WARC files, every post
    searchable in SQLite, the archive served by Datasette.

    \b
    Example:
        threadvault fetch https://threadreaderapp.com/thread/1215710451343904768.html
        threadvault serve
    """


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--from-file", "from_file", type=click.File("r"), help="Read URLs from a file, one per line ('-' for stdin; # comments).")
@db_option
@click.option("--source", "source", help="Force a source when the host is not its usual one (a mirror, an instance on its own domain).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=FetchSettings.concurrency, show_default=True, help="Requests in flight at once.")
@click.option("--delay", type=click.FloatRange(0), default=FetchSettings.delay, show_default=True, help="Seconds between two requests to the same host, which go one at a time; with 0 they overlap, up to --concurrency.")
@click.option("--user-agent", help="User-Agent header to send instead of threadvault's own.")
@click.option("--ignore-robots", is_flag=True, help="Do not obey robots.txt.")
@click.option("--refetch", is_flag=True, help="Fetch URLs again even when already archived.")
@click.option("--follow", is_flag=True, help="Also queue the other threads a page links to (same source only).")
@click.option("--with-replies", is_flag=True, help="Keep other people's replies too (Mastodon, Bluesky).")
@click.option("--token", envvar="THREADVAULT_MASTODON_TOKEN", help="Mastodon access token for instances that require one; "
              "sent only to the hosts of the queued Mastodon URLs [env: THREADVAULT_MASTODON_TOKEN].")
@click.option("--max-bytes", type=click.IntRange(1), default=FetchSettings.max_bytes, show_default=True, help="Refuse response bodies larger than this.")
@click.option("--retries", type=click.IntRange(0), default=FetchSettings.retries, show_default=True, help="Extra attempts after a timeout, a 429 or a 5xx.")
@parse_workers_option("the job fetches and stores")
def fetch(urls: tuple[str, ...], from_file: Any, db_path: Path, source: str | None, concurrency: int, delay: float,
          user_agent: str | None, ignore_robots: bool, refetch: bool, follow: bool, with_replies: bool,
          token: str | None, max_bytes: int, retries: int, parse_workers: int) -> None:
    """Fetch threads and archive them.

    URLs are queued in the archive, so an interrupted job resumes where it
    stopped when the same command runs again; archived URLs are not fetched
    again unless --refetch.  An author page queues every thread it lists.
    Threads found on a page are queued only on that page's host or the
    source's own hosts, never on a loopback or private address.

    \b
    Example:
        threadvault fetch https://threadreaderapp.com/thread/1215710451343904768.html
        threadvault fetch --from-file urls.txt --concurrency 2 --delay 3
        threadvault fetch --source threadreaderapp http://mirror.example/thread/1215710451343904768.html
    """
    wanted = list(urls) + (_read_url_file(from_file) if from_file else [])
    options = jobs.JobOptions(refetch=refetch, follow=follow, with_replies=with_replies, parse_workers=parse_workers)
    with _errors_as_click(), jobs.writer_lock(db_path):
        db = store.open_archive(db_path)
        queued = jobs.enqueue(db, wanted, forced_source=source, refetch=refetch)
        tokens = tuple((host, token) for host in jobs.pending_hosts(db, "mastodon")) if token else ()
        settings = FetchSettings(
            concurrency=concurrency, delay=delay, respect_robots=not ignore_robots, max_bytes=max_bytes,
            retries=retries, bearer_tokens=tokens, **({"user_agent": user_agent} if user_agent else {}),
        )
        with _progress(len(jobs.pending_urls(db)), "Fetching") as progress:
            try:
                report = asyncio.run(jobs.FetchJob(db_path, settings, options, progress).run())
            except KeyboardInterrupt:
                raise click.ClickException("interrupted; run the same command again to resume") from None
    report.failed[:0] = queued.rejected
    _summarise(report)


@cli.command()
@db_option
@click.option("--metadata", "metadata_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_METADATA,
              show_default=True, help="Datasette metadata (titles, facets, canned queries).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 exposes the archive to your network.")
@click.option("-p", "--port", type=int, default=8001, show_default=True, help="Port to listen on (0 picks a free one).")
def serve(db_path: Path, metadata_path: Path, host: str, port: int) -> None:
    """Open the archive in Datasette: search, facets, thread pages, SQL.

    The database is served read-only.  Plain `datasette db/threadvault.db -m
    metadata.yml` works too.

    \b
    Example:
        threadvault serve
        threadvault serve --db other/archive.db --port 8002
    """
    import uvicorn

    from threadvault.web.server import build_datasette

    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no archive here yet; run `threadvault fetch` or `threadvault import` first")
    with _errors_as_click():
        _bring_up_to_date(db_path)
    datasette = build_datasette(db_path, metadata_path if metadata_path.exists() else None)
    click.echo(f"Serving {db_path} at http://{host}:{port}/", err=True)
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")


def _bring_up_to_date(db_path: Path) -> None:
    """Apply the migrations an archive written by an older threadvault lacks: metadata.yml and the
    reader's pages rely on their columns.  Only then is the writer's lock needed."""
    archive = sqlite_utils.Database(db_path)
    pending = migrations.pending(archive)
    archive.close()
    if pending:
        with jobs.writer_lock(db_path):
            store.open_archive(db_path).close()


@cli.command()
@db_option
@click.option("--reindex", is_flag=True, help="Add records found on disk but missing from the index.")
def verify(db_path: Path, reindex: bool) -> None:
    """Check every archived WARC record against its index row and digest.

    A record cut off at the end of a file by a killed run was never indexed:
    it is reported, but is not corruption.

    \b
    Example:
        threadvault verify
        threadvault verify --reindex
    """
    with _errors_as_click(), (jobs.writer_lock(db_path) if reindex else _no_lock()):
        report = jobs.verify(db_path, reindex=reindex)
    for problem in report.corrupt:
        click.echo(f"Corrupt: {problem}", err=True)
    for row in report.unindexed:
        action = "re-indexed" if reindex else "not indexed (use --reindex)"
        click.echo(f"Unindexed: {row['warc_file']} at offset {row['offset']}: {row['url']}: {action}", err=True)
    for damage in report.cut_off:
        click.echo(f"Cut off: {damage.file} at offset {damage.offset}: the last record, cut short when the run "
                   "writing it was killed; it was never indexed and is ignored", err=True)
    cut_off = f", {len(report.cut_off)} cut off by a killed run" if report.cut_off else ""
    click.echo(f"{report.checked} records checked, {len(report.corrupt)} corrupt, {len(report.unindexed)} unindexed{cut_off}")
    if report.corrupt or (report.unindexed and not reindex):
        sys.exit(1)


@cli.command()
@db_option
@click.option("--with-replies", is_flag=True, help="Keep other people's replies too (Mastodon, Bluesky).")
@parse_workers_option("the reparse stores threads")
def reparse(db_path: Path, with_replies: bool, parse_workers: int) -> None:
    """Rebuild threads and posts from the archived captures alone, without the network.

    Run it after upgrading threadvault to apply a better parser to an old archive.

    \b
    Example:
        threadvault reparse --db db/threadvault.db
    """
    with _errors_as_click(), jobs.writer_lock(db_path):
        if not db_path.exists():
            raise click.ClickException(f"{db_path}: no archive here")
        with _progress(None, "Reparsing") as progress:
            report = replays.reparse(db_path, with_replies=with_replies, parse_workers=parse_workers, progress=progress)
    _summarise(report)


@cli.command()
@click.option("--author", metavar="HANDLE", help="An author: their id (twitter:quinnypig) or their handle.")
@click.option("--thread", metavar="ID", help="A thread, by its id (the id of its first post).")
@click.option("--post", metavar="ID", help="One post, by its id.")
@db_option
@click.option("--purge-captures", is_flag=True, help="Also remove the raw WARC records they were read from.")
@click.option("--reason", help="Why, kept with the tombstone (e.g. 'request by the author, 2026-11-30').")
def forget(author: str | None, thread: str | None, post: str | None, db_path: Path, purge_captures: bool,
           reason: str | None) -> None:
    """Remove an author's posts, a thread or a post, and keep them out for good.

    They leave the tables and the search index at once; a tombstone makes
    every later fetch, import and reparse skip them.  --purge-captures also
    rewrites the WARC files without the pages they were read from (which may
    hold other posts of the same thread).  An author's threads go with the
    replies in them.

    \b
    Example:
        threadvault forget --thread twitter:1215710451343904768 --reason "the author asked, 2026-11-30"
        threadvault forget --author QuinnyPig --purge-captures
        threadvault forget --post mastodon:https://social.example/users/mira/statuses/112025282813496319
    """
    from threadvault.forget import forget as forget_content

    chosen = [(kind, value) for kind, value in (("author", author), ("thread", thread), ("post", post)) if value]
    if len(chosen) != 1:
        raise click.UsageError("give one of --author, --thread or --post")
    [(kind, target)] = chosen
    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no archive here")
    with _errors_as_click(), jobs.writer_lock(db_path):
        report = forget_content(db_path, kind, target, reason=reason, purge_captures=purge_captures)
    for path in report.left_in_place:
        click.echo(f"Left in place: {path}: an imported WARC file (not threadvault's to rewrite) still holds "
                   "some of the raw records; their index rows are gone", err=True)
    for name in report.kept_imports:
        click.echo(f"Left in place: {name}: an imported file other threads were read from too; "
                   "the forgotten content stays out of every reparse", err=True)
    removed = [_plural(report.posts, "post"), _plural(report.threads, "thread")]
    removed += [_plural(report.authors, "author")] if kind == "author" else []
    purged = (f"; {_plural(report.captures, 'capture')} purged from {_plural(len(report.rewritten), 'WARC file')}"
              if purge_captures else "")
    click.echo(f"Forgot {kind} {', '.join(report.ids)}: {', '.join(removed)} removed{purged}; tombstoned, "
               "so never archived again")


@cli.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@click.option("--format", "forced_format", help="Force the format instead of detecting it: warc, twarc, twitter-archive, text.")
@click.option("--source", "forced_source", help="For WARC files: force the source of every response (e.g. nitter for an unknown host).")
@parse_workers_option("a WARC file's threads are stored")
def import_(paths: tuple[Path, ...], db_path: Path, forced_format: str | None, forced_source: str | None,
            parse_workers: int) -> None:
    """Import collections you already have: WARC files, twarc JSONL, Twitter archives, plain text.

    The format is detected from each file's content.  A bad record is
    reported with its file and line and the import goes on.  Records of a
    WARC file are kept by reference (file and offset), not copied; a file in
    any other format is kept whole in the archive's own WARC files, so
    `threadvault reparse` can read it again.

    \b
    Example:
        threadvault import collection.jsonl twitter-archive.zip
        threadvault import crawl.warc.gz --source nitter
    """
    failed = False
    with _errors_as_click(), jobs.writer_lock(db_path):
        for path in paths:
            with _progress(None, f"Importing {path.name}") as progress:
                try:
                    report = imports.import_file(db_path, path, forced_format=forced_format, forced_source=forced_source,
                                                 parse_workers=parse_workers, progress=progress)
                except ThreadvaultError as error:
                    click.echo(f"Failed: {error}", err=True)
                    failed = True
                    continue
            for error in report.errors[:MAX_ERRORS_SHOWN]:
                click.echo(f"Skipped: {error}", err=True)
            if len(report.errors) > MAX_ERRORS_SHOWN:
                click.echo(f"Skipped: … and {len(report.errors) - MAX_ERRORS_SHOWN} more bad records in {path}", err=True)
            skipped = "".join(f", {count} {reason} skipped" for reason, count in report.skipped.items())
            again = " (already archived: the same bytes were imported before)" if report.already_archived else ""
            click.echo(f"{path} ({report.format}): {report.saved} threads saved, {report.unchanged} unchanged, "
                       f"{len(report.errors)} bad records{skipped}{again}")
            failed = failed or bool(report.errors)
    if failed:
        sys.exit(1)


@cli.command(name="export")
@click.argument("thread_id")
@db_option
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown",
              show_default=True, help="Markdown, a self-contained HTML page, or JSON with every field.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="File to write ('-' for standard output).")
def export_thread(thread_id: str, db_path: Path, fmt: str, output: Any) -> None:
    """Write one archived thread as a document to keep: Markdown, HTML or JSON.

    THREAD_ID is the thread's global id, as on its page in `threadvault serve`
    (the id of its first post).  The HTML page needs nothing else: its style is
    inline and archived text stays inert.

    \b
    Example:
        threadvault export twitter:1215710451343904768 > thread.md
        threadvault export twitter:1215710451343904768 --format html -o thread.html
    """
    from threadvault.export import export_thread as render_thread

    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no archive here")
    with _errors_as_click():
        output.write(render_thread(store.open_archive(db_path), thread_id, fmt))


def _read_url_file(stream: Any) -> list[str]:
    lines = (line.strip() for line in stream)
    return [line for line in lines if line and not line.startswith("#")]


@contextmanager
def _errors_as_click() -> Iterator[None]:
    try:
        yield
    except ThreadvaultError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[jobs.Progress]:
    """A progress bar on a terminal, silence elsewhere."""
    with tqdm(total=total, desc=label, unit="url", disable=not sys.stderr.isatty(), leave=False) as bar:
        def advance(url: str, outcome: str, remaining: int | None = None) -> None:
            if remaining is not None:
                bar.total = bar.n + 1 + remaining
            bar.set_postfix_str(outcome[:40], refresh=False)
            bar.update(1)

        yield advance


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _summarise(report: jobs.JobReport) -> None:
    parts = [f"{len(report.archived)} archived", f"{len(report.unchanged)} unchanged", f"{len(report.failed)} failed"]
    if report.listed:
        parts.insert(0, f"{len(report.listed)} listings")
    if report.refused:
        parts.append(f"{len(report.refused)} discovered URLs not followed")
    for url, reason in report.refused:
        click.echo(f"Refused: {url}: {reason}", err=True)
    for url, reason in report.failed:
        click.echo(f"Failed: {reason}" if reason.startswith(url) else f"Failed: {url}: {reason}", err=True)
    click.echo(", ".join(parts))
    if report.failed:
        sys.exit(1)
