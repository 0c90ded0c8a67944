"""The static parts of the HTML report: its style sheet, its loader script and plotly.js.

plotly.js (about 4.8 MB) is inlined gzip-compressed and base64-encoded (about 2 MB):
the loader unpacks it with the browser's DecompressionStream and runs it as an inline
script, so the report is one small file that loads nothing from anywhere. The page's
Content-Security-Policy forbids every network load, so even code paths of plotly.js that
know URLs (map tiles, topojson, the "edit in Chart Studio" link) could not reach a host.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import os
from pathlib import Path

import plotly
from plotly.offline import get_plotlyjs

from bench.errors import ResultsError

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; "
       "form-action 'none'")

PLOTLY_CONFIG = ('{"displaylogo": false, "showLink": false, "showSendToCloud": false, '
                 '"showEditInChartStudio": false, "plotlyServerURL": "", "typesetMath": false, '
                 '"responsive": true}')


def write_page(page: str, output: Path, what: str) -> Path:
    """A page written atomically: a partial file never has the final name."""
    partial = output.with_name(output.name + ".partial")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, output)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ResultsError(f"{output}: cannot write the {what} ({error.strerror})") from None
    return output


@functools.lru_cache(maxsize=2)
def packed_plotlyjs(version: str = plotly.__version__) -> str:
    """plotly.js, gzip-compressed and base64-encoded (cached: compressing takes ~0.3 s)."""
    packed = base64.b64encode(gzip.compress(get_plotlyjs().encode(), 6, mtime=0))
    return packed.decode("ascii")


LOADER = """
(function () {
  "use strict";
  var config = __CONFIG__;
  function say(text) {
    var box = document.getElementById("plot-status");
    box.textContent = text;
    box.hidden = !text;
  }
  function draw() {
    var slots = document.querySelectorAll("div[data-figure]");
    for (var i = 0; i < slots.length; i++) {
      var holder = document.getElementById(slots[i].getAttribute("data-figure"));
      var spec = JSON.parse(holder.textContent);
      Plotly.newPlot(slots[i], spec.data, spec.layout, config);
    }
    document.body.setAttribute("data-drawn", String(slots.length));
    say("");
  }
  function run(code) {
    var script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
    draw();
  }
  if (typeof DecompressionStream === "undefined") {
    say("This browser cannot unpack the charts (no DecompressionStream: Chrome 80, " +
        "Firefox 113 and Safari 16.4 or later have it). Every number is in the tables.");
    return;
  }
  var text = atob(document.getElementById("plotly-js").textContent.trim());
  var bytes = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(run).catch(function (error) {
    say("The charts could not be drawn: " + error);
  });
})();
""".replace("__CONFIG__", PLOTLY_CONFIG)

STYLE = """
:root { --ink: #1d2433; --muted: #5b6474; --line: #dde2ea; --card: #ffffff;
        --page: #f4f6f9; --accent: #2456a6; --warn: #8a5a00; --warnbg: #fff6e0;
        --bad: #a32020; --good: #1f7a3a; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header.top { background: #1d2433; color: #fff; padding: 1.2rem 2rem; }
header.top h1 { margin: 0; font-size: 1.5rem; }
header.top p { margin: .2rem 0 0; color: #c9d2e3; }
nav { padding: .5rem 2rem; background: #e8ecf2; border-bottom: 1px solid var(--line);
      position: sticky; top: 0; z-index: 5; }
nav a { color: var(--accent); margin-right: 1.2rem; text-decoration: none; font-weight: 600; }
main { max-width: 1320px; margin: 0 auto; padding: 1rem 2rem 3rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 1rem 1.4rem; margin: 1.2rem 0; }
section h2 { margin: .2rem 0 .8rem; font-size: 1.25rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .4rem; }
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 21rem; gap: 1.4rem; }
.layout.wide { grid-template-columns: 1fr; gap: .6rem; }
@media (max-width: 1000px) { .layout { grid-template-columns: 1fr; } }
section { scroll-margin-top: 3rem; }
h3.caption { margin: .6rem 0 0; font-size: 1rem; }
aside.note { background: #f1f5fb; border-left: 4px solid var(--accent); padding: .6rem 1rem;
             font-size: .92rem; color: #263043; align-self: start; border-radius: 4px; }
aside.note h3 { margin-top: .2rem; font-size: .95rem; }
aside.note p { margin: .5rem 0; }
.figure { width: 100%; margin-bottom: .8rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin-bottom: .6rem; }
th, td { padding: .28rem .55rem; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: #eef1f6; font-weight: 600; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.family td { background: #f7f8fb; font-weight: 700; color: var(--muted); }
.worse { color: var(--bad); font-weight: 600; }
.better { color: var(--good); font-weight: 600; }
.same { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: fit-content(14rem) minmax(0, 1fr);
           gap: .15rem 1rem; margin: 0 0 .6rem; }
dl.facts dt { color: var(--muted); overflow-wrap: anywhere; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.warnings { background: var(--warnbg); border: 1px solid #f0d9a0; border-radius: 6px;
            padding: .5rem 1rem; color: var(--warn); }
.warnings ul { margin: .3rem 0; padding-left: 1.2rem; }
.ok-box { color: var(--good); }
#plot-status { background: var(--warnbg); padding: .5rem 2rem; color: var(--warn); }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1.4rem; }
@media (max-width: 900px) { .pair { grid-template-columns: 1fr; } }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .8rem; margin: .3rem 0; }
details summary { cursor: pointer; color: var(--accent); margin: .4rem 0; }
code { background: #eef1f6; padding: 0 .25rem; border-radius: 3px; }
footer { color: var(--muted); font-size: .85rem; text-align: center; padding: 1rem; }
"""
