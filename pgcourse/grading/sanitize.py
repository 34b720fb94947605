"""Learners' HTML made safe to open: in the feedback pages and in nbgrader's formgrader.

nbgrader renders a notebook's markdown and its cells' outputs as they are, so a submission could
put a live script in its feedback page, or in the formgrader, where it would run with the
instructor's Jupyter session. nbgrader_config.py sets two things on nbconvert's HTMLExporter,
which both ``generate_feedback`` and the formgrader use:

- the ``markdown2html`` filter (:func:`markdown2html`): markdown cells (and text/markdown
  outputs) are rendered as nbconvert renders them, then cleaned;
- the preprocessor :class:`SanitizeOutputs`: HTML outputs are cleaned, outputs that would run
  code (JavaScript, widgets) are dropped.

Cleaning is ammonia's allow-list (the ``nh3`` package): text, maths (``$...$`` is text, which
MathJax typesets), headings, lists, tables, code, links and images stay; scripts, styles, event
handlers (``onerror=``), ``javascript:`` links, iframes, SVG and forms go. The page's own
scripts and styles (MathJax, nbgrader's layout) come from the template, not from the learner.
"""

from __future__ import annotations

import nh3
from nbconvert import filters
from nbconvert.preprocessors import Preprocessor

# Output types the templates show inertly: escaped text, or an <img> of the image's bytes (an
# SVG in an <img> runs no script). text/markdown goes through markdown2html below.
INERT_OUTPUTS = frozenset(
    {"text/plain", "text/latex", "text/markdown", "image/png", "image/jpeg", "image/svg+xml"}
)


def clean(html: str) -> str:
    """``html`` with only inert elements and attributes left (ammonia's defaults)."""
    return nh3.clean(html)


def markdown2html(source: str) -> str:
    """Markdown rendered as nbconvert renders it, then cleaned."""
    return clean(filters.markdown2html(source))


class SanitizeOutputs(Preprocessor):
    """Cleans HTML outputs and raw cells; drops outputs of any other type that could run code."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # widget state the page would render with its scripts
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "raw":
            cell.source = clean(cell.source)
        for output in cell.get("outputs", []):
            if "data" not in output:
                continue  # streams and errors: the templates escape their text
            data = output.data
            for mimetype in list(data):
                if mimetype == "text/html":
                    data[mimetype] = clean(data[mimetype])
                elif mimetype not in INERT_OUTPUTS:
                    del data[mimetype]
            # An "isolated" HTML output would be shown in an iframe of its own.
            output.get("metadata", {}).get("text/html", {}).pop("isolated", None)
        return cell, resources
