"""The code blocks of the README and the documentation pages, for the tests that run or
check them.

A block may be preceded by one HTML comment (invisible on GitHub and on the site) that
says how it is checked, on the line right before its fence:

- `<!-- prelude: CODE -->`: Python put before the block when it is type-checked (the
  imports and names the block uses but does not show);
- `<!-- run by: tests/ops/test_x.py -->`: that test reads this page and runs the block;
- `<!-- not run: REASON -->`: no test runs it, and why.

tests/library/test_docs.py says what each kind of block needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)(?P<info>.*)$")
TITLE = re.compile(r'title="([^"]+)"')
MARKER = re.compile(r"<!--\s*(prelude|run by|not run):(.*?)-->\s*$", re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language and title, its code, and the
    comment before it (`marker` is prelude, run by or not run; `note` what follows)."""

    path: Path
    line: int
    lang: str
    title: str | None
    code: str
    marker: str | None = None
    note: str = ""

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def pages() -> list[Path]:
    """The site's pages in its navigation's order (mkdocs.yml), the README first."""
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    listed = re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)$", nav, re.M)
    return [README] + [ROOT / "docs" / page for page in listed]


def blocks(path: Path) -> list[Block]:
    """Every fenced code block of `path`, in order."""
    lines = path.read_text().split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        indent, start = len(opened["indent"]), i
        end = next(
            j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"
        )  # an unclosed fence is a broken page: StopIteration fails the test
        code = "\n".join(line[indent:] for line in lines[start + 1 : end]) + "\n"
        title = TITLE.search(opened["info"])
        marker, note = _marker(lines, start)
        found.append(
            Block(path, start + 1, opened["lang"], title[1] if title else None, code, marker, note)
        )
        i = end + 1
    return found


def _marker(lines: list[str], fence: int) -> tuple[str | None, str]:
    """The comment that ends on the line before line `fence`, if any."""
    if fence == 0 or not lines[fence - 1].rstrip().endswith("-->"):
        return None, ""
    first = fence - 1
    while first > 0 and "<!--" not in lines[first]:
        first -= 1
    comment = MARKER.search("\n".join(lines[first:fence]))
    if comment is None:
        return None, ""
    return comment[1], comment[2].strip()


def titled(path: Path) -> dict[str, str]:
    """The blocks of `path` that name a file (title="PATH"), by that name; the blocks
    titled "shell" are the page's commands, joined in order."""
    files: dict[str, str] = {}
    for block in blocks(path):
        if block.title is not None:
            joined = files.get(block.title, "") if block.title == "shell" else ""
            files[block.title] = joined + block.code
    return files
