# kurier - `make run` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
DATA ?= var
JOBS ?= $(shell nproc)
PY := /usr/bin/python3
export CCACHE_DIR ?= $(CURDIR)/.ccache

.PHONY: all deps deps-build build run test unit e2e bench fuzz security size clean install deb

all: build

deps:
	@bash scripts/install-deps.sh

deps-build:
	@bash scripts/install-deps.sh --build-only

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps-build $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@bash scripts/run.sh $(BUILD)/kurier $(DATA)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

e2e: deps build
	$(PY) -m pytest tests/e2e -q -p no:cacheprovider

test: deps build
	@bash scripts/test.sh $(BUILD)

bench: deps build
	@bash bench/run.sh $(BUILD)

# Not part of `test`: testssl.sh, nmap's smtp-open-relay and the smuggling/framing/TLS/file-mode test
# files against a kurier of its own on loopback; one PASS/FAIL line per check (docs/security.md).
security: deps build
	@bash scripts/security.sh $(BUILD)

# The size rules of src/ (issue 13): no file above 900 lines, no function above 120.
size:
	$(PY) scripts/code_size.py src

# As a service (README "Installing as a service"): the binary, kurier.service, /etc/kurier/kurier.toml
# (kept if present); then, unless DESTDIR is set, kurier-setup makes the kurier user, /var/lib/kurier and
# the first install (as root). PREFIX defaults to /usr/local.
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX) --strip
	@if [ -n "$(DESTDIR)" ]; then echo "installed under $(DESTDIR); run $(PREFIX)/libexec/kurier/kurier-setup as root on the target"; \
	elif [ "$$(id -u)" -eq 0 ]; then $(PREFIX)/libexec/kurier/kurier-setup && \
	  echo "start it with: systemctl daemon-reload && systemctl enable --now kurier"; \
	else echo "run $(PREFIX)/libexec/kurier/kurier-setup as root to create the kurier user and /var/lib/kurier"; fi

# The Debian package, $(BUILD)/kurier_VERSION_ARCH.deb (CPack; Depends from dpkg-shlibdeps).
deb: build
	cd $(BUILD) && cpack -G DEB

fuzz: deps-build
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKURIER_FUZZ=ON -DKURIER_TESTS=OFF -DKURIER_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	@bash fuzz/run.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
