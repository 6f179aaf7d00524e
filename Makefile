# `make chat` and `make test` work on a fresh clone: both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: chat test lint bench soak run validate eval richmenu-images clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

chat: $(STAMP)  ## talk to the bot in the terminal
	$(PY) -m bot chat

# PYTHONDONTWRITEBYTECODE= : byte-code caches on for the suite even where the environment turns them off
# (this machine and CI do): pytest then keeps the assertion-rewritten modules of its plugins (hypothesis,
# anyio: ~140 modules re-parsed by each xdist worker otherwise), and the gunicorn and CLI processes the
# tests start reuse bot/'s compiled modules.
test: $(STAMP)  ## lint, then the whole test suite (one pytest-xdist worker per CPU)
	$(PY) -m ruff check bot tests scripts wsgi.py gunicorn.conf.py
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --dist worksteal

lint: $(STAMP)
	$(PY) -m ruff check bot tests scripts wsgi.py gunicorn.conf.py
	$(PY) -m ruff format --check bot tests scripts wsgi.py gunicorn.conf.py

validate: $(STAMP)  ## check the knowledge base
	$(PY) -m bot validate

eval: $(STAMP)  ## score the dev question set
	$(PY) -m bot eval tests/data/dev-questions.yaml --min-accuracy 0.95

bench: $(STAMP)  ## print matcher and webhook figures
	$(PY) scripts/bench_matcher.py
	$(PY) scripts/bench_process.py
	$(PY) scripts/bench_webhook.py
	$(PY) scripts/bench_diagnose.py
	$(PY) scripts/bench_questionlog.py

richmenu-images: $(STAMP)  ## redraw knowledge/richmenu/*.png from the labels (needs fonts-noto-cjk)
	$(PY) scripts/draw_richmenu.py

soak: $(STAMP)  ## RSS per worker and the SQLite file from 5,000 to 100,000 events
	$(PY) scripts/soak.py

run: $(STAMP)  ## start the web process as the Procfile does (reads .env if present)
	set -a; [ -f .env ] && . ./.env; set +a; PATH=$(VENV)/bin:$$PATH gunicorn wsgi:app

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
