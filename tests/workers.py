"""Loaded with `-p tests.workers` (pyproject's addopts), before Django reads its settings.

`make test` runs the suite in several pytest-xdist workers at once. Each has its own test
database already (pytest-django suffixes the name per worker; SQLite files sit in each
worker's temp folder), but a Redis broker is one server for all of them: with one queue
name, a test that counts the queue (tests/test_health_page.py) would count another
worker's tasks. So each worker, and a plain run too, gets a queue name of its own, which
also keeps tests off the queue of a studio running against the same Redis."""

import os

os.environ["STUDIO_QUEUE_NAME"] = f"tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
