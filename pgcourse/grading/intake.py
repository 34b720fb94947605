"""Submissions brought in: the platform's zip read as untrusted, and only regular files graded.

:func:`collect` imports a zip downloaded from the learning platform into
``submitted/<student>/<assignment>/``. Whose each notebook is comes from its name in the zip,
matched with ``FileNameCollectorPlugin.named_regexp`` from the course's nbgrader_config.py, as
nbgrader's ``zip_collect`` does; but nothing in the zip decides where a file is written. The
path is built from a student id that must be a safe folder name (:data:`STUDENT_ID`) and one of
the assignment's own notebook names, so a name with ``..``, an absolute path or a link cannot
reach outside ``submitted/``. Archives inside the zip are not opened: one learner cannot hand in
another's notebook. Each entry's expanded size and compression ratio are checked before it is
read and counted while it is, so a zip bomb writes nothing. An entry that fails a check is
skipped and reported with why; the others are collected. A notebook already in ``submitted/``
that the zip changes is moved to ``downloaded/<assignment>/``, never deleted.

:func:`irregular` and :func:`copy_regular` keep grading to regular files: a symbolic link (to a
solution, to another learner's folder), a named pipe (which would block the reader), a device or
a hard link in a submission is refused by name, never opened or followed.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pgcourse.grading.driver import Course

MB = 2**20

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A student id is used as a folder name: ASCII letters, digits, ``.``, ``_`` and ``-``, at most
64 characters, starting with a letter or a digit (so never ``.``, ``..`` or an option)."""

MAX_NAME = 1024
"""Longest entry name (characters) matched against named_regexp; longer names are skipped."""

RATIO_EXEMPT_BYTES = 1 * MB
"""Files up to this size cannot fill a disk whatever they compress to: no ratio check."""

ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar")


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one zip may write (``collect --max-file-mb --max-total-mb --max-ratio``)."""

    file_bytes: int = 100 * MB
    total_bytes: int = 2048 * MB
    ratio: float = 100.0


class Refused(Exception):
    """An entry of the zip, or a file of a submission, that is not taken; the reason why."""


@dataclass
class Report:
    """What one :func:`collect` did: each file collected, each entry skipped and why."""

    collected: list[tuple[str, str, str]] = field(default_factory=list)
    """(student, notebook, "new" | "replaced" | "unchanged")"""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(entry name, reason)"""
    kept: Path | None = None
    """Where the earlier versions of replaced notebooks now are."""

    def __str__(self) -> str:
        lines = [f"skipped {shown(name)}: {reason}" for name, reason in self.skipped]
        for student, notebook, status in self.collected:
            if status == "replaced":
                lines.append(
                    f"replaced {student}/{notebook}: the earlier file is kept in "
                    f"{self.kept / student / notebook}"
                )
        counts = {s: sum(c[2] == s for c in self.collected) for s in ("new", "replaced")}
        lines.append(
            f"collected {len(self.collected)} files ({counts['new']} new, {counts['replaced']} "
            f"replaced, the others unchanged), skipped {len(self.skipped)}"
        )
        return "\n".join(lines)


def shown(name: str, limit: int = 80) -> str:
    """An untrusted name, quoted with its control characters escaped and cut to ``limit``."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}... ({len(name)} characters)"


def megabytes(size: int) -> str:
    return f"{round(size / MB, 1):g} MB"


def named_regexp(course: Course) -> re.Pattern[str]:
    """``FileNameCollectorPlugin.named_regexp`` from the course's nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
    pattern = config.FileNameCollectorPlugin.get("named_regexp", "")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(
            f"FileNameCollectorPlugin.named_regexp in nbgrader_config.py: {err}"
        ) from err
    if not {"student_id", "file_id"} <= set(compiled.groupindex):
        raise ValueError(
            "set c.FileNameCollectorPlugin.named_regexp in nbgrader_config.py to a regular "
            "expression with the groups (?P<student_id>...) and (?P<file_id>...): they say "
            "whose each file of the zip is"
        )
    return compiled


def collect(
    course: Course, archive: Path, assignment: str, limits: ArchiveLimits | None = None
) -> Report:
    """Import the notebooks of ``archive`` into submitted/ (see the module's docs)."""
    limits = limits or ArchiveLimits()
    pattern = named_regexp(course)
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, UnicodeDecodeError, NotImplementedError, OSError) as err:
        raise ValueError(
            f"cannot read {archive} as a zip file ({type(err).__name__}: {err}); nothing was "
            "collected: download it again from the learning platform"
        ) from err
    report = Report()
    downloaded = course.root / "downloaded" / assignment
    downloaded.mkdir(parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix=time.strftime("collect-%Y%m%d-%H%M%S-"), dir=downloaded))
    try:
        with zipped:
            found = accepted(zipped, pattern, course.notebooks(assignment), limits, report)
            budget = limits.total_bytes
            for (student, notebook), info in newest(found, report).items():
                try:
                    if info.file_size > budget:
                        raise Refused(
                            "the zip's files would expand to more than "
                            f"{megabytes(limits.total_bytes)} in all (--max-total-mb)"
                        )
                    staged = run / "incoming" / student / notebook
                    budget -= extract(zipped, info, staged)
                    kept = run / "replaced"
                    status = install(staged, course.submitted, student, assignment, kept)
                except (Refused, OSError) as err:
                    report.skipped.append((info.filename, str(err)))
                else:
                    report.collected.append((student, notebook, status))
    finally:
        shutil.rmtree(run / "incoming", ignore_errors=True)
        if (run / "replaced").exists():
            report.kept = (run / "replaced").relative_to(course.root)
        else:
            run.rmdir()
    return report


def accepted(
    zipped: zipfile.ZipFile,
    pattern: re.Pattern[str],
    notebooks: list[str],
    limits: ArchiveLimits,
    report: Report,
) -> Iterator[tuple[str, str, zipfile.ZipInfo]]:
    """(student, notebook, entry) for each entry that passes :func:`check`; the others are
    added to ``report`` as skipped. Folders are not entries to collect."""
    for info in zipped.infolist():
        if info.is_dir():
            continue
        try:
            student, notebook = check(info, pattern, notebooks, limits)
        except Refused as err:
            report.skipped.append((info.filename, str(err)))
        else:
            yield student, notebook, info


def check(
    info: zipfile.ZipInfo, pattern: re.Pattern[str], notebooks: list[str], limits: ArchiveLimits
) -> tuple[str, str]:
    """Whose notebook ``info`` is, from its name and header alone; Refused says why not."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", name):
        raise Refused("an absolute path")
    if ".." in parts:
        raise Refused("'..' in its path")
    if len(name) > MAX_NAME:
        raise Refused(f"a name of {len(name)} characters (at most {MAX_NAME})")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind != stat.S_IFREG:
        raise Refused(f"{describe(kind)} in the zip, not a file")
    if info.flag_bits & 0x1:
        raise Refused("encrypted")
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        raise Refused("an archive inside the archive: not opened; ask for the notebook itself")
    # nbgrader matches the regexp against the extracted file's absolute path.
    match = pattern.match("/" + name) if name.endswith(".ipynb") else None
    if not match:
        raise Refused(
            "not named like a submission (FileNameCollectorPlugin.named_regexp in "
            "nbgrader_config.py)"
        )
    student, notebook = match.group("student_id") or "", match.group("file_id") or ""
    if not STUDENT_ID.fullmatch(student):
        raise Refused(
            f"student id {shown(student)} is not a safe folder name (ASCII letters, digits, "
            "'.', '_', '-', at most 64, starting with a letter or digit)"
        )
    if notebook not in notebooks:
        raise Refused(f"{shown(notebook)} is not a notebook of the assignment ({notebooks})")
    if info.file_size > limits.file_bytes:
        raise Refused(
            f"expands to {megabytes(info.file_size)}, over the limit of "
            f"{megabytes(limits.file_bytes)} a file (--max-file-mb)"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_EXEMPT_BYTES and ratio > limits.ratio:
        raise Refused(
            f"compressed {ratio:.0f} to 1, over the limit of {limits.ratio:g} to 1 "
            "(--max-ratio): a zip bomb, or output to look at"
        )
    return student, notebook


def newest(
    entries: Iterator[tuple[str, str, zipfile.ZipInfo]], report: Report
) -> dict[tuple[str, str], zipfile.ZipInfo]:
    """One entry per (student, notebook): the newest by the zip's times. When the newest time is
    shared, none is taken: which file counts is for the learner to say."""
    found: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
    for student, notebook, info in entries:
        found.setdefault((student, notebook), []).append(info)
    chosen = {}
    for (student, notebook), infos in found.items():
        infos.sort(key=lambda info: info.date_time, reverse=True)
        latest = [info for info in infos if info.date_time == infos[0].date_time]
        if len(latest) > 1:
            reason = (
                f"{len(infos)} files for {student}/{notebook}, {len(latest)} of them the newest: "
                "none taken"
            )
            report.skipped.extend((info.filename, reason) for info in infos)
        else:
            chosen[student, notebook] = infos[0]
            reason = f"an older file for {student}/{notebook} than {shown(infos[0].filename)}"
            report.skipped.extend((info.filename, reason) for info in infos[1:])
    return chosen


def extract(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    """Write the entry's data to ``target``, no more than its header says; the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipped.open(info) as source, target.open("xb") as copy:
            return copy_at_most(source, copy, info.file_size)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as err:
        raise Refused(f"cannot be read ({type(err).__name__}: {err})") from err


def copy_at_most(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy ``source`` to ``target``; Refused once it gives more than ``limit`` bytes."""
    written = 0
    while chunk := source.read(MB):
        written += len(chunk)
        if written > limit:
            raise Refused(f"expands past the {limit} bytes its header says")
        target.write(chunk)
    return written


def install(staged: Path, submitted: Path, student: str, assignment: str, kept: Path) -> str:
    """Move ``staged`` into submitted/<student>/<assignment>/; "new", "replaced" or "unchanged".

    A different file already there is moved to ``kept``/<student>/, never overwritten.
    """
    submitted.mkdir(exist_ok=True)
    folder = submitted
    for part in (student, assignment):
        folder = real_folder(folder / part)
    destination = folder / staged.name
    try:
        earlier = destination.lstat()
    except FileNotFoundError:
        staged.replace(destination)
        return "new"
    if stat.S_ISREG(earlier.st_mode) and filecmp.cmp(staged, destination, shallow=False):
        return "unchanged"
    (kept / student).mkdir(parents=True, exist_ok=True)
    destination.replace(kept / student / staged.name)
    staged.replace(destination)
    return "replaced"


def real_folder(path: Path) -> Path:
    """``path``, created if missing; Refused if a link or a file is in its place."""
    try:
        path.mkdir()
    except FileExistsError:
        kind = stat.S_IFMT(path.lstat().st_mode)
        if kind != stat.S_IFDIR:
            raise Refused(
                f"{path} is {describe(kind)}, not a folder: nothing written through it; remove "
                "it and collect again"
            ) from None
    return path


def describe(kind: int) -> str:
    """What a file type (``stat.S_IFMT``) is, in words."""
    names = {
        stat.S_IFLNK: "a symbolic link",
        stat.S_IFIFO: "a named pipe (FIFO)",
        stat.S_IFCHR: "a device",
        stat.S_IFBLK: "a device",
        stat.S_IFSOCK: "a socket",
        stat.S_IFDIR: "a folder",
        stat.S_IFREG: "a file",
    }
    return names.get(kind, "not a regular file")


def refusal(status: os.stat_result) -> str | None:
    """Why a file (its ``lstat``) is not read: anything but a folder or a regular file with one
    name; None if it may be read."""
    kind = stat.S_IFMT(status.st_mode)
    if kind == stat.S_IFDIR or (kind == stat.S_IFREG and status.st_nlink == 1):
        return None
    if kind == stat.S_IFREG:
        return f"a hard link (one of {status.st_nlink} names of the same file)"
    return describe(kind)


def entries(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every path in ``folder`` with its ``lstat``; links to folders are listed, not entered."""
    for root, folders, files in os.walk(folder):
        for name in sorted(folders + files):
            path = Path(root, name)
            yield path, path.lstat()


def irregular(submitted: Path, student: str, assignment: str) -> str | None:
    """Why the submission cannot be graded safely: each path in it (its own folders included)
    that is not a folder or a regular file, by name; None if there is none."""
    folder = submitted / student / assignment
    if not os.path.lexists(folder):
        return None
    problems = [
        f"{shown(str(path.relative_to(submitted.parent)))} is {reason}"
        for path in (submitted / student, folder)
        if (reason := refusal(path.lstat()))
    ] or [
        f"{shown(str(path.relative_to(folder)))} is {reason}"
        for path, status in entries(folder)
        if (reason := refusal(status))
    ]
    if not problems:
        return None
    return (
        f"refused, not read: {'; '.join(problems)}. Only regular files are graded: put the "
        "learner's own files there (copies, not links) and grade again"
    )


def copy_regular(source: Path, destination: Path) -> None:
    """Copy the folder ``source`` to ``destination``, never following a link; Refused on
    anything :func:`irregular` refuses (checked before, this is the backstop)."""
    for path, status in [(source, source.lstat()), *entries(source)]:
        reason = refusal(status)
        if reason:
            raise Refused(f"{path} is {reason}: not copied")
        target = destination / path.relative_to(source)
        if stat.S_ISDIR(status.st_mode):
            target.mkdir(parents=True)
        else:
            shutil.copy2(path, target, follow_symlinks=False)
