# hearth: the two commands that matter are `make run` and `make test`.
# Everything they need is installed by scripts/deps.sh (Debian packages, npm).
.PHONY: all deps build server run install uninstall test soak unit e2e asan-build asan fuzz bench clean format format-check

JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 15
SOAK_FUZZ_SECONDS ?= 120
BIN := build/release/hearth

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Only the hearth binary: no unit tests, no fuzzers.
server: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target hearth

# Builds hearth and serves the platform on http://127.0.0.1:8080: the demo
# deployed as the site `localhost`, a `notes` collection, the console and its
# token (scripts/run-demo.sh; the same data folder again duplicates nothing).
run: server
	@HEARTH_BIN=$(BIN) scripts/run-demo.sh

# `hearth` on the PATH: $(DESTDIR)$(PREFIX)/bin/hearth (sudo for /usr/local).
install: server
	@install -d "$(DESTDIR)$(PREFIX)/bin"
	@install -m 755 $(BIN) "$(DESTDIR)$(PREFIX)/bin/hearth"
	@echo "installed $(DESTDIR)$(PREFIX)/bin/hearth"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/hearth"

unit: build
	@cd build/release && ctest --output-on-failure -j $(JOBS)

e2e: build
	@HEARTH_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 tests/e2e/

# One clang build serves both: ASan/UBSan for hearth and its unit tests, and
# the libFuzzer targets (coverage instrumentation costs the others little).
asan-build: deps
	@cmake --preset asan -DHEARTH_WERROR=ON >/dev/null
	@cmake --build --preset asan -j $(JOBS)

asan: asan-build
	@cd build/asan && ctest --output-on-failure -j $(JOBS)
	@HEARTH_BIN=$(CURDIR)/build/asan/hearth HEARTH_SLOW=1 node --test --test-concurrency=1 tests/e2e/

# Each target for FUZZ_SECONDS, as many at once as there are cores.
fuzz: asan-build
	@ls build/asan/*_fuzz | xargs -P $(JOBS) -I{} scripts/fuzz-one.sh {} $(FUZZ_SECONDS)

# Everything: the release build with warnings as errors, unit and end-to-end
# tests, the same under ASan/UBSan, a bounded fuzzing run, and testssl.sh
# against the release binary (tests/scan). The short tier of the long suites
# (see soak); about 25 minutes on 2 cores, README.md has each stage's cost.
test: deps
	@scripts/format.sh --check
	@cmake --preset release -DHEARTH_WERROR=ON >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@cd build/release && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory asan
	@HEARTH_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 tests/e2e/
	@HEARTH_BIN=$(CURDIR)/$(BIN) node --test tests/scan/

# The full tier, by hand before an issue is resolved: the suites that repeat
# (cycles, trials, fault matrices) or move big data at full size
# (HEARTH_SOAK=1, read through tier() in tests/e2e/helpers.mjs), release and
# ASan/UBSan, and each fuzzer for SOAK_FUZZ_SECONDS.
soak: deps
	@cmake --preset release -DHEARTH_WERROR=ON >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@cd build/release && HEARTH_SOAK=1 ctest --output-on-failure -j $(JOBS)
	@HEARTH_SOAK=1 HEARTH_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 tests/e2e/
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(SOAK_FUZZ_SECONDS)
	@HEARTH_SOAK=1 $(MAKE) --no-print-directory asan

bench: build
	@scripts/deps.sh --bench
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/run.sh
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/sites.sh
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/uploads.sh
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/data.sh
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/tls.sh
	@HEARTH_BIN=$(CURDIR)/$(BIN) bash bench/proxy.sh

# The tree's C++ in .clang-format's style; format-check fails on a file that is not.
format:
	@scripts/format.sh

format-check:
	@scripts/format.sh --check

clean:
	rm -rf build
