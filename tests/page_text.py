"""What a person reads on a page bench writes, for the tests that check how numbers read:
the text outside <style> and <script>, every string of the page's figures, and the pattern
of a number written with an exponent."""

from __future__ import annotations

import json
import re
from typing import Any

# a number written with an exponent, as Python's g and e formats, d3 and JavaScript write them
# (1e+03, 2.432e+07 B/s, 3.56e+03x, 1e-7): always with a sign, so a hex run id (1564e6), a
# hash or a colour (#e3e8ef) is not one
SCIENTIFIC = re.compile(r"(?<![\w#.])\d+(?:\.\d+)?[eE][+-]\d+(?![\d.])")


def readable_text(page: str) -> str:
    """The page's text as tags leave it: no style sheet, no script, no figure JSON."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S))


def figure_specs(page: str, prefix: str = r"figure-[a-z]+") -> list[dict[str, Any]]:
    """The plotly JSON of each figure slot whose id starts with PREFIX, in page order."""
    return [json.loads(text) for text in
            re.findall(rf'id="{prefix}-\d+-data">(.*?)</script>', page, re.S)]


def strings(node: object) -> list[str]:
    """Every string in a figure: titles, tick and bar text, hover text."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []
