"""Link every page to the same page in the book's other edition.

The English edition is built into ``_build/html`` and the Chinese one into ``_build/html/zh``
(book/build.py), so the same page of the other edition is one folder down or up from the root.
The links are relative: they work from ``file://`` as well as over HTTP.
"""

from pathlib import Path

EDITIONS = {
    "en": {"label": "English", "lang": "en", "title": "Read this page in English"},
    "zh_CN": {"label": "中文", "lang": "zh-CN", "title": "阅读本页的中文版"},
}
CHINESE_FOLDER = "zh"


def other_edition_href(pagename: str, language: str) -> str:
    """The relative address, from ``pagename``'s page, of the same page in the other edition."""
    to_root = "../" * pagename.count("/")
    if language == "zh_CN":
        return f"{to_root}../{pagename}.html"
    return f"{to_root}{CHINESE_FOLDER}/{pagename}.html"


def add_edition_switch(app, pagename, templatename, context, doctree) -> None:
    language = app.config.language if app.config.language == "zh_CN" else "en"
    other = EDITIONS["en" if language == "zh_CN" else "zh_CN"]
    href = other_edition_href(pagename, language)
    context["other_edition"] = {**other, "href": href}
    alternate = f'<link rel="alternate" hreflang="{other["lang"]}" href="{href}" />\n'
    context["metatags"] = context.get("metatags", "") + alternate


def add_static_files(app) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "editions_static"))
    app.add_css_file("editions.css")


def setup(app):
    app.connect("builder-inited", add_static_files)
    app.connect("html-page-context", add_edition_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
