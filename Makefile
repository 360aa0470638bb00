# Kling Prompt Studio. `make run` starts the studio; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format chromium nginx clean mutate screenshots

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m studio.run

# Browser journeys drive Debian's chromium; install it when missing (needs root, as in CI).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; \
	  else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser tests"; exit 1; fi; }

# The media tests run Debian's nginx with docs/nginx.conf (tests/test_nginx.py).
nginx:
	@test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; \
	  else echo "Install Debian's nginx (sudo apt-get install nginx) for the media tests"; exit 1; fi; }

# Three pytest-xdist workers on two cores: most of the suite's time is real processes and
# browsers waiting on each other, not CPU (docs/reliability.md, "How the tests run").
TEST_WORKERS ?= 3
test: $(STAMP) chromium nginx
	$(BIN)/ruff check studio tests benchmarks
	$(BIN)/ruff format --check studio tests benchmarks
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

# Mutation testing (docs/reliability.md R48): mutmut breaks studio/generations/ and
# studio/kling/client.py one small change at a time and runs their fast tests against each;
# a change no test notices survives. Not part of `make test` (hours on 2 busy cores).
# `make mutate MUTANTS='studio.generations.models*'` runs a subset; `mutmut results` lists
# the survivors, `mutmut show NAME` one of them. One kept test database (--reuse-db).
MUTANTS ?=
MUTATE_CHILDREN ?= 2
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,mutate]'
	rm -f mutants/test.sqlite3
	STUDIO_TEST_SQLITE=$(CURDIR)/mutants/test.sqlite3 $(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

# The README's pictures (docs/*.png), taken again by the browser journeys that show them
# (tests/browser/conftest.py screenshot(); every journey's pictures also go to test-artifacts/).
SCREENSHOT_JOURNEYS := tests/browser/test_studio_journey.py tests/browser/test_activity_journey.py \
  tests/browser/test_budget_feedback_journey.py \
  tests/browser/test_mobile_journey.py::test_the_nav_folds_into_a_menu_that_opens_by_keyboard
screenshots: $(STAMP) chromium
	STUDIO_SCREENSHOTS=docs $(BIN)/python -m pytest $(SCREENSHOT_JOURNEYS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check studio tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format studio tests benchmarks
	$(BIN)/ruff check --fix studio tests benchmarks

clean:
	rm -rf $(VENV) data test-artifacts mutants .hypothesis
