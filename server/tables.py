"""Tables for a terminal: what the CLI prints for people."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]],
               numeric: Sequence[int] = ()) -> list[str]:
    """Aligned columns under a header and a rule; ``numeric`` columns to the right."""
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  " + "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])]
