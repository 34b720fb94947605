"""The Chinese edition translates every message of the English book, keeps its maths, code and
links, and says what it must: a change to an English sentence cannot land without its Chinese
counterpart."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"
CJK = re.compile(r"[\u4e00-\u9fff]")


def load_build():
    spec = importlib.util.spec_from_file_location("book_build_script", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


@pytest.fixture(scope="module")
def templates(book_build, tmp_path_factory):
    """The English book's messages as they are now, extracted from the chapters (gettext)."""
    folder = tmp_path_factory.mktemp("templates")
    assert build.extract_messages(folder) == 0, "extracting the English messages failed"
    return folder


def test_every_english_message_is_translated(templates):
    missing = build.missing_translations(templates)
    listing = "\n".join(
        f"  {page}: {len(ids)} messages, the first: {ids[0][:100]!r}"
        for page, ids in missing.items()
    )
    assert not missing, (
        "the Chinese edition leaves these English messages untranslated or fuzzy:\n"
        f"{listing}\nRun `make catalogs`, translate them in {CATALOGS.relative_to(ROOT)}/"
        "<page>.po (and clear each `#, fuzzy`), then `make book`."
    )


def test_every_page_has_a_catalog(templates):
    pages = {p.relative_to(templates).with_suffix("") for p in templates.rglob("*.pot")}
    catalogs = {p.relative_to(CATALOGS).with_suffix("") for p in CATALOGS.rglob("*.po")}
    assert len(pages) > 10 and pages == catalogs, (pages ^ catalogs, "run `make catalogs`")


def test_an_untranslated_or_fuzzy_message_is_found(templates, tmp_path):
    """The check above can fail: one message emptied and one marked fuzzy are both reported."""
    locales = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", locales)
    po = locales / "zh_CN/LC_MESSAGES/book/reinforce.po"
    catalog = build.catalog(po)
    emptied, fuzzy = [m for m in catalog if m.id][:2]
    emptied.string = ""
    fuzzy.flags.add("fuzzy")
    with po.open("wb") as file:
        write_po(file, catalog, width=100)
    missing = build.missing_translations(templates, locales)
    assert {emptied.id, fuzzy.id} <= set(missing["book/reinforce"]), missing


def test_translations_keep_maths_code_roles_and_links():
    changed = {po.name: build.changed_markup(po) for po in sorted(CATALOGS.rglob("*.po"))}
    changed = {name: lines for name, lines in changed.items() if lines}
    assert not changed, f"translations that change what must stay as it is: {changed}"


def test_a_changed_formula_is_found():
    english = (
        "The score is $\\nabla_\\theta \\log \\pi$, see {doc}`Theorem <policy_gradient_theorem>`."
    )
    kept = "得分是 $\\nabla_\\theta \\log \\pi$，见 {doc}`定理 <policy_gradient_theorem>`。"
    assert build.kept_parts(english) == build.kept_parts(kept)
    for broken in (kept.replace("\\log", "\\ln"), kept.replace("<policy_gradient_theorem>", "<x>")):
        assert build.kept_parts(english) != build.kept_parts(broken)


def english_words(message: str) -> list[str]:
    """The words of a message outside its maths, code and roles, and not TeX commands (a
    display equation is a message of its own, and stays as it is)."""
    return re.findall(r"(?<![\\\w{])[A-Za-z]{3,}", build.KEPT.sub("", message))


def test_translations_are_chinese():
    """Each page's prose is translated, not copied: most of its translated messages hold Chinese
    (a message that is only a name, a formula or code may be kept as it is)."""
    checked = 0
    for po in sorted(CATALOGS.rglob("*.po")):
        prose = [m for m in build.catalog(po) if len(english_words(m.id)) > 6]
        strings = [m.string for m in prose]
        chinese = sum(1 for s in strings if CJK.search(s))
        assert chinese >= 0.95 * len(strings), f"{po.name}: {chinese} of {len(strings)} in Chinese"
        checked += len(strings)
    assert checked > 300, f"only {checked} messages of prose found: is the filter still right?"


def test_the_glossary_is_bilingual():
    """English term, 中文术语, definition: each headword stays English (the book's {term} links
    point at it) and its definition opens with the Chinese term in bold."""
    messages = [m for m in build.catalog(CATALOGS / "book/glossary.po") if m.id][1:]
    headwords = [m for m in messages if len(m.id.split()) <= 4 and not m.id.endswith(".")]
    assert len(headwords) >= 15
    for headword, definition in zip(messages[::2], messages[1::2], strict=True):
        assert headword in headwords and definition not in headwords, (headword.id, definition.id)
        assert headword.string == headword.id, headword.id
        term = re.match(r"\*\*([^*]+)\*\*：", definition.string)
        assert term and CJK.search(definition.string), definition.string
        # The Chinese term, or an algorithm's name, which stays in Latin (REINFORCE).
        assert CJK.search(term[1]) or term[1] == headword.id, definition.string
