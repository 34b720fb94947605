"""The grading sandbox shows only what it allows, reaches nothing else, and bounds what it uses.

Each test runs an attack as learners' code would, through ``Sandbox.command``: a short
``python -c`` in the sandbox that reports what it got as one JSON line. The last one grades a
blank submission that goes for the solutions, through nbgrader and the judge.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from pgcourse.grading import driver, sandbox
from pgcourse.grading.sandbox import MIB, Limits, Sandbox, python

REPO = Path(__file__).resolve().parents[1]
SECRET = "pgcourse-sandbox-test-secret"
REAL_TRAINING = "training loop that chapters 5 and 6 walk through"  # training.py's docstring
STAND_IN = "not available to graded exercises"  # training_stand_in.py's message


def run(box: Sandbox, code: str, workdir: Path) -> dict:
    """What ``code``, run in ``box`` in ``workdir``, reported as its last line of output."""
    argv = [python(), "-c", textwrap.dedent(code)]
    result = subprocess.run(box.command(argv, workdir), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def folder_in(base: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def make_course(root: Path) -> Path:
    """A course in git with solutions, a book, a gradebook and its own copy of pgcourse."""
    for name in ("solutions/a/a.ipynb", "book/intro.md", "gradebook.db", "feedback/x.html"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{name}: {SECRET}\n")
    shutil.copytree(sandbox.PACKAGE, root / "pgcourse", ignore=shutil.ignore_patterns("__*__"))
    (root / "pgcourse" / "course_marker.py").write_text("COURSE = True\n")
    # Compiled by an earlier run of the course's code: the real training.py, as bytecode.
    subprocess.run([sys.executable, "-m", "py_compile", root / "pgcourse/training.py"], check=True)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "course"], check=True)
    return root


@pytest.fixture(params=["home", "tmp", "srv"])
def course(request) -> Iterator[Path]:
    """A course inside the home folder, inside /tmp, or elsewhere."""
    base = {"home": Path.home(), "tmp": Path("/tmp"), "srv": Path("/srv")}[request.param]
    root = folder_in(base, "pgcourse-course-")
    yield make_course(root)
    shutil.rmtree(root)


# Reads what an attacker would try, for `course` and the editable install's repository.
READ_ANSWERS = """
import glob, importlib, importlib.util, json, os, pathlib, site, subprocess, sys
course = pathlib.Path({course!r})
finders = site.getsitepackages()[0] + "/__editable___pgcourse_*_finder.py"
finder = pathlib.Path(glob.glob(finders)[0])
editable = importlib.import_module(finder.stem)
repo = pathlib.Path(editable.MAPPING["pgcourse"]).parent
report = {{"finder": finder.name}}
answers = (course, course / ".git", course / "solutions")
report["course visible"] = [str(path) for path in answers if path.exists()]
report["repo visible"] = sorted(os.listdir(repo))
git = ["git", "-c", "safe.directory=*", "-C"]
report["course git"] = subprocess.run([*git, course, "log"], capture_output=True).returncode == 0
report["repo git"] = subprocess.run([*git, repo, "log"], capture_output=True).returncode == 0
import pgcourse, pgcourse.training
report["package"] = str(pathlib.Path(pgcourse.__file__).parent)
report["course's package"] = importlib.util.find_spec("pgcourse.course_marker") is not None
report["training"] = pathlib.Path(pgcourse.training.__file__).read_text()
spec = editable._EditableFinder.find_spec("pgcourse.training", None)
report["training by the finder"] = pathlib.Path(spec.origin).read_text()
files = pathlib.Path(pgcourse.__file__).parent.rglob("*")
report["package files"] = "".join(p.read_bytes().decode("latin-1") for p in files if p.is_file())
print(json.dumps(report))
"""


def check_answers_unreachable(report: dict) -> None:
    assert report["finder"].startswith("__editable___pgcourse_"), "not an editable install"
    assert report["course visible"] == []
    assert not report["course git"] and not report["repo git"]
    shown = {folder.name for folder in sandbox.interpreter_folders() if folder.parent == REPO}
    assert set(report["repo visible"]) <= {"pgcourse", *shown}, report["repo visible"]
    assert report["package"] == str(sandbox.installed_packages()[0])
    for text in (report["training"], report["training by the finder"]):
        assert STAND_IN in text and REAL_TRAINING not in text
    assert REAL_TRAINING not in report["package files"]  # nor compiled in __pycache__


def test_a_course_shows_nothing_but_its_package(course, workdir):
    box = Sandbox.for_course(course, workdir, True, Limits())
    report = run(box, READ_ANSWERS.format(course=str(course)), workdir)
    check_answers_unreachable(report)
    assert report["course's package"]


@pytest.mark.parametrize("where", ["another checkout", "the root folder"])
def test_a_grader_started_elsewhere_shows_the_installed_package(where, tmp_path, workdir):
    """Started from a folder that holds another pgcourse, the grader imports that one itself;
    the sandbox still shows the installed one to a course without its own."""
    elsewhere = make_course(tmp_path / "checkout") if where == "another checkout" else Path("/")
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    code = READ_ANSWERS.format(course=str(course))
    build = (
        "import json, sys; from pathlib import Path; from pgcourse.grading import sandbox; "
        "box = sandbox.Sandbox.for_course(Path(sys.argv[1]), Path(sys.argv[2]), True, "
        "sandbox.Limits()); print(json.dumps([str(sandbox.PACKAGE), "
        "box.command(sys.argv[3:], Path(sys.argv[2]))]))"
    )
    built = subprocess.run(
        [sys.executable, "-c", build, course, workdir, python(), "-c", code],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    graders_package, command = json.loads(built.stdout)
    if where == "another checkout":
        assert graders_package == str(elsewhere / "pgcourse")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    check_answers_unreachable(report)
    assert not report["course's package"]


def listening(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)  # anyone may connect: only the sandbox can stop it
    server.listen()
    return server


def test_no_unix_socket_of_the_machine_can_be_reached(tmp_path, workdir):
    folders = [folder_in(Path("/srv"), "pgcourse-sockets-"), folder_in(Path("/run"), "pgcourse-")]
    user_bus = Path(f"/run/user/{os.getuid()}/pgcourse-test-bus")
    made = [folder for folder in (user_bus.parent.parent, user_bus.parent) if not folder.exists()]
    paths = [folders[0] / "agent.sock", folders[1] / "system_bus_socket", user_bus]
    servers = [listening(path) for path in paths]
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0pgcourse-test-{os.getpid()}")
    abstract.listen()
    addresses = [*map(str, paths), f"/var/run/{folders[1].name}/system_bus_socket"]
    code = f"""
    import json, socket, subprocess
    def connect(address):
        try:
            socket.socket(socket.AF_UNIX).connect(address)
            return "connected"
        except OSError as err:
            return type(err).__name__
    report = {{address: connect(address) for address in {addresses!r}}}
    report["abstract"] = connect("\\0pgcourse-test-{os.getpid()}")
    found = subprocess.run(
        ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")",
         "-prune", "-o", "-type", "s", "-print"], capture_output=True, text=True)
    report["visible sockets"] = found.stdout.split()
    print(json.dumps(report))
    """
    try:
        report = run(Sandbox(), code, workdir)
    finally:
        for server in (*servers, abstract):
            server.close()
        user_bus.unlink()
        for folder in reversed(made):
            folder.rmdir()
        for folder in folders:
            shutil.rmtree(folder)
    assert report.pop("visible sockets") == []
    assert "connected" not in report.values(), report


def test_tmpdir_and_other_submissions_are_unseen(tmp_path):
    """On a cluster $TMPDIR is often not /tmp: each submission's scratch folder is in it."""
    tmpdir = folder_in(Path("/srv"), "pgcourse-tmpdir-")
    try:
        other, mine = tmpdir / "pgcourse-grading-bob", tmpdir / "pgcourse-grading-alice"
        for folder in (other / "submitted/bob/a", other / "runtime", mine / "submitted/alice/a"):
            folder.mkdir(parents=True)
            (folder / "secret.txt").write_text(SECRET)
        workdir, runtime = mine / "worker-1", mine / "runtime"
        workdir.mkdir(), runtime.mkdir()
        box = Sandbox.for_course(tmp_path, mine, True, Limits())
        code = f"""
        import json, os
        seen = [os.path.join(root, name) for root, _, names in os.walk({str(tmpdir)!r})
                for name in names if {SECRET!r} in open(os.path.join(root, name)).read()]
        print(json.dumps({{"seen": seen, "folders": sorted(os.listdir({str(mine)!r}))}}))
        """
        argv = [python(), "-c", textwrap.dedent(code)]
        result = subprocess.run(
            box.command(argv, workdir, writable=(runtime,)),
            capture_output=True,
            text=True,
            env=dict(os.environ, TMPDIR=str(tmpdir)),
        )
        report = json.loads(result.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(tmpdir)
    assert report == {"seen": [], "folders": ["runtime", "worker-1"]}


def test_the_graders_environment_and_command_lines_stay_outside(workdir):
    code = f"""
    import glob, json, os
    secret = {SECRET[::-1]!r}[::-1]  # not spelt out: this command line is seen too
    found = []
    for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
        try:
            if secret in open(path, errors="replace").read():
                found.append(path)
        except OSError:
            pass
    print(json.dumps({{"found": found, "environment": secret in str(os.environ)}}))
    """
    argv = [python(), "-c", textwrap.dedent(code)]
    # A grader whose environment holds a password and whose command line holds a token.
    parent = [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[2:])"]
    result = subprocess.run(
        [*parent, f"--token={SECRET}", *Sandbox().command(argv, workdir)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PGCOURSE_DB_PASSWORD=SECRET),
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"found": [], "environment": False}


def test_memory_file_systems_are_bounded(workdir):
    limit = 8 * MIB
    code = """
    import json, os, subprocess
    written, error = 0, None
    try:
        with open("/dev/shm/fill", "wb") as file:
            for _ in range(32):
                file.write(bytes(2**20))
                file.flush()
                written += 2**20
    except OSError as err:
        error = err.strerror
    def sizes():  # every tmpfs: (where, read-only, size)
        for line in open("/proc/self/mountinfo"):
            fields, _, rest = line.partition(" - ")
            kind, _, options = rest.split()
            if kind == "tmpfs":
                size = [o.split("=")[1] for o in options.split(",") if o.startswith("size=")]
                yield fields.split()[4], "ro" in fields.split()[5].split(","), size
    own = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                         capture_output=True, text=True)
    print(json.dumps({"written": written, "error": error, "tmpfs": list(sizes()),
                      "own namespace": own.returncode}))
    """
    report = run(Sandbox(limits=Limits(shm_bytes=limit)), code, workdir)
    assert report["written"] <= limit and report["error"] == "No space left on device", report
    writable = [(where, size) for where, read_only, size in report["tmpfs"] if not read_only]
    assert writable == [("/dev/shm", [f"{limit // 1024}k"])], report["tmpfs"]
    assert report["own namespace"] != 0  # where it could mount a tmpfs without a limit


def test_a_fork_bomb_is_stopped_without_stopping_another_sandbox(tmp_path):
    box = Sandbox(limits=Limits(processes=30))
    spawn = """
    import json, subprocess, sys, time
    children = []
    try:
        for _ in range({count}):
            children.append(subprocess.Popen(["sleep", "60"]))
    except OSError as err:
        print(json.dumps({{"started": len(children), "error": type(err).__name__}}), flush=True)
    else:
        print(json.dumps({{"started": len(children), "error": None}}), flush=True)
    time.sleep({hold})
    """
    (tmp_path / "bomb").mkdir(), (tmp_path / "other").mkdir()
    bomb = subprocess.Popen(
        box.command(
            [python(), "-c", textwrap.dedent(spawn.format(count=300, hold=60))], tmp_path / "bomb"
        ),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = json.loads(bomb.stdout.readline())
        # Meanwhile another submission, as the same user, still starts what it needs.
        second = run(box, spawn.format(count=20, hold=0), tmp_path / "other")
    finally:
        os.killpg(bomb.pid, 9)
        bomb.wait()
    assert first["error"] == "BlockingIOError" and first["started"] < 30, first
    assert second == {"started": 20, "error": None}


def test_the_view_cannot_be_made_writable(workdir):
    prefix = Path(sys.prefix).resolve()
    code = f"""
    import json, os, subprocess
    remount = [subprocess.run(["mount", "-o", "remount,bind,rw", path]).returncode
               for path in ("/", {str(prefix)!r})]
    try:
        open({str(prefix / "pgcourse-probe")!r}, "w").close()
        wrote = True
    except OSError:
        wrote = False
    capabilities = [line.split()[1] for line in open("/proc/self/status")
                    if line.startswith("CapEff")]
    print(json.dumps({{"remount": remount, "wrote": wrote,
                      "capabilities": capabilities}}))
    """
    try:
        report = run(Sandbox(), code, workdir)
    finally:
        (prefix / "pgcourse-probe").unlink(missing_ok=True)
    assert 0 not in report["remount"] and not report["wrote"], report
    assert report["capabilities"] == ["0000000000000000"]


# Finds the solutions through git, in the course or in the editable install's repository, and
# defines them again after each cell, the learner's own (blank) answers included.
ATTACK = """
import glob, importlib, json, pathlib, site, subprocess, zlib
finders = site.getsitepackages()[0] + "/__editable___pgcourse_*_finder.py"
finder = pathlib.Path(glob.glob(finders)[0])
repo = pathlib.Path(importlib.import_module(finder.stem).MAPPING["pgcourse"]).parent
source = "solutions/score_function/score_function.ipynb"
found = []
for root in (pathlib.Path({course!r}), repo):
    git = ["git", "-c", "safe.directory=*", "-C", str(root), "show", "HEAD:" + source]
    found.append(subprocess.run(git, capture_output=True, text=True).stdout)
    for path in glob.glob(str(root / ".git/objects/??/*")):
        found.append(zlib.decompress(pathlib.Path(path).read_bytes()).decode("latin-1"))
    found.append((root / source).read_text() if (root / source).exists() else "")
answers = [text for text in found if "BEGIN SOLUTION" in text]
if answers:
    cells = json.loads(answers[0][answers[0].index("{{"):])["cells"]
    code = ["".join(c["source"]) for c in cells if "BEGIN SOLUTION" in "".join(c["source"])]
    print("\\n".join(code))
    shell = get_ipython()
    define = lambda *args: [exec(text, shell.user_ns) for text in code]
    define()
    shell.events.register("post_run_cell", define)
"""


def test_a_blank_submission_that_goes_for_the_solutions_gets_nothing(tmp_path):
    course = driver.scratch_course(REPO, tmp_path / "course")
    git = ["git", "-C", str(course.root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "course"]):
        subprocess.run([*git, *step], check=True)
    secret = "the largest exponent is now 0: exp cannot overflow"  # in the solution only
    blank = nbformat.read(course.exercises / "score_function/score_function.ipynb", 4)
    assert secret in (course.solutions / "score_function/score_function.ipynb").read_text()
    assert secret not in nbformat.writes(blank)
    (cell,) = [
        c for c in blank.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "log_prob"
    ]
    cell.source = ATTACK.format(course=str(course.root)) + "\n" + cell.source
    driver.submit(course, "mallory", "score_function", nbformat.writes(blank))
    (outcome,) = driver.autograde(course)
    assert outcome.ok and "tampering" not in outcome.detail, outcome  # nbgrader's 0 too
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission("score_function", "mallory").notebooks[0].grades
        scores = {g.cell.name: g.auto_score for g in grades if g.cell.cell_type == "code"}
    assert set(scores.values()) == {0}, scores
    autograded = nbformat.read(course.autograded / "mallory/score_function/score_function.ipynb", 4)
    printed = json.dumps([cell.get("outputs", []) for cell in autograded.cells])
    assert "BEGIN SOLUTION" not in printed and secret not in printed


@pytest.mark.parametrize("enabled", [True, False])
def test_learners_code_computes_on_one_thread(workdir, enabled):
    """PyTorch's pool would otherwise have as many threads as the process may use cores, so the
    same training would sum in another order, and take another path, under ``taskset`` or on a
    pinned Dask worker than on the whole machine."""
    with_two_cores = "import os; os.sched_setaffinity(0, {0, 1}) if os.cpu_count() > 1 else None\n"
    code = with_two_cores + "import json, torch; print(json.dumps(torch.get_num_threads()))"
    assert run(Sandbox(enabled=enabled), code, workdir) == 1
