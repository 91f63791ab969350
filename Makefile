# Two commands set everything up on a fresh machine:
#   make lab    create .venv, install, build the corpus, open JupyterLab on notebooks/
#   make test   create .venv if missing, run the whole suite (unit tests + every notebook)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CORPUS := data/shakespeare.txt
MILTON := data/milton.txt
SEEDS  := 0 1 2
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg
TORCH  := torch==2.13.0
SAFETENSORS := safetensors==0.8.0

.PHONY: venv corpus lab exercises test test-unit test-notebooks test-oracle notebooks train train-milton \
	seeds sample bench lint clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

$(CORPUS): | $(STAMP)
	$(PY) data/build_corpus.py

corpus: $(CORPUS)

$(MILTON): | $(STAMP)
	$(PY) data/build_corpus.py --corpus milton

# JupyterLab with the project's own configuration, notebooks/.jupyter/ (not ~/.jupyter): it
# serves notebooks/ and opens the contents page; the committed lessons are read-only (Run All
# never autosaves over their outputs), their .py sources hidden; it starts as root too.
lab: venv corpus exercises
	JUPYTER_CONFIG_DIR=$(CURDIR)/notebooks/.jupyter $(VENV)/bin/jupyter lab

# The exercise notebooks, notebooks/exercises/NN_topic.ipynb, generated from the lessons (the
# cells tagged `exercise` become stubs). Git ignores them; one a learner has changed is kept.
exercises: venv
	$(PY) notebooks/make_exercises.py

# Unit tests, then every notebook re-executed and compared cell by cell with its stored outputs.
test: venv corpus
	$(PY) -m pytest tests notebooks --ignore=tests/oracle $(NBVAL)

test-unit: venv corpus
	$(PY) -m pytest tests --ignore=tests/oracle

test-notebooks: venv corpus
	$(PY) -m pytest notebooks $(NBVAL)

# The same model in torch.nn.LSTM must give the same logits, loss and gradients, and an
# exported model must run the same in torch (loaded by safetensors, none of our code).
test-oracle: venv corpus
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH)
	$(PY) -c "import safetensors" 2>/dev/null || $(PY) -m pip install --quiet $(SAFETENSORS)
	$(PY) -m pytest tests/oracle -p no:cacheprovider

# Re-execute every notebook from its .py source (the outputs nbval compares against).
notebooks: venv corpus
	cd notebooks && for f in [0-9]*.py; do \
		echo "executing $$f"; ../$(PY) -m jupytext --to ipynb --execute $$f || exit 1; done

# The default recipe (60 minutes on 2 cores): checkpoint, metrics and loss curve in runs/default/.
train: venv corpus
	$(PY) -m lstm_core train --out runs/default/model.npz --metrics-json runs/default/metrics.json --overwrite
	$(PY) data/plot_history.py runs/default/metrics.json runs/default/loss.png

# Another text (Milton, about 1 MB), a 30-minute budget with the recipe the rule picks:
# 30 minutes would read that small text about 33 times, so the many-passes recipe, whose
# schedule ends after 15 passes (6,627 steps, about 12 minutes here): runs/milton/.
train-milton: venv $(MILTON)
	$(PY) -m lstm_core train --data $(MILTON) --time-budget 1800 --out runs/milton/model.npz \
		--metrics-json runs/milton/metrics.json --overwrite
	$(PY) data/plot_history.py runs/milton/metrics.json runs/milton/loss.png

# Robustness: 10 minutes with three seeds, one after another (the recipe the budget picks,
# the 15-minute one): runs/seed*/.
seeds: venv corpus
	for s in $(SEEDS); do $(PY) -m lstm_core train --time-budget 600 --seed $$s \
		--out runs/seed$$s/model.npz --metrics-json runs/seed$$s/metrics.json --overwrite || exit 1; done

sample: venv corpus
	$(PY) -m lstm_core sample

bench: venv
	@$(PY) -c "import torch" 2>/dev/null || echo "(PyTorch is not installed: its rows stay out. Install it with: $(PY) -m pip install $(TORCH))"
	$(PY) bench/harness.py

lint: venv
	$(VENV)/bin/ruff check lstm_core.py data bench tests notebooks/*.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
