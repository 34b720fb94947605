"""Grading the course's nbgrader exercises.

``python -m pgcourse.grading <command>`` drives the instructor's workflow (release, collect,
autograde, feedback, grades), one submission at a time; :mod:`pgcourse.grading.checks` holds the
helpers the exercise notebooks' tests use to explain a wrong answer. Importing this package is
cheap: nbgrader is only imported by the driver.
"""
