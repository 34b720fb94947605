"""In Jupyter: `make lab` serves the exercises with the course's kernel, and training progress is
live while a cell runs but leaves only its summary in an executed notebook (as in the book)."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
UPDATES = 40


class RecordingClient(NotebookClient):
    """Executes a notebook like the book build does, counting in-place display updates."""

    display_updates = 0

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "update_display_data":
            self.display_updates += 1
        return super().process_message(msg, cell, cell_index)


def test_progress_leaves_only_its_summary_in_an_executed_notebook():
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "from pgcourse import Progress\n"
            f"progress = Progress(total={UPDATES}, unit='update', min_interval=0)\n"
            f"for i in range({UPDATES}):\n"
            "    progress.update(i + 1, mean_return=2.0 * i)\n"
            "progress.close(greedy_mean=500.0)\n"
        )
    )
    client = RecordingClient(
        notebook, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()

    # While the cell ran, one display was rewritten at every update and once more to close.
    assert client.display_updates == UPDATES + 1
    outputs = notebook.cells[0].outputs
    assert len(outputs) == 1, f"expected one output, got {outputs}"
    summary = outputs[0]["data"]["text/plain"]
    assert summary.startswith(f"done: update {UPDATES}/{UPDATES} | greedy mean 500.0 | ")
    assert summary.endswith(" s") and "\n" not in summary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def wait_for_server(url: str, token: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"make lab exited:\n{log.read_text()[-3000:]}"
        try:
            get(url, token)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-3000:]}")


def test_make_lab_opens_the_exercises_with_the_course_kernel(tmp_path):
    # A learner's own python3 kernel, pointing at another python, must not be the one used.
    decoy = tmp_path / "home/.local/share/jupyter/kernels/python3"
    decoy.mkdir(parents=True)
    (decoy / "kernel.json").write_text(
        json.dumps({"argv": ["/usr/bin/false", "{connection_file}"], "display_name": "decoy"})
    )
    port, token = free_port(), secrets.token_hex(16)
    options = f"--no-browser --port={port} --IdentityProvider.token={token}"
    if os.geteuid() == 0:
        options += " --allow-root"  # CI runs as root, which Jupyter refuses without this
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    env.pop("JUPYTER_PATH", None)
    log = tmp_path / "lab.log"
    with log.open("w") as output:
        # -o: the environment is already installed; do not reinstall it from a test.
        process = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "-o",
                ".venv/.installed",
                "lab",
                f"LAB_OPTIONS={options}",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status", token, process, log)
        kernels = get(f"{base}/api/kernelspecs", token)
        python3 = kernels["kernelspecs"]["python3"]["spec"]
        assert Path(python3["argv"][0]) == Path(sys.prefix) / "bin/python", python3["argv"]
        names = {item["name"] for item in get(f"{base}/api/contents", token)["content"]}
        assert {"exercises", "book"} <= names
        # The lab opens on the exercises folder.
        opener = urllib.request.build_opener(NoRedirect())
        request = urllib.request.Request(f"{base}/", headers={"Authorization": f"token {token}"})
        try:
            location = opener.open(request, timeout=5).headers["Location"]
        except urllib.error.HTTPError as redirect:
            location = redirect.headers["Location"]
        assert urllib.parse.urlsplit(location).path == "/lab/tree/exercises", location
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
