"""Text that came from input (names in a config or a results file, errors quoting them), made
safe for where it is shown.

A terminal obeys control characters (an escape sequence can rewrite the screen, a newline
breaks the promise of one line), rich obeys its markup (`[/]` in a name crashed run,
summary and gate), and a pull-request comment obeys Markdown and HTML (`<img onerror>`,
`<!--`, `![](url)`, an `@mention`). Each function here makes text inert for one of them
and keeps it readable: what the user wrote, shown, never acted on.
"""

from __future__ import annotations

# characters left as they are in Markdown: letters, digits and punctuation no Markdown or
# HTML construct starts with; every other character becomes an HTML character reference
MARKDOWN_SAFE = frozenset(" -.,/%+=:;'\"?^{}$")


def visible(text: str) -> str:
    """Each control character (newline, escape, bidi override) written as its escape
    sequence (\\n, \\x1b, \\u202e); everything else as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def markdown_text(text: str) -> str:
    """Text for a Markdown table cell or list item that renders as the same characters and
    nothing else: no tag, comment, link, image, emphasis, table pipe or mention."""
    shown = visible(text)
    return "".join(c if c.isalnum() or c in MARKDOWN_SAFE or intraword(shown, i) else f"&#{ord(c)};"
                   for i, c in enumerate(shown))


def intraword(text: str, index: int) -> bool:
    """An underscore between two letters or digits (clock_gettime): Markdown leaves it be."""
    return (text[index] == "_" and 0 < index < len(text) - 1 and text[index - 1].isalnum()
            and text[index + 1].isalnum())
