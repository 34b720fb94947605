"""Keep every built page offline, free of browser console errors, and with its maths typeset.

Three things in the tools the book is built with get in the way, and each is undone here:

- Sphinx loads MathJax only on pages whose body has maths, but a chapter title with maths shows
  in the navigation of every page; so every page loads it.
- sphinx-thebe adds an inline script after Sphinx's HTML builder has started; Sphinx 7 then puts
  it in every page twice, and the second copy fails with "THEBE_JS_URL has already been declared".
- matplotlib's ``to_jshtml`` animations link Font Awesome 4 from a CDN for their buttons; the
  theme ships Font Awesome itself, so the link is dropped and the page fetches nothing remote.
"""

import re

CDN_FONT_AWESOME = re.compile(
    r'<link[^>]*href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^>]*>'
)


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
    # Late priority: runs after other extensions have added their page-specific scripts.
    app.connect("html-page-context", _tidy_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
