# ChargeOS developer entry points. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
DATA_DIR ?= var/data
# Debian packages the suite and the dev runner need (installed only when missing): the browser
# for the configurator tests, the image tools (build.py image / run and their tests), the SSH
# client the debug SSH tests log in with, and openssl (its rehash for the CA directory test).
APT_PACKAGES := python3-venv chromium \
	mmdebstrap squashfs-tools dosfstools mtools fdisk e2fsprogs grub-efi-amd64-bin grub-common \
	ovmf qemu-system-x86 bmap-tools openssh-client openssl
BOARD ?= qemu-x86_64
PROFILE ?= profiles/simulated.yaml

.PHONY: run test soak lint typecheck unit schema lock clean image qemu

$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(STAMPS)/venv: requirements-dev.lock $(STAMPS)/apt
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@touch $@

run: $(STAMPS)/venv
	$(BIN)/python -m image.builder.devrun --data-dir $(DATA_DIR)

lint: $(STAMPS)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMPS)/venv
	$(BIN)/mypy --strict

# The image tests' clean-cache build starts first, in the background at low priority, so its
# downloads and steps overlap the file-level tests (tests/image/early_build.py; in a temporary
# folder outside the repository, kept when a test failed); those run on every core
# (pytest-xdist; each worker has its own temp folders and free ports); then the image's tests
# in one process, in order, as they share one disk. Both parts always run, so one CI log shows
# every failure; each prints its 25 slowest tests.
unit: $(STAMPS)/venv
	@early=$$(mktemp -d -t chargeos-image-XXXXXX); files=0; image=0; \
	nice -n 10 $(BIN)/python -m tests.image.early_build $$early & \
	$(BIN)/python -m pytest --part=files -n auto --durations=25 || files=$$?; \
	CHARGEOS_EARLY_BUILD=$$early $(BIN)/python -m pytest --part=image --durations=25 || image=$$?; \
	wait; \
	if [ $$files$$image = 00 ]; then rm -rf $$early; else echo "the image tests' disk: $$early"; fi; \
	exit $$(( files ? files : image ))

test: lint typecheck unit

# The long runs CI does not make: the tests marked `soak`, with their soak round counts
# (tests/soak.py): many kills, many power cuts.
soak: $(STAMPS)/venv
	CHARGEOS_SOAK=1 $(BIN)/python -m pytest -m soak --durations=25 --timeout=36000

# The flashable disk image of a board (out/$(BOARD)/), and booting it under qemu (TCG).
image: $(STAMPS)/venv
	$(BIN)/python build.py keys --if-missing
	$(BIN)/python build.py image --board $(BOARD) --profile $(PROFILE)

qemu: $(STAMPS)/venv
	@ls out/$(BOARD)/*.img >/dev/null 2>&1 || $(MAKE) image
	$(BIN)/python build.py run --board $(BOARD)

schema: $(STAMPS)/venv
	$(BIN)/python build.py schema

# Regenerate the lock files from pyproject.toml (needs the registry).
lock: $(STAMPS)/venv
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	    --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	    --no-emit-find-links --extra dev -o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) $(STAMPS) .mypy_cache .ruff_cache .pytest_cache
