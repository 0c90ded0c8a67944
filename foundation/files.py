"""Writing files without following anything planted in the way.

bench runs as root and writes into directories other users may reach (a results folder
under /tmp, a cache under $XDG_CACHE_HOME). A fixed-name temporary file such as
`manifest.partial` lets a local user plant a symlink there and make root overwrite any
file. So every file bench writes whole is written through a temporary file created
exclusively (O_EXCL, O_NOFOLLOW, a random name in the target's directory) and renamed
over the target (rename replaces a symlink, never writes through it); every file bench
appends to is opened with O_NOFOLLOW. One helper for all of it: the results store, the
report, and the cache's builds.

Reading is the other half: a file a user or another run may have replaced by a FIFO, a
device or a directory is opened without blocking and refused unless it is a regular file
of bounded size (read_regular), so no reader hangs on a FIFO with no writer.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foundation.errors import ConfigError

CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_ATTEMPTS = 100
# O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class NotRegularFile(ValueError):
    """A path that is something other than a regular file (`kind` says what)."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path}: {kind}, not a regular file")
        self.path = path
        self.kind = kind


class FileTooLarge(ValueError):
    """A regular file larger than its reader's bound."""

    def __init__(self, path: Path, size: int, limit: int) -> None:
        super().__init__(f"{path}: {size >> 20} MiB is more than bench reads ({limit >> 20} MiB)")
        self.path = path
        self.size = size
        self.limit = limit


def kind_of(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opened without blocking, then
    checked on the open descriptor (fstat), so a FIFO, a device or a directory (through a
    link too) is NotRegularFile at once; FileTooLarge past `limit`; OSError when it cannot
    be opened or read (FileNotFoundError when absent)."""
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError as error:
        if error.errno == errno.ENXIO:  # a socket (or a device with nothing behind it)
            raise NotRegularFile(path, kind_of(os.stat(path).st_mode)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, kind_of(info.st_mode))
        if info.st_size > limit:
            raise FileTooLarge(path, info.st_size, limit)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:  # it grew since fstat
        raise FileTooLarge(path, len(data), limit)
    return data


def temporary_name(target: Path) -> Path:
    """A random, hidden name beside `target`, unguessable by whoever might plant a link."""
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")


def create_exclusive(target: Path, mode: int = 0o644) -> tuple[Path, int]:
    """A new file beside `target` with a random name, created with O_EXCL|O_NOFOLLOW: its
    path and an open descriptor. Nothing that existed before is ever opened."""
    for _ in range(TEMP_ATTEMPTS):
        candidate = temporary_name(target)
        try:
            return candidate, os.open(candidate, CREATE_FLAGS, mode)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def write_atomic(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `target` with `data` in one rename: readers see the old file or the new one,
    whole; a link planted at `target` is replaced, never written through. OSError on failure
    (the temporary file is removed, whatever interrupted the write)."""
    partial, fd = create_exclusive(target, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), mode)  # the umask does not decide a cache binary's mode
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def write_text_atomic(target: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(target, text.encode("utf-8"), mode)


def write_output(target: Path, text: str) -> None:
    """A file the user named (--output, --junit, --markdown): written whole, in place of
    whatever was there; a failure is one line, the user's to fix (ConfigError)."""
    try:
        write_text_atomic(target, text)
    except OSError as error:
        raise ConfigError(f"{target}: cannot write ({error.strerror})") from None


def open_append(path: Path) -> io.TextIOWrapper:
    """A text file opened for appending; a symlink at `path` is refused (ELOOP), not followed."""
    return open(path, "a", encoding="utf-8", opener=_append_opener)  # noqa: SIM115 (the caller closes it)


def _append_opener(path: str, flags: int) -> int:
    return os.open(path, APPEND_FLAGS, 0o644)


def real_directory(path: Path) -> bool:
    """Whether `path` is a directory itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


@contextmanager
def private_directory(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh directory only this user can enter (mkdtemp: exclusive, mode 0700), removed
    with everything in it on the way out, however the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
