"""Plumbing for the browser tests: the pages the table of contents lists, a loopback server for
the built book, headless Chromium, and the script that reads what a loaded page shows."""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

# Debian's package; Playwright drives it instead of downloading a browser build of its own.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def toc_pages(root: Path) -> list[str]:
    """Every page ``_toc.yml`` lists, without suffix, in reading order (parts and sections too)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [str(Path(toc["root"]).with_suffix(""))]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            for key in ("chapters", "sections"):
                walk(entry.get(key, []))

    for key in ("parts", "chapters", "sections"):
        walk(toc.get(key, []))
    return pages


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one access-log line per request."""


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free loopback port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def require_chromium() -> None:
    """Skip when Chromium is missing on a developer's machine; fail in CI, which installs it."""
    if CHROMIUM.is_file():
        return
    message = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def launch_chromium(playwright):
    """Headless Chromium with a fresh profile, so no cache or stored setting leaks in."""
    return playwright.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="pgcourse-chromium-"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )


# Runs in the page once it has loaded: waits for MathJax and the images, then reports what a
# reader would see. Rendered maths, code and hidden elements are left out of the visible text.
PAGE_FACTS_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));

  const skip = "pre, code, kbd, samp, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const visibleText = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip) && parent.checkVisibility()) {
      visibleText.push(walker.currentNode.textContent);
    }
  }

  const maths = [...document.querySelectorAll(".math")];
  const figures = [...document.querySelectorAll(".cell_output img")]
    .filter((img) => !img.closest(".animation"))
    .map((img) => ({
      src: img.getAttribute("src") || "",
      alt: (img.getAttribute("alt") || "").trim(),
      loaded: img.complete && img.naturalWidth > 0,
    }));

  const animations = [];
  for (const shown of document.querySelectorAll(".animation img[id^='_anim_img']")) {
    const player = window["anim" + shown.id.slice("_anim_img".length)];
    const frames = player ? player.frames : [];
    await Promise.all(frames.map((frame) => frame.decode().catch(() => null)));
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    const broken = [], blank = [];
    frames.forEach((frame, i) => {
      if (!(frame.naturalWidth > 0)) { broken.push(i); return; }
      canvas.width = frame.naturalWidth;
      canvas.height = frame.naturalHeight;
      context.drawImage(frame, 0, 0);
      const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
      const pixels = new Uint32Array(rgba.buffer);
      if (pixels.every((pixel) => pixel === pixels[0])) blank.push(i);
    });
    animations.push({ id: shown.id, player: !!player, frames: frames.length, broken, blank });
  }

  return {
    visibleText,
    mathElements: maths.length,
    untypesetMaths: maths.filter((m) => !m.querySelector("mjx-container"))
      .map((m) => m.textContent.trim().slice(0, 80)),
    mathjaxContainers: document.querySelectorAll("mjx-container").length,
    mathjaxErrors: [...document.querySelectorAll(
      "mjx-merror, mjx-assistive-mml merror, mjx-assistive-mml mtext[mathcolor='red']"
    )].map((e) => e.textContent.trim().slice(0, 80)),
    figures,
    animations,
    editionSwitch: document.querySelector("a.edition-switch")?.href || null,
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
  };
}
"""
