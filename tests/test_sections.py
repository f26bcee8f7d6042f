"""harness/sections.py: a benchmark's section of a Markdown file is replaced, the rest kept."""

from __future__ import annotations

from pathlib import Path

from harness.sections import replace_section

BEGIN, END = "<!-- b: begin -->", "<!-- b: end -->"


def test_a_section_is_appended_then_replaced_in_place(tmp_path: Path) -> None:
    out = tmp_path / "doc.md"
    out.write_text("# Doc\n\nWords before.\n", encoding="utf-8")
    replace_section(out, f"{BEGIN}\nfirst run\n{END}\n", BEGIN, END)
    assert out.read_text(encoding="utf-8") == f"# Doc\n\nWords before.\n\n{BEGIN}\nfirst run\n{END}\n"
    out.write_text(out.read_text(encoding="utf-8") + "\nWords after.\n", encoding="utf-8")
    replace_section(out, f"{BEGIN}\nsecond run\n{END}\n", BEGIN, END)
    expected = f"# Doc\n\nWords before.\n\n{BEGIN}\nsecond run\n{END}\n\nWords after.\n"
    assert out.read_text(encoding="utf-8") == expected


def test_a_missing_file_gets_the_section_alone(tmp_path: Path) -> None:
    out = tmp_path / "new.md"
    replace_section(out, f"{BEGIN}\nx\n{END}\n", BEGIN, END)
    assert out.read_text(encoding="utf-8") == f"{BEGIN}\nx\n{END}\n"
