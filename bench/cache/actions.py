"""What `bench cache list|prune` do: the build cache's entries and bench's images, and removing
old ones (the command line is bench/commands/cache.py).

In use means named by a live run's ledger (bench.cache.ledger); prune never removes what is
in use, and removes either what was last used more than N days ago (`--older-than N`) or
everything else (`--unused`). An image's age is when it was built. Images are untagged, not
forced: one a container still uses stays, and the line says why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from rich.console import Console

from bench.cache import default_cache_dir
from bench.cache.entries import Entry, cache_entries, remove_entry, user_of
from bench.cache.images import Image, all_images, image_user, remove_image
from bench.cache.ledger import Ledger, read_ledgers
from bench.history.times import shown_time
from bench.results.numbers import format_value
from bench.results.text import visible
from foundation.errors import ConfigError

DAY_S = 86_400.0
out = Console(width=None, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def say(console: Console, line: str) -> None:
    console.print(visible(line), markup=False, highlight=False)


def size(count: int) -> str:
    return format_value(float(count), "bytes")


def list_cache(as_json: bool) -> int:
    cache_dir = default_cache_dir()
    live = [ledger for ledger in read_ledgers(cache_dir) if ledger.live]
    entries = cache_entries(cache_dir)
    images, problems = all_images()
    if as_json:
        print(json.dumps({"cache": str(cache_dir), "live_runs": [ledger.run_id for ledger in live],
                          "entries": [entry_json(e, live) for e in entries],
                          "images": [image_json(i, live) for i in images],
                          "unavailable": problems}, indent=2))
        return 0
    say(out, f"cache {cache_dir}: {len(entries)} entries, {size(sum(e.size for e in entries))}"
             f"; {len(live)} live run(s)")
    for entry in entries:
        say(out, f"{entry.kind:9} {entry.name}  {size(entry.size)}  last used "
                 f"{shown_time(entry.used)} UTC  {in_use(user_of(entry, live))}")
    say(out, f"images: {len(images)}, {size(sum(i.size for i in images))}")
    for image in images:
        say(out, f"{image.engine:9} {image.reference}  {size(image.size)}  built "
                 f"{shown_time(image.created)} UTC  {in_use(image_user(image, live))}")
    for problem in problems:
        say(err, f"not listed: {problem}")
    return 0


def in_use(user: str | None) -> str:
    return f"in use ({user})" if user else "unused"


def entry_json(entry: Entry, live: Sequence[Ledger]) -> dict[str, Any]:
    return {**asdict(entry), "path": str(entry.path), "in_use": user_of(entry, live)}


def image_json(image: Image, live: Sequence[Ledger]) -> dict[str, Any]:
    return {**asdict(image), "in_use": image_user(image, live)}


@dataclass(frozen=True)
class Doomed:
    """Something prune removes: how a line names it, its size, and how it goes (returning
    why not, when it cannot)."""

    label: str
    size: int
    remove: Callable[[], str | None]


@dataclass(frozen=True)
class PruneRequest:
    """What `bench cache prune` removes: what was last used more than `older_than` days ago,
    or (None) everything no live run uses; images too unless `images` is False."""

    older_than: float | None
    images: bool = True
    dry_run: bool = False


def prune_cache(request: PruneRequest) -> int:
    if request.older_than is not None and not request.older_than >= 0:
        raise ConfigError("--older-than: a number of days, 0 or more")
    cutoff = None if request.older_than is None else time.time() - request.older_than * DAY_S
    cache_dir = default_cache_dir()
    live = [ledger for ledger in read_ledgers(cache_dir) if ledger.live]
    doomed = doomed_entries(cache_entries(cache_dir), live, cutoff)
    if request.images:
        images, problems = all_images()
        for engine_problem in problems:
            say(err, f"images not pruned: {engine_problem}")
        doomed += doomed_images(images, live, cutoff)
    verb = "would remove" if request.dry_run else "removed"
    done: list[Doomed] = []
    for item in doomed:
        problem = None if request.dry_run else item.remove()
        done += [item] if problem is None else []
        say(out, f"{verb} {item.label}" if problem is None else f"kept {item.label}: {problem}")
    say(out, f"{len(done)} {verb} ({size(sum(item.size for item in done))}); what "
             f"{len(live)} live run(s) use was kept")
    return 0 if len(done) == len(doomed) else 1


def doomed_entries(entries: Sequence[Entry], live: Sequence[Ledger],
                   cutoff: float | None) -> list[Doomed]:
    return [Doomed(f"{entry.kind} {entry.name} ({size(entry.size)})", entry.size,
                   partial(removed, entry))
            for entry in entries
            if user_of(entry, live) is None and (cutoff is None or entry.used < cutoff)]


def doomed_images(images: Sequence[Image], live: Sequence[Ledger],
                  cutoff: float | None) -> list[Doomed]:
    return [Doomed(f"{image.engine} image {image.reference} ({size(image.size)})", image.size,
                   partial(remove_image, image))
            for image in images
            if image_user(image, live) is None and (cutoff is None or image.created < cutoff)]


def removed(entry: Entry) -> str | None:
    try:
        remove_entry(entry)
    except OSError as error:
        return error.strerror or str(error)
    return None
