"""Build the book's two editions, or update the Chinese edition's catalogs.

    python book/build.py            # English into _build/html, Chinese into _build/html/zh
    python book/build.py catalogs   # the English messages into locales/zh_CN/LC_MESSAGES
    python book/build.py check      # what the catalogs still leave untranslated or changed

Both editions are read from the same chapters and share one execution cache, so a chapter's
cells run once per change, not once per edition, and the code, its outputs and every glued number
are the same in both. The Chinese text comes from the catalogs (Sphinx's gettext). Jupyter Book's
command line cannot set Sphinx's ``language``; this calls the function it calls, with the
edition's settings added.
"""

import argparse
import re
import shutil
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jupyter_book.sphinx import build_sphinx
from sphinx_intl.basic import update

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
LOCALES = ROOT / "locales"
CHINESE = "zh_CN"

# Each edition: where Sphinx builds it, where it is published, and its settings over _config.yml.
# Both are built in folders of _build itself, where myst-nb keeps one execution cache and one
# folder of cell outputs for both; the Chinese edition is then copied into the English one's.
EDITIONS = {
    "English": (BUILD / "html", BUILD / "html", {}),
    "Chinese": (
        BUILD / "zh",
        BUILD / "html" / "zh",
        {"language": CHINESE, "html_title": "动手学策略梯度"},
    ),
}


def sphinx(builder: str, output: Path, settings: dict) -> int:
    """One strict Sphinx build of the book (jupyter-book build's -W -n --keep-going)."""
    result = build_sphinx(
        ROOT,
        output,
        noconfig=True,
        path_config=ROOT / "_config.yml",
        confoverrides={
            "external_toc_path": str(ROOT / "_toc.yml"),
            "latex_individualpages": False,
            "nitpicky": True,
            # myst-nb keeps its cache beside the output folder unless told: one cache for every
            # build, wherever its output goes (the catalogs' templates may go anywhere).
            "nb_execution_cache_path": str(BUILD / ".jupyter_cache"),
            **settings,
        },
        doctreedir=BUILD / f".doctrees-{output.name}",
        builder=builder,
        warningiserror=True,
        keep_going=True,
    )
    return result if isinstance(result, int) else 1


def build_editions() -> int:
    failed = []
    for name, (built, published, settings) in EDITIONS.items():
        if sphinx("html", built, settings) != 0:
            failed.append(name)
        if published != built:
            shutil.rmtree(published, ignore_errors=True)
            shutil.copytree(built, published, ignore=shutil.ignore_patterns(".buildinfo"))
    for name, (_, published, _) in EDITIONS.items():
        print(f"The {name} edition is at {published / 'index.html'}")
    if failed:
        print(f"The build of the {' and '.join(failed)} edition failed: see the warnings above.")
    return 1 if failed else 0


def extract_messages(templates: Path) -> int:
    """The English book's messages, one template (.pot) per page, into ``templates``."""
    return sphinx("gettext", templates, {})


def catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def missing_translations(templates: Path, locales: Path = LOCALES) -> dict[str, list[str]]:
    """Each page's English messages that its Chinese catalog leaves untranslated: absent, empty
    or fuzzy (a message sphinx-intl matched to a changed English sentence)."""
    missing = {}
    for template in sorted(templates.rglob("*.pot")):
        page = template.relative_to(templates).with_suffix("")
        po = locales / CHINESE / "LC_MESSAGES" / page.with_suffix(".po")
        translated = (
            {m.id for m in catalog(po) if m.string and not m.fuzzy} if po.is_file() else set()
        )
        gaps = [m.id for m in catalog(template) if m.id and m.id not in translated]
        if gaps:
            missing[page.as_posix()] = gaps
    return missing


# What a translation must carry over unchanged: maths, inline code, each role with its target
# (a {doc}, {download} or link text may be translated, the target may not), and link targets.
KEPT = re.compile(
    r"\$\$.+?\$\$|\$[^$]+\$"  # maths
    r"|\{(?P<role>[\w:-]+)\}`(?:[^`<]*<(?P<target>[^>`]+)>|(?P<content>[^`]*))`"  # roles
    r"|`[^`]+`"  # inline code
    r"|\]\((?P<link>[^)]+)\)",  # a Markdown link's target
    re.DOTALL,
)


def kept_parts(text: str) -> set[str]:
    """The parts of a message that its translation must keep as they are. A set: a sentence
    may name a symbol once in one language and twice in the other."""
    parts = []
    for match in KEPT.finditer(text):
        if match["role"]:
            parts.append(f"{{{match['role']}}} {match['target'] or match['content']}")
        elif match["link"]:
            parts.append(f"link {match['link']}")
        else:
            parts.append(match[0])
    return set(parts)


def changed_markup(po: Path) -> list[str]:
    """The translated messages of a catalog that lose or change maths, code, roles or links."""
    changed = []
    for message in catalog(po):
        if message.id and message.string and kept_parts(message.id) != kept_parts(message.string):
            differing = kept_parts(message.id) ^ kept_parts(message.string)
            changed.append(f"{message.id[:60]!r}: differs in {sorted(differing)}")
    return changed


def update_catalogs() -> int:
    """Extract the English messages and merge them into the Chinese catalogs. A new English
    message arrives untranslated, a changed one fuzzy; both show in the Chinese edition in
    English until translated, and the list printed here (and the test of the catalogs) says
    which."""
    templates = BUILD / "gettext"
    if extract_messages(templates) != 0:
        return 1
    update(str(LOCALES), str(templates), [CHINESE], line_width=100)
    missing = missing_translations(templates)
    for page, messages in missing.items():
        print(f"{page}: {len(messages)} messages to translate")
    return 0


def check_catalogs() -> int:
    """For translators: each catalog's untranslated or fuzzy messages and changed markup."""
    trouble = 0
    for po in sorted(LOCALES.rglob("*.po")):
        open_messages = [m for m in catalog(po) if m.id and (not m.string or m.fuzzy)]
        changed = changed_markup(po)
        print(f"{po.relative_to(ROOT)}: {len(open_messages)} to translate, {len(changed)} changed")
        for line in changed:
            print(f"  {line}")
        trouble += len(open_messages) + len(changed)
    return 1 if trouble else 0


COMMANDS = {"book": build_editions, "catalogs": update_catalogs, "check": check_catalogs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=list(COMMANDS), default="book")
    return COMMANDS[parser.parse_args().what]()


if __name__ == "__main__":
    sys.exit(main())
