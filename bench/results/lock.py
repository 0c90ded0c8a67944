"""Locks on directories: one writer per results directory, and a sign that a run is alive.

A run holds an exclusive flock on its results directory for its whole life, so a second
`bench run -o` of the same directory, or a `--resume` of a run that is still going, is
refused in one line instead of mixing two runs' samples and instances. The runner also
locks its scratch directory (`bench-<run id>-...` in the temp dir), which is how `bench
clean` tells a live run from a dead one: the kernel drops a flock when its holder dies,
however it dies, so a lock that is held belongs to a process that is still there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from foundation.errors import ResultsError

OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class DirectoryLock:
    """An exclusive flock on a directory, held until release() (or the holder's death).

    The descriptor is close-on-exec, so no instance or compiler a run starts inherits it:
    a leaked instance never keeps a dead run looking alive.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> DirectoryLock:
        """The lock, or a ResultsError when another process holds it."""
        fd = open_directory(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsError(f"{path}: another bench run is writing this results directory "
                               "(a run still going, or a --resume of it): wait for it to end, "
                               "or use another directory") from None
        except OSError as error:
            os.close(fd)
            raise ResultsError(f"{path}: cannot lock ({error.strerror})") from None
        return cls(path, fd)

    def fileno(self) -> int:
        """The held descriptor (a ResultsError once released)."""
        if self._fd is None:
            raise ResultsError(f"{self.path}: the lock was released")
        return self._fd

    def release(self) -> None:
        """Idempotent."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def open_directory(path: Path) -> int:
    try:
        return os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such directory") from None
    except (NotADirectoryError, OSError) as error:
        if path.is_symlink():
            raise ResultsError(f"{path}: a symbolic link; bench writes only into a directory "
                               "itself") from None
        raise ResultsError(f"{path}: not a directory bench can use "
                           f"({error.strerror or error})") from None


def is_locked(path: Path) -> bool:
    """Whether some live process holds the lock on `path` (False when it cannot be opened)."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
