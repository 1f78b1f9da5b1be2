# ClipTrace — the README's quick start is `make demo` then `make test`.
SWIFT ?= swift
DEMO_DIR ?= demo-output
# Release builds everywhere: the pixel and index loops are 10-50x slower unoptimised, and the tests drive the
# CLI on real media. The tests need no -enable-testing (they use only public and package API): with
# --disable-testable-imports `swift test` compiles the libraries exactly as `swift build` does, so `make test`
# after `make demo` (or the other way round) compiles only the test targets instead of everything again.
TEST = $(SWIFT) test -c release --disable-testable-imports
BIN = $(shell $(SWIFT) build -c release --show-bin-path)/cliptrace

PREFIX ?= /usr/local
DESTDIR ?=
MANUAL_DIR = .build/manual
MANUAL = $(MANUAL_DIR)/cliptrace.1
INSTALLED = $(DESTDIR)$(PREFIX)/bin/cliptrace $(DESTDIR)$(PREFIX)/share/man/man1/cliptrace.1 \
	$(DESTDIR)$(PREFIX)/share/bash-completion/completions/cliptrace \
	$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_cliptrace \
	$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/cliptrace.fish

.PHONY: setup build demo test torture sanitize eval bench ratios testmedia golden clean check-dependency check-install install uninstall

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product cliptrace

# Registers the testmedia reference clips into a fresh catalogue and scans the testmedia "recordings".
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@echo "== register the reference clips (testmedia/references) =="
	$(BIN) register --catalogue $(DEMO_DIR)/catalogue.sqlite --owner "ClipTrace demo" testmedia/references/*.mp4
	@echo "== scan the recordings (testmedia/recordings); ground truth in testmedia/recordings.tsv =="
	$(BIN) scan --catalogue $(DEMO_DIR)/catalogue.sqlite testmedia/recordings
	@echo "== the same as CSV =="
	$(BIN) scan --catalogue $(DEMO_DIR)/catalogue.sqlite --format csv --quiet testmedia/recordings
	@echo "== and as an HTML report =="
	$(BIN) scan --catalogue $(DEMO_DIR)/catalogue.sqlite --format html --output $(DEMO_DIR)/report.html --quiet testmedia/recordings
	@echo "open $(DEMO_DIR)/report.html in a browser"

test:
	@scripts/setup.sh --for-tests
	$(TEST)

# A throwaway package depending on a tagged clone of this repository with `from:` builds and runs.
check-dependency:
	scripts/check_versioned_dependency.sh

# make install into a scratch DESTDIR, then make uninstall: exactly the installed files come and go.
check-install:
	scripts/check_install.sh

# The long robustness loops at full size: 50 SIGKILLs during register, 1,000,000 mutated fingerprint files,
# a scan of 300 hostile files.
torture: setup
	CLIPTRACE_KILL_TRIALS=50 CLIPTRACE_FUZZ_ITERATIONS=1000000 CLIPTRACE_BAD_CORPUS_SIZE=300 CLIPTRACE_LEAK_FILES=1000 \
		$(TEST) --filter "killDuringRegister|mutations|hostileCorpus|manyFiles"

# The suite under AddressSanitizer (with LeakSanitizer: a leak fails the run), then the parts that run work
# concurrently (scan's task group, the HTML report's parallel thumbnails, processes sharing a catalogue)
# under ThreadSanitizer. Separate build folders: the instrumented builds take a few minutes each.
sanitize:
	@scripts/setup.sh --for-tests
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp \
		$(SWIFT) test --disable-xctest --sanitize=address --scratch-path .build/asan
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --disable-xctest --sanitize=thread --scratch-path .build/tsan \
		--filter "CLITests|HTMLReportTests|MatcherTests"

# Accuracy on the real-content evaluation kit (builds its corpus on first use, ~4 minutes).
eval: setup
	../shared/eval/run.sh

bench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

ratios: setup
	Benchmarks/ratios.sh

testmedia:
	testmedia/generate.sh

golden:
	python3 Tests/Golden/make_golden.py

# The release binary, a man page generated from --help and shell completions, under PREFIX (default /usr/local;
# DESTDIR for packaging). The man page comes from swift-argument-parser's generate-manual tool run on the release
# binary: its package plugin would build the whole package a second time in a build of its own.
install: build
	$(SWIFT) build -c release --product generate-manual
	@mkdir -p $(MANUAL_DIR)
	$(dir $(BIN))generate-manual $(BIN) --output-directory $(MANUAL_DIR)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cliptrace
	install -m 644 $(MANUAL) $(DESTDIR)$(PREFIX)/share/man/man1/cliptrace.1
	$(BIN) --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cliptrace
	$(BIN) --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_cliptrace
	$(BIN) --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/cliptrace.fish
	@echo "installed cliptrace under $(DESTDIR)$(PREFIX)"

# Removes exactly the files install put there, nothing else.
uninstall:
	rm -f $(INSTALLED)

clean:
	rm -rf .build $(DEMO_DIR)
