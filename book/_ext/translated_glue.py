"""Glued numbers in translated text.

Sphinx translates a paragraph by parsing its translation as a small document of its own, and
myst-nb's glue roles look their key up in that document's notebook, which holds no glued values:
every glued number in the Chinese edition would fail with "No key ... found in glue data". While
Sphinx translates a page (its Locale transform), the page has been parsed and myst-nb has saved
the page's glued values beside its executed notebook; a key a translated fragment does not find
is looked up there, so both editions show the same numbers. Outside a translation nothing
changes: a key missing from the English page is still an error. The book's prose glues with
{glue:text} only, which needs no notebook renderer (a translated fragment has none).
"""

import json
from pathlib import Path

import myst_nb.ext.glue.roles
from myst_nb.core.variables import RetrievalError, VariableOutput
from myst_nb.ext.glue import utils
from sphinx.transforms.i18n import Locale

_translating = False
_locale_apply = Locale.apply


def apply_while_translating(self, **kwargs) -> None:
    global _translating
    _translating = True
    try:
        _locale_apply(self, **kwargs)
    finally:
        _translating = False


def saved_glue(env) -> dict:
    """The glued values of the page being read, as myst-nb saved them after parsing it."""
    *folders, name = env.docname.split("/")
    path = Path(env.mystnb_config.output_folder, *folders, f"{name}.glue.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def retrieve_glue_data(document, key: str) -> VariableOutput:
    try:
        return utils.retrieve_glue_data(document, key)
    except RetrievalError:
        saved = saved_glue(document.settings.env) if _translating else {}
        if key not in saved:
            raise
        value = saved[key]
        return VariableOutput(
            data=value["data"],
            metadata=value.get("metadata", {}),
            nb_renderer=document.get("nb_renderer"),  # {glue:text} renders the text itself
            vtype="glue",
        )


def setup(app):
    Locale.apply = apply_while_translating
    myst_nb.ext.glue.roles.retrieve_glue_data = retrieve_glue_data
    return {"parallel_read_safe": True, "parallel_write_safe": True}
