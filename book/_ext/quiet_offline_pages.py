"""Keep every built page offline, free of browser console errors, and with its maths typeset.

Four things in the tools the book is built with get in the way, and each is undone here:

- Sphinx loads MathJax only on pages whose body has maths, but a chapter title with maths shows
  in the navigation of every page; so every page loads it.
- A {doc} link shows its target's title as plain text, so "The objective $J(\\theta)$" would
  read "The objective J(\\theta)"; the title's own nodes, maths included, are put back.
- sphinx-thebe adds an inline script after Sphinx's HTML builder has started; Sphinx 7 then puts
  it in every page twice, and the second copy fails with "THEBE_JS_URL has already been declared".
- matplotlib's ``to_jshtml`` animations link Font Awesome 4 from a CDN for their buttons; the
  theme ships Font Awesome itself, so the link is dropped and the page fetches nothing remote.
"""

import hashlib
import re
from pathlib import Path

from docutils import nodes
from sphinx.util.nodes import clean_astext

CDN_FONT_AWESOME = re.compile(
    r'<link[^>]*href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^>]*>'
)


def _typeset_doc_link_titles(app, doctree, docname) -> None:
    titles_with_maths = {
        clean_astext(title): title
        for title in app.env.titles.values()
        if next(title.findall(nodes.math), None) is not None
    }
    for link_text in list(doctree.findall(nodes.inline)):
        title = titles_with_maths.get(link_text.astext())
        if title is not None and "doc" in link_text["classes"]:
            link_text[:] = [child.deepcopy() for child in title.children]


def _without_repeats(scripts: list) -> list:
    """The scripts in order, each once; an inline script may be registered as None or ""."""
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    return unique


def _tidy_page(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = _without_repeats(context["script_files"])
    if "body" in context:
        context["body"] = CDN_FONT_AWESOME.sub("", context["body"])


def setup(app):
    app.set_html_assets_policy("always")
    # A config value that changes with this file, so that editing it rewrites every page.
    revision = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    app.add_config_value("quiet_offline_pages_revision", revision, "html")
    app.connect("doctree-resolved", _typeset_doc_link_titles)
    # Late priority: runs after other extensions have added their page-specific scripts.
    app.connect("html-page-context", _tidy_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
