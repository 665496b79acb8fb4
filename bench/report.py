"""The pieces of ``RESULTS.md``: tables of figures, each figure a time and a ratio to a named peer."""

from __future__ import annotations

import attrs

#: The multiplication sign of every ratio.
X = "\N{MULTIPLICATION SIGN}"


@attrs.define
class Table:
    """A markdown table with a title and notes under it."""

    title: str
    header: list[str]
    rows: list[list[str]] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    #: Columns from this one on are right-aligned (figures); the ones before are text.
    figures_from: int = 1

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        lines.append(
            "|" + "|".join("---:" if i >= self.figures_from else "---" for i in range(len(self.header))) + "|"
        )
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += self.notes
        return "\n".join(lines) + "\n"


def ratio(value: float, reference: float) -> str:
    """``1.23`` and a multiplication sign."""
    return f"{value / reference:.2f}{X}"


def megabytes(size: float) -> str:
    """``48.1 MB`` (10^6 bytes)."""
    return f"{size / 1e6:.1f} MB"
