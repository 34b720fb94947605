"""The book builds, both editions, with execution and without a single warning; notebooks carry
no outputs."""

import json
import re
import subprocess
from html import unescape
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for entry in toc.get("chapters", []):
        files.append(entry["file"])
    return files


CJK = re.compile(r"[\u4e00-\u9fff]")
EDITIONS = {"English": ROOT / "_build/html", "Chinese": ROOT / "_build/html/zh"}


def test_book_builds_without_warnings(book_build):
    log = book_build.stdout + book_build.stderr
    assert book_build.returncode == 0, f"the book's build failed:\n{log[-6000:]}"
    # Sphinx's own warnings look like "file: WARNING: ..."; the kernel's log lines do not count.
    sphinx_warnings = [line for line in log.splitlines() if ": WARNING:" in line]
    assert not sphinx_warnings, "the build printed warnings:\n" + "\n".join(sphinx_warnings)
    assert log.count("build succeeded") == len(EDITIONS), "each edition is built once"
    for name, html in EDITIONS.items():
        assert f"The {name} edition is at {html / 'index.html'}" in log
        assert (html / "index.html").is_file()


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_toc_page_is_built(book_build, edition):
    for page in toc_files():
        assert (EDITIONS[edition] / f"{page}.html").is_file(), f"{page} was not built"


def test_pages_outside_the_toc_are_not_built(book_build):
    html = ROOT / "_build/html"
    for folder in ("solutions", "exercises", "tests", "locales"):
        assert not (html / folder).exists(), f"{folder}/ was built as book pages"


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_chapter_links_to_its_exercise(book_build, edition):
    """Each chapter offers an exercise's release for download, and every exercise is offered."""
    pages = toc_files()
    chapters = pages[1 : pages.index("book/instructors")]
    offered = set()
    for page in chapters:
        html = (EDITIONS[edition] / f"{page}.html").read_text()
        links = re.findall(r'href="\.\./(_downloads/[^"]+/(\w+)\.ipynb)"', html)
        assert links, f"{page} links to no exercise"
        for target, name in links:
            downloaded = (EDITIONS[edition] / target).read_bytes()
            assert downloaded == (ROOT / "exercises" / name / f"{name}.ipynb").read_bytes()
            offered.add(name)
    assert offered == {p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()}


def glued_numbers(html: Path) -> list[str]:
    """The values a page's {glue:text} roles pasted into its prose, in sorted order."""
    return sorted(re.findall(r'<span class="pasted-text">([^<]*)</span>', html.read_text()))


def test_both_editions_paste_the_same_numbers(book_build):
    """The editions share one execution: every number glued into the English prose appears in
    the Chinese prose too, as often and with the same digits."""
    pasted = 0
    for page in toc_files():
        english = glued_numbers(EDITIONS["English"] / f"{page}.html")
        assert glued_numbers(EDITIONS["Chinese"] / f"{page}.html") == english, page
        pasted += len(english)
    assert pasted > 200, "too few glued numbers found: is the pattern still right?"


def alt_texts(html: Path) -> list[str]:
    """The alt texts of a page's images, figures and animations alike, in order."""
    return [unescape(alt) for alt in re.findall(r'<img\b[^>]*\balt="([^"]+)"', html.read_text())]


def test_the_chinese_edition_describes_every_figure_in_chinese(book_build):
    """Every image the English edition describes (a cell's figure or animation) is described in
    Chinese in the Chinese edition, from the page's catalog."""
    described = 0
    for page in toc_files():
        english = alt_texts(EDITIONS["English"] / f"{page}.html")
        chinese = alt_texts(EDITIONS["Chinese"] / f"{page}.html")
        assert len(chinese) == len(english), page
        untranslated = [alt for alt in chinese if not CJK.search(alt)]
        assert not untranslated, f"{page}: alt text left in English: {untranslated}"
        described += len(english)
    assert described >= 19, "too few alt texts found: is the pattern still right?"


def committed_notebooks() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "*.ipynb"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    names = (listed.stdout + untracked.stdout).split()
    return [ROOT / name for name in names]


def test_notebooks_are_committed_without_outputs():
    dirty = []
    for path in committed_notebooks():
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(path.relative_to(ROOT))
                break
    assert not dirty, f"notebooks with outputs (clear them before committing): {dirty}"
