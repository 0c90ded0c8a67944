"""The static parts of a bench page: its Content-Security-Policy, style sheet, loader and plotly.js.

plotly.js (about 4.8 MB) is inlined gzip-compressed and base64-encoded (about 2 MB):
the loader unpacks it with the browser's DecompressionStream and runs it as an inline
script, so the report is one small file that loads nothing from anywhere. The page's
Content-Security-Policy forbids every network load, so even code paths of plotly.js that
know URLs (map tiles, topojson, the "edit in Chart Studio" link) could not reach a host.

The style sheet and the loader are files beside the templates (templates/assets/), which
templates/page.html.j2 includes; a page built from that skeleton (the report, a trend
page) gets all of this by extending it. STYLE and LOADER hold the same files' text for a
page that is not built from the skeleton.
"""

from __future__ import annotations

import base64
import functools
import gzip
from importlib import metadata, resources
from pathlib import Path

import plotly
from plotly.offline import get_plotlyjs

from foundation.errors import ResultsError
from foundation.files import write_text_atomic

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; "
       "form-action 'none'")


def write_page(page: str, output: Path, what: str) -> Path:
    """A page written atomically, through a file created exclusively under a random name (never
    through a link planted at a fixed name): a partial file never has the final name."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output, page)
    except OSError as error:
        raise ResultsError(f"{output}: cannot write the {what} ({error.strerror})") from None
    return output


@functools.cache
def bench_version() -> str:
    """The installed bench's version, for a page's footer (read from its metadata, so the
    report layer needs nothing of the package above it)."""
    return metadata.version("bench")


@functools.lru_cache(maxsize=2)
def packed_plotlyjs(version: str = plotly.__version__) -> str:
    """plotly.js, gzip-compressed and base64-encoded (cached: compressing takes ~0.3 s).

    VERSION is plotly's, so the cache key changes if another plotly is imported; the report
    warms the cache in a thread while it draws the figures, and the page reads it after."""
    packed = base64.b64encode(gzip.compress(get_plotlyjs().encode(), 6, mtime=0))
    return packed.decode("ascii")


def asset(name: str) -> str:
    """The text of templates/assets/NAME (package data, so it works from a wheel too)."""
    return resources.files("reports").joinpath("templates", "assets", name).read_text("utf-8")


STYLE = asset("report.css")
LOADER = asset("loader.js")  # reads <div data-figure> slots and the #plotly-js, #plot-status elements
