"""Execute the chapters that need it all at once, one per core, before Sphinx reads them.

myst-nb executes a chapter when Sphinx reads it, so a cold build runs the chapters one after
another on one core. Here, before reading, every chapter to be read whose code is not in the
execution cache runs in a pool of processes (the longest files first, so that they do not start
last), and each result is cached exactly as myst-nb caches it; myst-nb then finds every chapter
in the cache. A chapter that fails here is not cached: myst-nb runs it again and reports its
error as usual.
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import myst_nb_reader_plugin
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _execute(path: str, timeout: int, allow_errors: bool):
    """A chapter's notebook, executed in its own folder as myst-nb does, and its seconds."""
    notebook = myst_nb_reader_plugin(path)
    start = time.perf_counter()
    result = single_nb_execution(
        notebook,
        cwd=str(Path(path).parent),
        timeout=timeout,
        allow_errors=allow_errors,
        meta_override=True,
    )
    return notebook, time.perf_counter() - start, result.err is None


def _uncached_chapters(env, docnames) -> list[str]:
    cache = get_cache(env.mystnb_config.execution_cache_path)
    found = []
    for docname in docnames:
        path = Path(env.doc2path(docname))
        if path.suffix != ".md":
            continue
        notebook = myst_nb_reader_plugin(str(path))
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            found.append(str(path))
    return sorted(found, key=lambda p: -Path(p).stat().st_size)


def execute_in_parallel(app, env, docnames) -> None:
    config = env.mystnb_config  # myst-nb's settings, with the cache's path it resolved
    if config.execution_mode != "cache" or (os.cpu_count() or 1) < 2:
        return
    paths = _uncached_chapters(env, docnames)
    if len(paths) < 2:
        return  # nothing to run side by side: myst-nb runs it
    logger.info(f"executing {len(paths)} chapters, {os.cpu_count()} at a time")
    cache = get_cache(config.execution_cache_path)
    timeout, allow_errors = config.execution_timeout, config.execution_allow_errors
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        runs = {pool.submit(_execute, path, timeout, allow_errors): path for path in paths}
        for run in as_completed(runs):
            notebook, seconds, succeeded = run.result()
            if succeeded:
                bundle = CacheBundleIn(notebook, runs[run], data={"execution_seconds": seconds})
                cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            logger.info(f"executed {runs[run]} in {seconds:.0f} s")


def setup(app):
    app.connect("env-before-read-docs", execute_in_parallel)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
