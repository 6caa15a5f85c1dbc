# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
# pytest-xdist workers: one per core. Each has its own session databases, temporary folders
# and free ports (tests/conftest.py); `loadgroup` keeps tests marked xdist_group together.
JOBS ?= auto
XDIST := -n $(JOBS) --dist loadgroup

.PHONY: run test test-quick migrate lint bench browser-deps deploy-deps clean translations

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The local single-server set-up: plain HTTP on loopback, SQLite, scheduler in-process.
run: $(STAMP)
	SPEAKUP_SECURE_COOKIES=false $(BIN)/speakup init
	SPEAKUP_SECURE_COOKIES=false $(BIN)/speakup db upgrade
	SPEAKUP_SECURE_COOKIES=false $(BIN)/speakup demo
	SPEAKUP_SECURE_COOKIES=false $(BIN)/speakup serve --host $(HOST) --port $(PORT)

migrate: $(STAMP)
	$(BIN)/speakup db upgrade

# Browser tests drive Debian's Chromium (never a downloaded browser) and inject axe-core;
# the printed-slip test renders the PDF with poppler-utils' pdftoppm to scan its QR codes.
browser-deps:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "Install Debian's chromium package for the browser tests (sudo apt-get install chromium)"; exit 1; fi; }
	@test -x /usr/bin/pdftoppm || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; \
	  else echo "Install Debian's poppler-utils package for the slip tests (sudo apt-get install poppler-utils)"; exit 1; fi; }
	@test -f node_modules/axe-core/axe.min.js || npm install --no-audit --no-fund --silent

# The deployment test (tests/foundation/test_nginx_deploy.py) starts Debian's nginx with the
# shipped deploy/nginx/speakup.conf, makes its certificate with openssl and checks the
# systemd units with systemd-analyze.
deploy-deps:
	@for tool in /usr/sbin/nginx:nginx /usr/bin/openssl:openssl /usr/bin/systemd-analyze:systemd; do \
	  test -x "$${tool%%:*}" && continue; \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$${tool##*:}"; \
	  else echo "Install Debian's $${tool##*:} package for the deployment test (sudo apt-get install $${tool##*:})"; exit 1; fi; \
	done

test: $(STAMP) browser-deps deploy-deps
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# The edit-run loop: SQLite only, in-process, no server, browser or slow test (the `quick`
# marker, set in tests/conftest.py). Needs neither PostgreSQL nor Chromium.
test-quick: $(STAMP)
	$(BIN)/pytest $(XDIST) -m quick $(PYTEST_ARGS)

# Extract every marked text, merge it into each language's .po, compile the .mo files
# (README "Languages"). Translators edit the .po; the .mo files are committed and shipped.
CATALOGUES := speakup/translations
translations: $(STAMP)
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k Nn_:1,2 -k lazy_gettext -k _l --add-location=file \
	  --sort-output -o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d $(CATALOGUES) --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(CATALOGUES) --statistics

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/concerns.py
	$(BIN)/python bench/surveys.py
	$(BIN)/python bench/publish_sealed.py
	$(BIN)/python bench/disclosure_audit.py
	$(BIN)/python bench/attachments.py
	$(BIN)/python bench/results_page.py
	$(BIN)/python bench/slips.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
