"""The instructor's manual step, in Chromium: feedback and the formgrader run no learner script,
and an instructor grades a written answer in nbgrader's formgrader served by `make formgrade`.

A small class is graded in the sandbox: the score_function solution, whose written answer waits
for a grade and also carries scripts and event handlers, as do the outputs of a cell the learner
added; and a submission that forges its passes, which the judge flags.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from browser_support import launch_chromium, require_chromium, serve_directory
from nbgrader.api import Gradebook
from playwright.sync_api import expect, sync_playwright
from test_grading_hostile import SILENCE_ERRORS, cell_of, notebook, prepend

from pgcourse.grading import driver, formgrader, reports

REPO = Path(__file__).resolve().parents[1]
ANSWER = "dynamics_drop_out"  # the written answer of score_function, 2 points by hand
COMMENT = "Right: the dynamics do not depend on theta, so their gradient is zero."

# Each payload names itself in window.pwned, so a failure says which one ran.
HOSTILE_MARKDOWN = r"""Only the policy depends on $\theta$:
$\nabla_\theta \log P(\tau;\theta) = \sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)$,
for $0 < \gamma < 1$.

<script>window.pwned = "markdown script"; document.title = "pwned"</script>
<img src="missing.png" onerror="window.pwned = 'markdown onerror'">
<a href="javascript:window.pwned = 'markdown anchor'">anchor</a>
<iframe srcdoc="<script>parent.pwned = 'markdown iframe'</script>"></iframe>
<svg onload="window.pwned = 'markdown svg'"><script>window.pwned = 'svg script'</script></svg>

[a link](javascript:window.pwned='markdown link')
"""
HOSTILE_OUTPUTS = r"""from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<b>bold</b><img src="missing.png" onerror="window.pwned = \'html onerror\'">'
             '<script>window.pwned = "html script"</script>'))
display(Javascript('window.pwned = "javascript output"'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned = \'svg onload\'">'
            '<script>window.pwned = "svg output script"</script><circle r="5"/></svg>'))
display(Markdown('<script>window.pwned = "markdown output"</script>**strong**'))
display({"text/html": '<iframe srcdoc="<script>parent.pwned = \'html iframe\'</script>">'
                      '</iframe>'}, raw=True)
display({"text/html": '<p onmouseover="window.pwned = \'isolated\'">isolated</p>'}, raw=True,
        metadata={"text/html": {"isolated": True}})
"""


def hostile() -> str:
    """The solution, with a hostile written answer and a cell of hostile outputs added."""
    nb = notebook("score_function")
    cell_of(nb, ANSWER).source = HOSTILE_MARKDOWN
    after = nb.cells.index(cell_of(nb, "log_prob")) + 1
    nb.cells.insert(after, nbformat.v4.new_code_cell(HOSTILE_OUTPUTS))
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    submissions = {
        "hostile": hostile(),
        "silences": prepend(notebook("score_function", "exercises"), {"log_prob": SILENCE_ERRORS}),
    }
    for student, text in submissions.items():
        driver.submit(course, student, "score_function", text)
    outcomes = driver.autograde(course, jobs=2)
    assert all(o.ok for o in outcomes), [str(o) for o in outcomes]
    assert [o.ok for o in driver.feedback(course, student="hostile")] == [True]
    return course


# --- Chromium, offline ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    with sync_playwright() as playwright:
        context = launch_chromium(playwright)
        context.set_default_timeout(60_000)  # generous: the formgrader shares a busy machine
        expect.set_options(timeout=60_000)
        local = "http://127.0.0.1"
        context.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith(local) else r.abort()
        )
        yield context
        context.close()


# nbconvert's pages load MathJax 2 from a CDN, configured for $...$; offline, a page gets the
# MathJax 3 the book uses, told the same delimiters.
MATHJAX_CONFIG = "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}};\n"
MATHJAX_URL = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/**"


def with_offline_mathjax(page) -> None:
    package = importlib.metadata.distribution("sphinx-mathjax-offline")
    path = package.locate_file("sphinx-mathjax-offline/static/mathjax/tex-chtml.js")
    script = MATHJAX_CONFIG + Path(path).read_text()
    page.route(MATHJAX_URL, lambda r: r.fulfill(body=script, content_type="text/javascript"))


# What a loaded page's learner content did: the marker a payload sets, the title, and what is in
# the notebook's container (both templates put the cells in #notebook-container).
PAGE_STATE_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await new Promise((resolve) => setTimeout(resolve, 500));  // events that fire after load
  const cells = document.querySelector("#notebook-container");
  const elements = [...cells.querySelectorAll("*")];
  return {
    pwned: window.pwned === undefined ? null : String(window.pwned),
    title: document.title,
    scripts: elements.filter((e) => e.tagName === "SCRIPT").length,
    frames: elements.filter((e) => ["IFRAME", "OBJECT", "EMBED", "svg"].includes(e.tagName))
      .length,
    handlers: elements.flatMap((e) => e.getAttributeNames().filter((n) => n.startsWith("on"))),
    javascriptLinks: elements.filter((e) => /^\\s*javascript:/i.test(e.getAttribute("href") || ""))
      .length,
    typesetMaths: cells.querySelectorAll(".text_cell_render mjx-container").length,
  };
}
"""


def assert_inert(state: dict, title: str) -> None:
    assert state["pwned"] is None, f"a learner's script ran: {state['pwned']}"
    assert state["title"] == title
    assert state["scripts"] == state["frames"] == state["javascriptLinks"] == 0, state
    assert state["handlers"] == [], state


class Markup(HTMLParser):
    """Every tag of a page with its attributes, and the text of its scripts."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if self.lasttag == "script":
            self.scripts.append(data)


def test_the_feedback_page_runs_no_learner_script_and_shows_the_maths(course, chromium):
    path = course.root / "feedback/hostile/score_function/score_function.html"
    markup = Markup(path.read_text())
    handlers = [(tag, name) for tag, attrs in markup.tags for name in attrs if name[:2] == "on"]
    assert handlers == []
    assert not any("pwned" in script for script in markup.scripts)
    assert {tag for tag, _ in markup.tags}.isdisjoint({"iframe", "svg", "object", "embed"})
    assert not any(
        (value or "").strip().lower().startswith("javascript:")
        for _, attrs in markup.tags
        for value in attrs.values()
    )
    with serve_directory(course.root / "feedback") as base:
        page = chromium.new_page()
        with_offline_mathjax(page)
        page.goto(f"{base}hostile/score_function/score_function.html")
        state = page.evaluate(PAGE_STATE_JS)
        page.close()
    assert_inert(state, "score_function")
    assert state["typesetMaths"] >= 3, state  # the learner's $...$ survived, and is typeset


# --- nbgrader's formgrader, as `make formgrade` starts it --------------------------------------


@pytest.fixture(scope="module")
def server(course, tmp_path_factory):
    """The formgrader of the class, on a free loopback port; always stopped afterwards."""
    port = formgrader.free_port()
    options = ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root
    log = tmp_path_factory.mktemp("formgrader") / "server.log"
    command = [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "formgrade", "--port", str(port), "--", *options],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = wait_for_url(log, process)
        token = url.split("token=")[1]
        wait_until_up(f"http://127.0.0.1:{port}/api/status", token, process, log)
        yield {"url": url, "base": f"http://127.0.0.1:{port}", "port": port, "log": log}
    finally:
        stop(process)


def wait_for_url(log: Path, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"The formgrader is at (\S+)", log.read_text())
        if found:
            return found[1]
        assert process.poll() is None, f"formgrade exited:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"formgrade printed no address:\n{log.read_text()[-3000:]}")


def wait_until_up(url: str, token: str, process: subprocess.Popen, log: Path) -> None:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError(f"the formgrader did not answer within 90 s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_make_formgrade_serves_loopback_only_without_an_exchange_warning(server, chromium):
    assert server["url"].startswith(f"http://127.0.0.1:{server['port']}/formgrader?token=")
    assert listening_addresses(server["port"]) == {"0100007F"}  # 127.0.0.1 and nothing else
    page = chromium.new_page()
    page.goto(server["url"])
    page.wait_for_url("**/formgrader/manage_assignments")
    expect(page.get_by_text("score_function").first).to_be_visible()
    assert page.locator("#warning-exchange").count() == 0
    assert "exchange directory" not in page.content()
    page.close()
    assert "exchange" not in server["log"].read_text().lower()


def submission_page(course: driver.Course, server: dict, student: str) -> str:
    with Gradebook(course.db_url) as gradebook:
        submitted = gradebook.find_submission_notebook("score_function", "score_function", student)
        return f"{server['base']}/formgrader/submissions/{submitted.id}/"


def test_the_formgrader_runs_no_learner_script(course, server, chromium):
    page = chromium.new_page()
    page.goto(server["url"])  # the token, once, as the instructor opens the printed address
    page.goto(submission_page(course, server, "hostile"))
    page.wait_for_load_state("networkidle")
    state = page.evaluate(PAGE_STATE_JS)
    page.close()
    assert_inert(state, "score_function")


def open_submissions(page, server: dict) -> None:
    """From the printed address to the list of score_function's submissions, names shown."""
    page.goto(server["url"])
    page.get_by_role("link", name="Manual Grading").click()
    page.get_by_role("link", name="score_function", exact=True).click()
    page.wait_for_url("**/gradebook/score_function")
    page.get_by_role("link", name="score_function", exact=True).click()
    page.wait_for_url("**/gradebook/score_function/score_function")
    expect(page.get_by_role("link", name="Submission #1")).to_be_visible()  # the list loaded
    page.get_by_role("button", name="Show All Names").click()


def row_of(page, student: str):
    return page.locator("tr", has=page.get_by_role("link", name=student, exact=True))


def open_submission(page, student: str) -> None:
    """Open a student's submission from the list, once its grades and comments are loaded."""
    row_of(page, student).get_by_role("link", name=student).click()
    page.wait_for_url("**/formgrader/submissions/**")
    page.wait_for_load_state("networkidle")


def test_an_instructor_grades_the_written_answer(course, server, chromium, tmp_path):
    page = chromium.new_page()
    open_submissions(page, server)
    expect(row_of(page, "hostile").locator(".needs-manual-grade .glyphicon-ok")).to_have_count(1)
    open_submission(page, "hostile")

    def saved(kind: str):
        return page.expect_response(
            lambda r: f"/formgrader/api/{kind}/" in r.url and r.request.method == "PUT"
        )

    with saved("grade") as grade:
        page.locator(f"input#{ANSWER}").fill("2")
        page.keyboard.press("Tab")
    assert grade.value.ok
    with saved("comment") as comment:
        page.locator(f"textarea#{ANSWER}-comment").fill(COMMENT)
        page.keyboard.press("Tab")
    assert comment.value.ok
    page.close()

    with driver.grades(course, tmp_path / "grades.csv").open() as file:
        long = {row["student_id"]: row for row in csv.DictReader(file)}
    assert float(long["hostile"]["score"]) == 20
    with reports.write_wide(course, tmp_path / "wide.csv").open() as file:
        wide = {row["SIS Login ID"]: row for row in csv.DictReader(file)}
    assert wide["hostile"]["score_function"] == wide["hostile"]["Final Points"] == "20"

    assert [o.ok for o in driver.feedback(course, student="hostile")] == [True]
    html = (course.root / "feedback/hostile/score_function/score_function.html").read_text()
    assert COMMENT in html
    assert "Written response</a> (Score: 2.0 / 2.0)" in html


def test_a_submission_the_judge_flagged_is_flagged_in_the_formgrader(course, server, chromium):
    page = chromium.new_page()
    open_submissions(page, server)
    expect(row_of(page, "silences").locator(".flagged .glyphicon-flag")).to_have_count(1)
    expect(row_of(page, "hostile").locator(".flagged .glyphicon-flag")).to_have_count(0)
    open_submission(page, "silences")
    flagged = json.loads(
        (course.autograded / "silences/score_function" / driver.VERDICT_FILE).read_text()
    )["tampering_suspected"]
    assert "test_log_prob" in flagged
    # The flagged test cell says why, under its code, where the instructor grades.
    test_cell = page.locator(".cell", has=page.locator("code", has_text="test_log_prob"))
    assert "tampering suspected" in test_cell.first.inner_text()
    page.close()
