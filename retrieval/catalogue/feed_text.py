"""Text from untrusted feed bytes: HTML reduced to plain text, and where a file stops decoding."""

from __future__ import annotations

import codecs
import csv
import html
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# Tags that end a line of text; everything else is inline and joins its neighbours.
BLOCKS = frozenset({"address", "article", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3",
                     "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table",
                     "td", "th", "tr", "ul"})
# Their content is code or styling, never words a shopper reads.
HIDDEN = frozenset({"script", "style", "template", "noscript"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
# C0/C1 control characters (tab and newline excepted) have no place in shop text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, one line per block."""
    if "<" in value or "&" in value:
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    return plain(value, keep_lines=True)


def plain(value: str, *, keep_lines: bool = False) -> str:
    """``value`` without control characters, runs of spaces squeezed (lines kept or joined), and
    HTML character references decoded: exporters (WooCommerce plug-ins among them) put escaped
    text inside CDATA, so "Kitchen &amp;gt; Coffee" arrives as the characters ``&gt;``."""
    if "&" in value:
        value = html.unescape(value)
    value = _CONTROLS.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in value.split("\n"))
    return ("\n" if keep_lines else " ").join(line for line in lines if line)


def first_decode_error(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """``(byte offset, line, byte)`` of the first byte of ``path`` that is not valid ``encoding``.

    None when the file decodes, or when the encoding is not one whose newline is the byte 0x0A
    (UTF-16 and UTF-32): the file is read a line at a time, so memory stays one line's worth.
    """
    name = codecs.lookup(encoding).name
    if name.startswith(("utf-16", "utf-32")):
        return None
    offset = 0
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode(name)
            except UnicodeDecodeError as err:
                return offset + err.start, number, line[err.start]
            offset += len(line)
    return None


def csv_rows(reader: Any, oversized: Callable[[int, int, csv.Error], None]
             ) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row of ``reader`` (a ``csv.reader``) with the line it starts on.

    A field over the csv module's limit raises inside the reader, which then goes on with the
    next line: ``oversized(first_line, last_line, err)`` is told of the row refused.
    """
    last_line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            oversized(last_line + 1, reader.line_num, err)
            last_line = reader.line_num
            continue
        line, last_line = last_line + 1, reader.line_num
        if any(cell.strip() for cell in row):
            yield line, row
