"""The docs have one source per topic: the README stays a short entry point, and no paragraph
of it is repeated in docs/ (a copy drifts from its original, as the gating docs once did)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
TOPICS = ("architecture", "writing-a-driver", "workloads", "methodology", "gating", "history",
          "results-format", "fleet", "ci-matrix")


def paragraphs(text: str, min_words: int = 8) -> list[str]:
    """Prose paragraphs and table rows, whitespace folded; code blocks left out (commands
    may rightly appear in both places)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        parts = lines if all(line.startswith("|") for line in lines) else [block]
        found += [" ".join(part.split()) for part in parts]
    return [part for part in found if len(part.split()) >= min_words]


def test_no_readme_paragraph_is_repeated_in_docs() -> None:
    docs = {path.name: " ".join(path.read_text().split()) for path in DOCS.glob("*.md")}
    repeated = [(paragraph[:60], name) for paragraph in paragraphs(README.read_text())
                for name, text in docs.items() if paragraph in text]
    assert not repeated, f"README paragraphs repeated in docs/: {repeated}"


def test_the_check_finds_a_repeated_paragraph() -> None:
    paragraph = paragraphs(README.read_text())[0]
    assert paragraph in " ".join(f"intro\n\n{paragraph}\n\nmore".split())


def test_the_readme_is_an_entry_point() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines"
    assert lines[2:6] == ["```sh", "bash .ci/host-setup && bench run configs/quick.yaml",
                          "python3 -m pytest", "```"]


def test_every_topic_has_its_page_and_the_readme_links_each_page() -> None:
    readme = README.read_text()
    for topic in TOPICS:
        assert (DOCS / f"{topic}.md").is_file(), topic
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, f"the README's map misses docs/{page.name}"
