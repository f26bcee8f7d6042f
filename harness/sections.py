"""A benchmark's own section of a Markdown file, between its begin and end comments."""

from __future__ import annotations

from pathlib import Path


def replace_section(out: Path, text: str, begin: str, end: str) -> None:
    """Replace the section of ``out`` from ``begin`` to ``end`` with ``text`` (which carries both
    comments), or append ``text`` when the file has no such section; the rest of the file stays."""
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    out.write_text(new, encoding="utf-8")
