"""The built book in headless Chromium, served on loopback: every page of the table of contents,
in both editions, loads offline without errors, its maths is typeset, its figures and animations
show, its links resolve, search works (in Chinese too), the edition switch leads to the same page,
Chinese is drawn with a CJK font, and screenshots at desktop and phone widths are left for a
person."""

from __future__ import annotations

import re
import shutil
import struct
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser_support import (
    LOOPBACK_HOSTS,
    PAGE_FACTS_JS,
    launch_chromium,
    require_chromium,
    serve_directory,
    toc_pages,
)
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGES = toc_pages(ROOT)
# The Chinese edition's pages: the same pages, one folder down (book/build.py).
CHINESE_PAGES = [f"zh/{page}" for page in PAGES]
BOTH_EDITIONS = PAGES + CHINESE_PAGES
SCREENSHOT_PAGES = [PAGES[0], "book/reinforce", "zh/book/reinforce"]
SCREENSHOT_WIDTHS = {"desktop": 1280, "phone": 390}

# TeX a reader should never see: \commands, \( \) \[ \] delimiters, or $...$ left unparsed.
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|\$[^$\s][^$]*\$")


@dataclass
class Visit:
    """What happened while one page loaded, and what it showed once loaded."""

    url: str
    requests: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about", "file"} or parts.hostname in LOOPBACK_HOSTS


def open_page(browser, url: str, width: int = 1280):
    """Open ``url`` in a new tab that records requests, missing files and console errors."""
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    visit = Visit(url)
    page.on("request", lambda request: visit.requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and visit.missing.append(f"{response.status} {response.url}")
        ),
    )
    page.on(
        "requestfailed",
        lambda request: visit.missing.append(f"{request.failure}: {request.url}"),
    )
    page.on(
        "console",
        lambda message: message.type == "error" and visit.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
    page.goto(url, wait_until="load")
    return page, visit


@pytest.fixture(scope="module")  # closed before another module starts its own Playwright
def browser():
    require_chromium()
    with sync_playwright() as playwright:
        context = launch_chromium(playwright)
        # A request to another host is recorded, then refused: the book must not need it.
        context.route(
            "**/*",
            lambda route: route.continue_() if is_local(route.request.url) else route.abort(),
        )
        yield context
        context.close()


@pytest.fixture(scope="session")
def book_url(book_build):
    if not (HTML / "index.html").is_file():
        log = book_build.stdout + book_build.stderr
        pytest.fail(f"the book was not built, so there is nothing to load:\n{log[-3000:]}")
    with serve_directory(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def visits(browser, book_url) -> dict[str, Visit]:
    """Load every page of both editions once; the tests below read the records."""
    records = {}
    for name in BOTH_EDITIONS:
        page, visit = open_page(browser, f"{book_url}{name}.html")
        visit.facts = page.evaluate(PAGE_FACTS_JS)
        page.close()
        records[name] = visit
    return records


def search(browser, url: str) -> tuple[Visit, list[str]]:
    """Open a search page's URL, wait for its results, and give the pages they link to."""
    page, visit = open_page(browser, url)
    page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "links => links.map(a => a.getAttribute('href'))"
    )
    page.close()
    return visit, links


@pytest.fixture(scope="module")
def search_visit(browser, book_url) -> tuple[Visit, list[str]]:
    return search(browser, f"{book_url}search.html?q=REINFORCE")


@pytest.mark.parametrize("name", BOTH_EDITIONS)
def test_page_loads_without_console_errors_or_missing_files(visits, name):
    visit = visits[name]
    assert not visit.missing, f"{name}: files that did not load: {visit.missing}"
    assert not visit.console_errors, f"{name}: console errors: {visit.console_errors}"


def test_pages_load_nothing_from_other_hosts(visits, search_visit):
    every_visit = [*visits.values(), search_visit[0]]
    outside = {url for visit in every_visit for url in visit.requests if not is_local(url)}
    assert not outside, f"the book fetched files from other hosts: {sorted(outside)}"
    # The check above means something only if requests were recorded at all.
    assert all(len(visit.requests) > 5 for visit in every_visit)


@pytest.mark.parametrize("name", BOTH_EDITIONS)
def test_maths_is_typeset(visits, name):
    facts = visits[name].facts
    assert not facts["untypesetMaths"], f"{name}: maths MathJax did not typeset"
    if facts["mathElements"]:
        assert facts["mathjaxContainers"] >= facts["mathElements"]
    assert not facts["mathjaxErrors"], f"{name}: TeX errors: {facts['mathjaxErrors']}"
    raw = [text.strip() for text in facts["visibleText"] if RAW_TEX.search(text)]
    assert not raw, f"{name}: raw TeX visible in the page: {raw[:5]}"


def test_some_page_has_typeset_maths(visits):
    """The book has maths, so a check that finds none on any page has stopped looking."""
    assert any(visit.facts["mathjaxContainers"] > 0 for visit in visits.values())


@pytest.mark.parametrize("name", BOTH_EDITIONS)
def test_cell_figures_load_and_have_alt_text(visits, name):
    for figure in visits[name].facts["figures"]:
        assert figure["loaded"], f"{name}: figure {figure['src']} did not load"
        # Without alt text of its own, Sphinx uses the image's file name, which describes nothing.
        alt, src = figure["alt"], figure["src"]
        assert alt and Path(alt).name != Path(src).name, (
            f"{name}: figure {src} has no alt text: give its cell `mystnb: image: alt:` metadata"
        )


@pytest.mark.parametrize("name", BOTH_EDITIONS)
def test_animations_have_nonblank_frames(visits, name):
    animations = visits[name].facts["animations"]
    source = next(ROOT.glob(f"{name.removeprefix('zh/')}.*"), None)
    if source is not None and "to_jshtml" in source.read_text():
        assert animations, f"{name} makes an animation with to_jshtml, but the page shows none"
    for animation in animations:
        assert animation["player"], f"{name}: the player of {animation['id']} did not start"
        assert animation["frames"] > 0, f"{name}: {animation['id']} has no frames"
        assert not animation["broken"], f"{name}: frames that do not decode: {animation['broken']}"
        assert not animation["blank"], f"{name}: frames of one colour: {animation['blank']}"


class _LinksAndAnchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name == "id" or (tag == "a" and name == "name"):
                self.anchors.add(value)


def parse_html(path: Path) -> _LinksAndAnchors:
    parser = _LinksAndAnchors()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_internal_links_and_anchors_resolve(book_url):
    # The book's own pages, in both editions; _static and _sources hold the theme's and the
    # sources' files.
    pages = [
        p
        for p in HTML.rglob("*.html")
        if not any(d.startswith("_") for d in p.relative_to(HTML).parts)
    ]
    parsed = {page: parse_html(page) for page in pages}
    broken, checked = [], 0
    for page, parser in parsed.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link == "#":
                continue  # another site, data:, mailto: or javascript:, or an empty fragment
            checked += 1
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(HTML)} -> {link}"
            if not target.is_relative_to(HTML) or not target.is_file():
                broken.append(where)
            elif parts.fragment and target.suffix == ".html":
                if target not in parsed:
                    parsed[target] = parse_html(target)
                if unquote(parts.fragment) not in parsed[target].anchors:
                    broken.append(f"{where} (no such anchor)")
    assert checked > 10 * len(PAGES), "too few internal links found: is the parser working?"
    assert not broken, "links to missing files or anchors:\n" + "\n".join(broken)


def test_search_finds_reinforce(search_visit):
    visit, links = search_visit
    assert links, "searching for REINFORCE gave no results"
    assert any(link.split("?")[0] == f"{PAGES[0]}.html" for link in links), links
    assert not visit.missing and not visit.console_errors, (visit.missing, visit.console_errors)


def test_chinese_search_finds_policy_gradient(browser, book_url):
    """Sphinx's Chinese search splits words with jieba, so a term inside a sentence is found."""
    visit, links = search(browser, f"{book_url}zh/search.html?q=策略梯度")
    pages = {link.split("?")[0] for link in links}
    assert "book/policy_gradient_theorem.html" in pages, pages
    assert not visit.missing and not visit.console_errors, (visit.missing, visit.console_errors)


def follow_edition_switch(browser, url: str) -> str:
    page, visit = open_page(browser, url)
    with page.expect_navigation():
        page.click("a.edition-switch")
    landed = page.url
    page.close()
    assert not visit.missing and not visit.console_errors, (visit.missing, visit.console_errors)
    return landed


@pytest.mark.parametrize("name", PAGES)
def test_the_edition_switch_leads_to_the_same_page(visits, book_url, name):
    assert visits[name].facts["editionSwitch"] == f"{book_url}zh/{name}.html"
    assert visits[f"zh/{name}"].facts["editionSwitch"] == f"{book_url}{name}.html"


def test_the_edition_switch_round_trips_over_http_and_from_files(browser, book_url, book_build):
    for english in (f"{book_url}book/reinforce.html", (HTML / "book/reinforce.html").as_uri()):
        chinese = follow_edition_switch(browser, english)
        assert chinese == english.replace("/book/reinforce.html", "/zh/book/reinforce.html")
        assert follow_edition_switch(browser, chinese) == english


def test_chinese_text_is_rendered_with_a_cjk_font(browser, book_url):
    """Chromium reports the fonts it drew a node's glyphs with: Chinese text must come from a
    CJK font (Debian's fonts-noto-cjk), not from a fallback that shows empty boxes."""
    page, _ = open_page(browser, f"{book_url}zh/book/reinforce.html")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    paragraph = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "article p"})
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": paragraph["nodeId"]})["fonts"]
    text = page.inner_text("article p")
    page.close()
    assert re.search(r"[\u4e00-\u9fff]", text), f"the first paragraph is not Chinese: {text!r}"
    cjk = [f for f in fonts if "CJK" in f["familyName"] and f["glyphCount"] > 0]
    assert cjk, f"no CJK font drew the Chinese text: {fonts}; install fonts-noto-cjk"


# Waits for MathJax, then gives each display equation's typeset width, the width of the text
# column around it, and the start of its TeX source, so that a failure names the equation.
DISPLAY_MATHS_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const tex = (container) => {
    const items = MathJax.startup.document.getMathItemsWithin(container);
    return (items.length ? items[0].math : container.textContent).trim();
  };
  return [...document.querySelectorAll('mjx-container[display="true"]')].map((container) => ({
    width: container.firstElementChild.getBoundingClientRect().width,
    available: container.parentElement.getBoundingClientRect().width,
    tex: tex(container).replace(/\\s+/g, " ").slice(0, 70),
  }));
}
"""


def test_display_maths_fits_a_phone(browser, book_url):
    """On a phone, an equation wider than the text column has to be scrolled sideways to read."""
    width = SCREENSHOT_WIDTHS["phone"]
    too_wide, displays = [], 0
    for name in PAGES:
        page, _ = open_page(browser, f"{book_url}{name}.html", width=width)
        equations = page.evaluate(DISPLAY_MATHS_JS)
        page.close()
        displays += len(equations)
        too_wide += [
            f"{name}: {e['width']:.0f} px in {e['available']:.0f} px: {e['tex']}"
            for e in equations
            if e["width"] > e["available"] + 1
        ]
    assert displays > 0, "no display maths found on any page: is the selector still right?"
    listing = "\n".join(too_wide)
    assert not too_wide, f"display maths wider than the text column at {width} px:\n{listing}"


def png_width(path: Path) -> int:
    """The width stored in a PNG file's header."""
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_screenshots_at_desktop_and_phone_widths(browser, book_url, capsys):
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    made = []
    for name in SCREENSHOT_PAGES:
        for device, width in SCREENSHOT_WIDTHS.items():
            page, visit = open_page(browser, f"{book_url}{name}.html", width=width)
            page.evaluate(PAGE_FACTS_JS)  # waits until maths and images are in place
            edition = "zh-" if name in CHINESE_PAGES else ""
            path = SCREENSHOTS / f"{edition}{Path(name).name}-{device}-{width}.png"
            page.screenshot(path=path, full_page=True)
            page.close()
            # A full-page screenshot wider than the window means the page scrolls sideways.
            assert png_width(path) == width, f"{path.name}: the page is wider than {width} px"
            assert not visit.missing and not visit.console_errors
            made.append(path)
    with capsys.disabled():
        print(f"\nscreenshots for a person to look at, in {SCREENSHOTS}:")
        for path in made:
            print(f"  {path.name}")
