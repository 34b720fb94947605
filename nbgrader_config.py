"""nbgrader configuration: solutions/ is the source, exercises/ is what learners get."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = "."
# The course's row in the gradebook. nbgrader's default, the empty id, has no such row, which
# PostgreSQL's foreign keys refuse (SQLite does not check them).
c.CourseDirectory.course_id = "pgcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Grading executes every cell. The training test needs well under a minute; a cell that hangs
# is interrupted at this limit instead of holding up the class.
c.ExecutePreprocessor.timeout = 120
# After a cell's reply, nbgrader waits this long for the rest of its output (nbclient's default,
# 4 s, is too short on a busy machine). A cell still running this long after the interrupt at
# its timeout ignores the interrupt (SIGINT): pgcourse's Execute then restarts the kernel and
# runs the cells before it again.
c.ExecutePreprocessor.iopub_timeout = 30
# Once the last cell has run, the kernel has nothing left to save: stop it at once rather than
# wait a second for a graceful shutdown, in every graded submission.
c.ExecutePreprocessor.shutdown_kernel = "immediate"

# pgcourse's Execute grades the cells that ran when a submission kills its kernel, instead of
# failing the whole submission; the other preprocessors are nbgrader's defaults. LimitOutput
# keeps at most 1000 lines of each cell's output.
c.Autograde.autograde_preprocessors = [
    "pgcourse.grading.execute.ExecuteUntilKernelDies",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `make collect` imports a zip downloaded from the learning platform, whose files are named
# <student>_<notebook>.ipynb, optionally with the platform's numeric ids and a "late" flag in
# between (e.g. alice_late_1234_5678_score_function.ipynb). Student ids contain no underscore.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[^/_]+)_(?:late_)?(?:\d+_)*(?P<file_id>[^/]+\.ipynb)$"
)
# A notebook whose name is not one of the assignment's is skipped (and reported), not collected.
c.ZipCollectApp.strict = True

# Feedback pages and the formgrader render learners' markdown and outputs with nbconvert's
# HTMLExporter: pgcourse.grading.sanitize keeps only inert HTML there (no scripts, no handlers).
c.HTMLExporter.preprocessors = ["pgcourse.grading.sanitize.SanitizeOutputs"]
c.HTMLExporter.filters = {"markdown2html": "pgcourse.grading.sanitize.markdown2html"}

# Feedback pages do not show the hidden tests that nbgrader puts back into the autograded
# notebook, nor anything the learner's kernel output (pgcourse.grading.hidden_tests); the
# formgrader does. The judge's verdicts (judge.json: its details, the run's seed) stay with the
# instructor: nbgrader copies every other file of autograded/ into feedback/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "judge.json"]
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "pgcourse.grading.hidden_tests.HideHiddenTests",
]

# The course has no exchange folder: learners get exercises/ from git and hand in through the
# learning platform (`make collect`). The formgrader lists nothing instead of warning about one.
c.ExchangeFactory.list = "pgcourse.grading.formgrader.NoExchange"
