"""The exceptions threadvault raises.

    ThreadvaultError                 every error this package raises on purpose
     +-- FetchError                  a URL could not be fetched (url, status, attempts)
     |    +-- BlockedByRobots        robots.txt disallows the URL
     |    +-- TooLarge               the body passed the size limit
     +-- NotAThread                  a capture holds no thread (url, reason)
     +-- UnknownSource               no source recognises a URL or file
     +-- CaptureCorrupt              a WARC record is unreadable or its digest is wrong (file, offset)
     +-- ImportLineError             one record of an imported file is unusable (file, line)
     +-- ArchiveBusy                 another process is writing to the archive

Each message is one line that names the input; details stay on the attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadvault.fetch import Exchange


class ThreadvaultError(Exception):
    """Base class of every error raised on purpose by threadvault."""

    def __reduce__(self) -> tuple:
        """Pickled with its attributes (a parse in another process raises it there): the subclasses'
        constructors take other arguments than the message that ``Exception`` would pickle."""
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[ThreadvaultError], args: tuple, attributes: dict) -> ThreadvaultError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(attributes)
    return error


class FetchError(ThreadvaultError):
    exchanges: tuple[Exchange, ...] = ()  # set by Fetcher.fetch: the exchanges made before the failure

    def __init__(self, url: str, reason: str, status: int | None = None, attempts: int = 1):
        self.url = url
        self.reason = reason
        self.status = status
        self.attempts = attempts
        super().__init__(f"{url}: {reason}")


class BlockedByRobots(FetchError):
    def __init__(self, url: str, reason: str = "disallowed by robots.txt"):
        super().__init__(url, f"{reason} (use --ignore-robots to override)")


class TooLarge(FetchError):
    def __init__(self, url: str, limit: int, status: int | None = None):
        self.limit = limit
        super().__init__(url, f"body larger than the {limit:,}-byte limit", status=status)


class NotAThread(ThreadvaultError):
    def __init__(self, url: str, reason: str):
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: not a thread: {reason}")


class UnknownSource(ThreadvaultError):
    def __init__(self, target: str, reason: str = "no source recognises it (use --source NAME)"):
        self.target = target
        super().__init__(f"{target}: {reason}")


class CaptureCorrupt(ThreadvaultError):
    def __init__(self, file: str, offset: int | None, reason: str):
        self.file = file
        self.offset = offset
        self.reason = reason
        where = file if offset is None else f"{file} at offset {offset}"
        super().__init__(f"{where}: {reason}")


class ImportLineError(ThreadvaultError):
    def __init__(self, file: str, line: int, reason: str):
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}")


class ArchiveBusy(ThreadvaultError):
    def __init__(self, db_path: str):
        self.db_path = db_path
        super().__init__(f"{db_path}: another threadvault process is writing to this archive; wait for it to finish")
