# Two commands set everything up on a fresh machine: `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book catalogs test lint clean

# The virtual environment is rebuilt only when the pinned requirements change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Both editions, English and Chinese (book/build.py); `make catalogs` brings the Chinese
# edition's catalogs up to date with the English pages, for translating.
book: $(STAMP)
	$(BIN)/python book/build.py

catalogs: $(STAMP)
	$(BIN)/python book/build.py catalogs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The book is built first, on the whole machine: its cold build executes every chapter, and the
# book's tests then check that build (their fixture finds it up to date) while the grading tests
# have the cores to themselves.
test: lint book
	$(BIN)/python -m pytest

# JupyterLab opened on exercises/ with the course's kernel: the environment's python3 kernel is
# registered with its own python, and Jupyter ranks it above any python3 kernel a user has.
.PHONY: lab
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 \
		--display-name "Python 3 (pgcourse)" >/dev/null
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/exercises \
		$(LAB_OPTIONS)

clean:
	rm -rf _build .pytest_cache .ruff_cache

# The instructor's workflow (book/instructors.md): a broken submission is reported by name and
# the others are still processed. DB_URL picks the gradebook (default: gradebook.db), JOBS the
# local workers, SCHEDULER a Dask scheduler (tcp://HOST:PORT) to grade on instead.
.PHONY: exercises collect autograde feedback grades formgrade
GRADING := $(BIN)/python -m pgcourse.grading
JOBS ?= 1
DATABASE = $(if $(DB_URL),--db-url "$(DB_URL)")

exercises: $(STAMP)
	$(GRADING) exercises

collect: $(STAMP)
	$(GRADING) collect --zip "$(ZIP)" --assignment "$(ASSIGNMENT)"

autograde: $(STAMP)
	$(GRADING) autograde --jobs $(JOBS) $(DATABASE) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
		$(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(REGRADE),--regrade) \
		$(if $(SEED),--seed $(SEED))

feedback: $(STAMP)
	$(GRADING) feedback --jobs $(JOBS) $(DATABASE) $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

grades: $(STAMP)
	$(GRADING) grades $(DATABASE) --output grades.csv --wide grades-wide.csv

# nbgrader's formgrader on loopback, on the gradebook DB_URL (default: the course's gradebook.db);
# it prints its address. PORT picks the port, FORMGRADE_OPTIONS go to jupyter server.
formgrade: $(STAMP)
	$(GRADING) formgrade $(if $(PORT),--port $(PORT)) $(DATABASE) \
		-- $(FORMGRADE_OPTIONS)
