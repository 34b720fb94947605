"""``python -m pgcourse.grading <command>``: the instructor's workflow, see book/instructors.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pgcourse.grading import driver, formgrader, intake, reports


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pgcourse.grading", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course directory")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("exercises", help="regenerate exercises/ from solutions/")
    release.add_argument("assignments", nargs="*", help="default: every assignment")

    collect = commands.add_parser("collect", help="import a zip of submissions into submitted/")
    collect.add_argument("--zip", type=Path, required=True, dest="archive")
    collect.add_argument("--assignment", required=True)
    defaults = intake.ArchiveLimits()
    for option, value, help_text in [
        ("--max-file-mb", defaults.file_bytes / intake.MB, "largest file, expanded"),
        ("--max-total-mb", defaults.total_bytes / intake.MB, "all files, expanded"),
        ("--max-ratio", defaults.ratio, "highest compression ratio of a file over 1 MB"),
    ]:
        collect.add_argument(option, type=float, default=value, help=f"{help_text} ({value:g})")

    for name, help_text in [
        ("autograde", "autograde the submissions under submitted/ not graded yet"),
        ("feedback", "write HTML feedback for every autograded submission"),
    ]:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--assignment", default=None)
        command.add_argument("--student", default=None)
        command.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1")))
        add_db_url(command)
        if name == "autograde":
            command.add_argument(
                "--scheduler",
                default=os.environ.get("SCHEDULER") or None,
                metavar="tcp://HOST:PORT",
                help="grade on the workers of this Dask scheduler instead of --jobs local ones",
            )
            command.add_argument(
                "--regrade",
                action="store_true",
                help="grade again the submissions already graded (default: only the others)",
            )
            command.add_argument("--timeout", type=float, default=driver.SUBMISSION_TIMEOUT)
            command.add_argument(
                "--seed",
                type=seed,
                help="draw the judge's inputs from this seed (default: a new one for each run; "
                "judge.json records it, so a regrade with it checks the same inputs)",
            )
            command.add_argument(
                "--no-sandbox",
                action="store_true",
                help="run learners' code without bubblewrap (only on a machine with nothing else)",
            )
            command.add_argument(
                "--memory-gb", type=float, default=4.0, help="memory limit of each kernel"
            )

    grades = commands.add_parser("grades", help="export the gradebook to CSV")
    grades.add_argument("--output", type=Path, default=Path("grades.csv"))
    grades.add_argument(
        "--wide",
        type=Path,
        default=Path("grades-wide.csv"),
        help="one row per student, to import into the learning platform",
    )
    add_db_url(grades)

    formgrade = commands.add_parser("formgrade", help="serve nbgrader's formgrader on loopback")
    formgrade.add_argument("--port", type=int, default=0, help="default: a free port")
    add_db_url(formgrade)
    formgrade.add_argument("server_options", nargs="*", help="after --: options for jupyter server")
    return parser.parse_args(argv)


def seed(text: str) -> int:
    """A seed for NumPy's generator: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, 0 or more")
    return int(text)


def add_db_url(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db-url",
        default=os.environ.get("DB_URL") or None,
        metavar="URL",
        help="the gradebook: sqlite:///path or postgresql://USER@HOST:PORT/DB "
        "(default: gradebook.db in the course root)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is 1 when any submission could not be processed."""
    args = parse_args(argv)
    course = driver.Course(args.root.resolve(), getattr(args, "db_url", None))
    try:
        if args.command == "exercises":
            driver.generate_exercises(course, args.assignments)
        elif args.command == "collect":
            limits = intake.ArchiveLimits(
                file_bytes=int(args.max_file_mb * intake.MB),
                total_bytes=int(args.max_total_mb * intake.MB),
                ratio=args.max_ratio,
            )
            driver.collect(course, args.archive, args.assignment, limits)
        elif args.command == "grades":
            driver.grades(course, args.output)
            reports.write_wide(course, args.wide)
        elif args.command == "formgrade":
            formgrader.serve(course, args.port, args.server_options)
        else:
            if args.command == "autograde":
                limits = driver.Limits(
                    memory_bytes=int(args.memory_gb * 1024**3),
                    cpu_seconds=int(args.timeout),
                )
                options = driver.Options(sandbox=not args.no_sandbox, limits=limits, seed=args.seed)
                outcomes = driver.autograde(
                    course,
                    args.jobs,
                    args.assignment,
                    args.student,
                    args.timeout,
                    options,
                    scheduler=args.scheduler,
                    regrade=args.regrade,
                )
            else:
                outcomes = driver.feedback(course, args.jobs, args.assignment, args.student)
            failed = [o for o in outcomes if not o.ok]
            print(f"{args.command}: {len(outcomes) - len(failed)} ok, {len(failed)} failed")
            for outcome in failed:
                print(f"  {outcome}")
            return 1 if failed else 0
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(
            f"stopped ({err or 'interrupted'}): what was recorded is kept; run the same "
            "command again to grade the rest",
            file=sys.stderr,
            flush=True,
        )
        # Not a normal exit, which would wait for the submissions being graded: every process
        # started for grading dies with this one, and a later run removes their folders.
        os._exit(130)
    return 0


if __name__ == "__main__":
    sys.exit(main())
