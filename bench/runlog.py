"""The run log: every external action of a run, with its host time stamp, in `run.log`.

Drivers and the runner log through the standard logging module under the `bench` logger
(each command line, Engine API call, domain XML, cgroup write, cell start and end). While a
run writes into a results directory, a handler there keeps every record; `-v` also shows
them live. A failed cell's reason names the line of run.log where its story starts.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foundation.errors import ResultsError
from foundation.files import open_append

LOG_NAME = "run.log"
ROOT = "bench"
FORMAT = "%(asctime)s.%(msecs)03d mono=%(mono_ns)d %(levelname)s %(name)s: %(message)s"
DATE = "%Y-%m-%dT%H:%M:%S"


class MonotonicStamp(logging.Filter):
    """Adds the host's monotonic clock to each record: the clock every interval is timed on."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.mono_ns = time.monotonic_ns()
        return True


class CountingFileHandler(logging.FileHandler):
    """A file handler that knows which line it will write next (records can span lines).

    The file is opened with O_NOFOLLOW (foundation.files): a link planted at run.log is refused,
    never written through."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self.next_line = 1 + count_lines(path)

    def _open(self) -> io.TextIOWrapper:
        return open_append(Path(self.baseFilename))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        super().emit(record)
        self.next_line += text.count("\n") + 1


def count_lines(path: Path) -> int:
    """Lines already in the file (a resumed run's log goes on after them)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


class RunLog:
    """The run.log of one results directory while the run writes it."""

    def __init__(self, handler: CountingFileHandler) -> None:
        self.handler = handler

    @property
    def next_line(self) -> int:
        return self.handler.next_line

    @property
    def path(self) -> str:
        return self.handler.baseFilename


def formatter() -> logging.Formatter:
    return logging.Formatter(FORMAT, DATE)


@contextmanager
def run_log(results: Path, verbose: bool = False) -> Iterator[RunLog]:
    """Record the `bench` logger's records in results/run.log (and on stderr with verbose)."""
    logger = logging.getLogger(ROOT)
    stamp = MonotonicStamp()
    try:
        handler = CountingFileHandler(results / LOG_NAME)
    except OSError as error:
        raise ResultsError(f"{results / LOG_NAME}: cannot write the run log "
                           f"({error.strerror or error})") from None
    handler.setFormatter(formatter())
    handler.addFilter(stamp)
    handlers: list[logging.Handler] = [handler]
    if verbose:
        live = logging.StreamHandler()
        live.setFormatter(formatter())
        live.addFilter(stamp)
        handlers.append(live)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    for item in handlers:
        logger.addHandler(item)
    try:
        yield RunLog(handler)
    finally:
        for item in handlers:
            logger.removeHandler(item)
            item.close()
        logger.setLevel(previous)
