"""Alt text inside a cell's HTML output is translated like any other message.

A figure's alt text (a cell's ``mystnb: image: alt:``) is an image node's, which Sphinx's
gettext extracts and translates. An animation is HTML (matplotlib's player, given its alt text
by ``pgcourse.plotting.with_alt_text``), which Sphinx treats as opaque. Before Sphinx collects a
page's messages, each such output becomes a translatable node whose messages are its ``alt``
attributes: they go into the page's catalog, and the Chinese edition's page gets their
translation in the same place.
"""

import html
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform

ALT = re.compile(r'<img alt="([^"]*)"')


class html_with_alt_text(nodes.raw, addnodes.translatable):
    """Raw HTML whose images' alt texts are messages (written out as raw HTML)."""

    def preserve_original_messages(self) -> None:
        self["original_alt"] = self.extract_original_messages()

    def extract_original_messages(self) -> list[str]:
        return [html.unescape(alt) for alt in ALT.findall(self.astext())]

    def apply_translated_message(self, original_message: str, translated_message: str) -> None:
        old, new = (f'<img alt="{html.escape(m)}"' for m in (original_message, translated_message))
        self.children[0] = nodes.Text(self.astext().replace(old, new))


class TranslatableHtmlAltText(SphinxTransform):
    """Turns each cell's HTML output that has alt text into :class:`html_with_alt_text`."""

    default_priority = 5  # before Sphinx preserves the original messages (10) and translates (20)

    def apply(self, **kwargs) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if type(raw) is nodes.raw and "html" in raw["format"] and ALT.search(raw.astext()):
                node = html_with_alt_text(raw.rawsource, raw.astext(), **raw.attributes)
                node.source, node.line = raw.source, raw.line
                raw.replace_self(node)


def setup(app):
    app.add_node(html_with_alt_text, override=True)
    app.add_transform(TranslatableHtmlAltText)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
