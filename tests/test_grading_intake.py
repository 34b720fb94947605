"""`make collect` reads the platform's zip as untrusted, and grading reads only regular files.

Each collect test builds a hostile zip as a learner (or a broken platform) could make one,
collects it into a scratch course with the driver, and checks what was written (a hash of every
file around submitted/ and downloaded/), what was reported, and that the honest entries were
collected. The grading test puts links, a named pipe, a device and a hard link in submitted/
and grades the class in the sandbox.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path

import nbformat
import pytest

from pgcourse.grading import __main__ as cli
from pgcourse.grading import driver, intake

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reinforce"
NOTEBOOK = "reinforce.ipynb"
MB = 2**20


@functools.cache
def written_by(author: str) -> str:
    """The blank release as ``author`` would hand it in, told apart by a cell of their own."""
    notebook = nbformat.read(REPO / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell(f"written by {author}"))
    return nbformat.writes(notebook)


def hashes(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every path under ``root`` (links and folders too) with a hash of what it is."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        if path.is_symlink():
            found[str(path)] = "link to " + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "folder"
    return found


def submitted(course: driver.Course) -> dict[str, str]:
    """Each file under submitted/ with its text."""
    return {
        str(p.relative_to(course.submitted)): p.read_text()
        for p in sorted(course.submitted.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def course(tmp_path: Path) -> driver.Course:
    return driver.scratch_course(REPO, tmp_path / "course")


@pytest.fixture
def collect(course, tmp_path, capsys):
    """Collect a zip into ``course``; returns what was printed, after checking that nothing
    outside submitted/ and downloaded/ changed."""

    def run(archive: Path, *options: str) -> str:
        skip = (course.submitted, course.root / "downloaded")
        before = hashes(tmp_path, skip)
        capsys.readouterr()
        if options:
            argv = ["--root", str(course.root), "collect", "--zip", str(archive)]
            assert cli.main([*argv, "--assignment", ASSIGNMENT, *options]) == 0
        else:
            driver.collect(course, archive, ASSIGNMENT)
        assert hashes(tmp_path, skip) == before
        output = capsys.readouterr().out
        assert "\x1b" not in output, "an untrusted name was printed as it is"
        return output

    return run


def zip_of(path: Path, entries: list[tuple[str | zipfile.ZipInfo, str | bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries:
            zipped.writestr(name, data)
    return path


def skipped(output: str, name: str, reason: str) -> bool:
    return f"skipped {name!r}: {reason}" in output


def test_paths_out_of_the_archive_are_skipped(collect, course, tmp_path):
    outside = f"/tmp/pgcourse-intake-{os.getpid()}"
    archive = zip_of(
        tmp_path / "downloads.zip",
        [
            ("submissions/alice_1234_reinforce.ipynb", written_by("alice")),
            ("../../bob_reinforce.ipynb", written_by("bob")),
            ("sub/../../../carol_reinforce.ipynb", written_by("carol")),
            ("..\\..\\dave_reinforce.ipynb", written_by("dave")),
            (f"{outside}/erin_reinforce.ipynb", written_by("erin")),
            ("C:\\Users\\frank\\frank_reinforce.ipynb", written_by("frank")),
        ],
    )
    output = collect(archive)
    assert submitted(course) == {f"alice/{ASSIGNMENT}/{NOTEBOOK}": written_by("alice")}
    assert not Path(outside).exists()
    for name in ["../../bob_reinforce.ipynb", "sub/../../../carol_reinforce.ipynb"]:
        assert skipped(output, name, "'..' in its path")
    assert skipped(output, "..\\..\\dave_reinforce.ipynb", "'..' in its path")
    assert skipped(output, f"{outside}/erin_reinforce.ipynb", "an absolute path")
    assert skipped(output, "C:\\Users\\frank\\frank_reinforce.ipynb", "an absolute path")
    assert "collected 1 files (1 new, 0 replaced, the others unchanged), skipped 5" in output


def test_student_ids_must_be_safe_folder_names(collect, course, tmp_path):
    unsafe = ["..", ".", "-rf", "al ice", "\x1b[2Jmallory", "josé", "a" * 65]
    archive = zip_of(
        tmp_path / "downloads.zip",
        [(f"{student}_reinforce.ipynb", written_by("x")) for student in unsafe]
        + [("bob_late_reinforce.ipynb", written_by("bob"))],
    )
    output = collect(archive)
    assert submitted(course) == {f"bob/{ASSIGNMENT}/{NOTEBOOK}": written_by("bob")}
    for student in unsafe:
        assert f"student id {intake.shown(student)} is not a safe folder name" in output
    assert "'\\x1b[2Jmallory_reinforce.ipynb'" in output  # escaped, not sent to the terminal
    assert "64, starting with a letter or digit" in output


def test_long_and_non_utf8_names_are_skipped_by_name(collect, course, tmp_path):
    long_path = "x" * 3000 + "/eve_reinforce.ipynb"
    archive = zip_of(
        tmp_path / "downloads.zip",
        [
            (long_path, written_by("eve")),
            ("M?ller_reinforce.ipynb", written_by("müller")),
            ("frank_reinforce.ipynb", written_by("frank")),
        ],
    )
    # A zip tool that writes names in the computer's code page (here Latin-1) without the UTF-8
    # flag; zipfile reads them as cp437, as the zip format says.
    archive.write_bytes(archive.read_bytes().replace(b"M?ller", b"M\xfcller"))
    output = collect(archive)
    assert submitted(course) == {f"frank/{ASSIGNMENT}/{NOTEBOOK}": written_by("frank")}
    assert (
        "skipped " + repr("x" * 80) + "... (3020 characters): a name of 3020 characters" in output
    )
    assert skipped(output, "M\u207fller_reinforce.ipynb", "student id 'M\u207fller' is not a safe")


def test_a_zip_whose_names_cannot_be_read_is_refused_whole(course, tmp_path):
    archive = zip_of(
        tmp_path / "downloads.zip",
        [("frank_reinforce.ipynb", written_by("frank")), ("müller_reinforce.ipynb", "{}")],
    )
    # Marked UTF-8 (zipfile sets the flag for a non-ASCII name) but not UTF-8.
    name = "müller_reinforce".encode()
    archive.write_bytes(archive.read_bytes().replace(name, name.replace("ü".encode(), b"\xfc\xfc")))
    with pytest.raises(ValueError, match="cannot read .* as a zip file .*UnicodeDecodeError"):
        driver.collect(course, archive, ASSIGNMENT)
    assert not course.submitted.exists()
    assert not (course.root / "downloaded").exists()


def at(name: str, day: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 3, day, 10, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def test_two_files_for_one_learner_keep_the_newest_or_none(collect, course, tmp_path):
    archive = zip_of(
        tmp_path / "downloads.zip",
        [
            (at("alice_1_reinforce.ipynb", 2), written_by("alice, second")),
            (at("alice_2_reinforce.ipynb", 1), written_by("alice, first")),
            (at("bob_1_reinforce.ipynb", 1), written_by("bob, one")),
            (at("bob_2_reinforce.ipynb", 1), written_by("bob, other")),
            (at("carol_reinforce.ipynb", 1), written_by("carol")),
        ],
    )
    output = collect(archive)
    assert submitted(course) == {
        f"alice/{ASSIGNMENT}/{NOTEBOOK}": written_by("alice, second"),
        f"carol/{ASSIGNMENT}/{NOTEBOOK}": written_by("carol"),
    }
    older = f"an older file for alice/{NOTEBOOK} than 'alice_1_reinforce.ipynb'"
    assert skipped(output, "alice_2_reinforce.ipynb", older)
    for name in ["bob_1_reinforce.ipynb", "bob_2_reinforce.ipynb"]:
        assert skipped(output, name, f"2 files for bob/{NOTEBOOK}, 2 of them the newest: none")


def test_an_archive_inside_cannot_hand_in_for_another_learner(collect, course, tmp_path):
    forged = zip_of(
        tmp_path / "mallory.zip",
        [
            ("alice_99_reinforce.ipynb", written_by("mallory as alice")),
            ("grace_1_reinforce.ipynb", written_by("mallory as grace")),
        ],
    )
    archive = zip_of(
        tmp_path / "downloads.zip",
        [
            ("alice_11_reinforce.ipynb", written_by("alice")),
            ("mallory_12_reinforce.zip", forged.read_bytes()),
            ("mallory_12_reinforce.tar.gz", forged.read_bytes()),
        ],
    )
    forged.unlink()
    output = collect(archive)
    assert submitted(course) == {f"alice/{ASSIGNMENT}/{NOTEBOOK}": written_by("alice")}
    for name in ["mallory_12_reinforce.zip", "mallory_12_reinforce.tar.gz"]:
        assert skipped(output, name, "an archive inside the archive: not opened")


@functools.cache
def deflated_zeros(megabytes: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``megabytes`` MiB of zeros, and their CRC-32. Made in
    milliseconds: one MiB is compressed and repeated (a full flush makes the pieces
    independent), so the stream holds ``megabytes`` copies of a piece that inflates to 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert zlib.decompressobj(-15).decompress(piece) == bytes(MB)
    crc, block = 0, bytes(MB)
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    return piece * megabytes + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), crc


def raw_zip(path: Path, entries: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip written byte by byte from (name, deflated data, size, CRC-32): for what zipfile
    cannot write quickly or will not write at all (a size in the header that lies)."""
    local, central = bytearray(), bytearray()
    for name, data, size, crc in entries:
        encoded, offset = name.encode(), len(local)
        header = (8, 0, 0x21, crc, len(data), size, len(encoded))  # deflate, 1980-01-01
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, *header, 0) + encoded + data
        central += struct.pack("<IHHH", 0x02014B50, 20, 20, 0)
        central += struct.pack("<HHHIIIHHHHHII", *header, 0, 0, 0, 0, 0, offset) + encoded
    count = len(entries)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(local + central + end)
    return path


def deflated(text: str) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = text.encode()
    return compressor.compress(data) + compressor.flush(), len(data), zlib.crc32(data)


def test_a_zip_bomb_is_refused_quickly_without_writing_it(collect, course, tmp_path):
    (bomb, crc), (small, small_crc) = deflated_zeros(1100), deflated_zeros(5)
    honest = written_by("alice")
    archive = raw_zip(
        tmp_path / "downloads.zip",
        [
            ("alice_reinforce.ipynb", *deflated(honest)),
            ("mallory_reinforce.ipynb", bomb, 1100 * MB, crc),
            # The header says 20 kB; the data expands to 1.1 GB.
            ("liar_reinforce.ipynb", bomb, 20_000, crc),
            ("nina_reinforce.ipynb", small, 5 * MB, small_crc),
        ],
    )
    assert archive.stat().st_size < 3 * MB
    with zipfile.ZipFile(archive) as zipped, zipped.open("mallory_reinforce.ipynb") as entry:
        assert entry.read(100 * MB) == bytes(100 * MB)  # what an unchecked extractor writes
    start = time.perf_counter()
    output = collect(archive)
    seconds = time.perf_counter() - start
    assert seconds < 15, f"collect took {seconds:.1f} s"
    assert submitted(course) == {f"alice/{ASSIGNMENT}/{NOTEBOOK}": honest}
    assert sum(p.stat().st_size for p in course.root.rglob("*") if p.is_file()) < 5 * MB
    assert skipped(output, "mallory_reinforce.ipynb", "expands to 1100 MB, over the limit of")
    assert skipped(output, "liar_reinforce.ipynb", "cannot be read (BadZipFile: Bad CRC-32")
    assert skipped(
        output, "nina_reinforce.ipynb", "compressed 1011 to 1, over the limit of 100 to 1"
    )

    # The limits are options: a higher ratio lets the 5 MB notebook in, a low total does not.
    output = collect(archive, "--max-ratio", "2000")
    assert submitted(course)[f"nina/{ASSIGNMENT}/{NOTEBOOK}"] == "\0" * 5 * MB
    output = collect(archive, "--max-ratio", "2000", "--max-total-mb", "1")
    assert "more than 1 MB in all (--max-total-mb)" in output


def test_a_collected_submission_is_never_lost(collect, course, tmp_path):
    first = zip_of(
        tmp_path / "first.zip",
        [
            ("alice_reinforce.ipynb", written_by("alice")),
            ("bob_reinforce.ipynb", written_by("bob")),
        ],
    )
    collect(first)
    notes = course.submitted / "alice" / ASSIGNMENT / "notes.txt"
    notes.write_text("the instructor's notes")
    again = collect(first)
    assert "collected 2 files (0 new, 0 replaced, the others unchanged)" in again
    assert not list((course.root / "downloaded").rglob("replaced"))

    second = zip_of(
        tmp_path / "second.zip",
        [
            ("alice_reinforce.ipynb", written_by("alice, resubmitted")),
            ("bob_reinforce.ipynb", written_by("bob")),
        ],
    )
    output = collect(second)
    assert submitted(course) == {
        f"alice/{ASSIGNMENT}/{NOTEBOOK}": written_by("alice, resubmitted"),
        f"alice/{ASSIGNMENT}/notes.txt": "the instructor's notes",
        f"bob/{ASSIGNMENT}/{NOTEBOOK}": written_by("bob"),
    }
    (kept,) = (course.root / "downloaded" / ASSIGNMENT).glob(f"collect-*/replaced/alice/{NOTEBOOK}")
    assert kept.read_text() == written_by("alice")
    assert f"replaced alice/{NOTEBOOK}: the earlier file is kept in " in output
    assert str(kept.relative_to(course.root)) in output


def test_links_in_the_zip_or_in_submitted_are_not_followed(collect, course, tmp_path):
    link = zipfile.ZipInfo("carol_reinforce.ipynb")
    link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ASSIGNMENT).mkdir(parents=True)
    (elsewhere / ASSIGNMENT / NOTEBOOK).write_text("not to be overwritten")
    course.submitted.mkdir()
    (course.submitted / "dave").symlink_to(elsewhere)
    archive = zip_of(
        tmp_path / "downloads.zip",
        [
            (link, f"../../solutions/{ASSIGNMENT}/{NOTEBOOK}"),
            ("dave_reinforce.ipynb", written_by("dave")),
            ("erin_reinforce.ipynb", written_by("erin")),
        ],
    )
    output = collect(archive)
    assert (course.submitted / "erin" / ASSIGNMENT / NOTEBOOK).read_text() == written_by("erin")
    assert not (course.submitted / "carol").exists()
    assert skipped(output, "carol_reinforce.ipynb", "a symbolic link in the zip, not a file")
    assert skipped(output, "dave_reinforce.ipynb", f"{course.submitted / 'dave'} is a symbolic")


def test_only_regular_files_are_graded(course, tmp_path):
    """Links, a named pipe, a device and a hard link in submitted/ are refused by name, none
    read; the honest submission next to them is graded as usual."""
    assignment, name = "score_function", "score_function.ipynb"
    solution = course.solutions / assignment / name
    driver.submit(course, "honest", assignment, solution)

    def folder(student: str) -> Path:
        path = course.submitted / student / assignment
        path.mkdir(parents=True)
        return path

    (folder("linked") / name).symlink_to(solution)
    os.link(solution, folder("hardlinked") / name)
    os.mkfifo(folder("piped") / name)
    os.mknod(folder("device") / name, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    driver.submit(course, "data", assignment, solution)
    (course.submitted / "data" / assignment / "data.npz").symlink_to("/etc/passwd")
    (course.submitted / "copycat").symlink_to(course.submitted / "honest")
    (course.submitted / "mirror").mkdir()
    (course.submitted / "mirror" / assignment).symlink_to(course.submitted / "honest" / assignment)

    start = time.perf_counter()
    outcomes = {o.student: o for o in driver.autograde(course, assignment=assignment)}
    assert time.perf_counter() - start < 240
    assert outcomes["honest"].ok, outcomes["honest"]
    assert outcomes["honest"].detail.startswith("18 / 20 points"), outcomes["honest"]
    expected = {
        "linked": f"'{name}' is a symbolic link",
        "hardlinked": f"'{name}' is a hard link (one of 2 names of the same file)",
        "piped": f"'{name}' is a named pipe (FIFO)",
        "device": f"'{name}' is a device",
        "data": "'data.npz' is a symbolic link",
        "copycat": "'submitted/copycat' is a symbolic link",
        "mirror": f"'submitted/mirror/{assignment}' is a symbolic link",
    }
    for student, problem in expected.items():
        outcome = outcomes[student]
        assert not outcome.ok, outcome
        assert outcome.detail.startswith(f"refused, not read: {problem}"), outcome
        assert "copies, not links" in outcome.detail
        assert not list((course.autograded / student).rglob("*.ipynb"))  # nothing was read


def test_copying_a_submission_never_follows_a_link(tmp_path):
    source = tmp_path / "submission"
    (source / "data").mkdir(parents=True)
    (source / "a.ipynb").write_text("{}")
    (source / "data" / "b.csv").write_text("1,2")
    intake.copy_regular(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "data" / "b.csv").read_text() == "1,2"
    (source / "data" / "c.csv").symlink_to("/etc/passwd")
    with pytest.raises(intake.Refused, match="c.csv is a symbolic link: not copied"):
        intake.copy_regular(source, tmp_path / "again")
