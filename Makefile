SHELL := /bin/bash
# DWCP toolkit. `make demo` runs the main job, `make test` passes the tests.
# Both install what they need from Debian with apt (as root, or via sudo) on a fresh machine.

SWIFT       ?= swift
PREFIX      ?= /usr/local
DOCS_DATE   := 2026-11-25
FUZZ_SECONDS ?= 20
BENCH_CORPUS ?=
TOOLS       := dwcp-encode dwcp-predict dwcp-send dwcp-recv dwcp-detect dwcp-migrate dwcp-place dwcp-rep
RELEASE_BIN := .build/release
# Release binaries carry the Swift runtime: they start in ~4.7 ms instead of ~7.8 (no dynamic
# loading of libswiftCore, Foundation, dispatch), and `make install` needs no Swift on the target.
RELEASE_BUILD = $(SWIFT) build -c release --static-swift-stdlib
DEBUG_BIN   := .build/debug

# Debian packages: building, testing (the real zstd CLI for interop), demo, benchmarks.
BUILD_DEBS  := pkg-config libzstd-dev liblz4-dev libbrotli-dev libxxhash-dev libssl-dev librdmacm-dev libibverbs-dev
# The migration tests boot a guest: QEMU, and a kernel + busybox initramfs built from Debian packages.
TEST_DEBS   := openssl zstd iproute2 python3 qemu-system-x86 busybox-static cpio gcc libc6-dev strace groff-base
DEMO_DEBS   := gdb python3 qemu-system-x86 busybox-static cpio gcc libc6-dev
BENCH_DEBS  := openssl zstd lz4 brotli xdelta3 rsync sqlite3 nodejs gdb python3 time iperf3 socat iproute2 qemu-system-x86 busybox-static cpio gcc libc6-dev

APT = $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

define need_debs
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:" $$missing; \
	  $(APT) update -qq && $(APT) install -y -qq $$missing >/dev/null; \
	fi
endef

.PHONY: all build release test unit-test docs docs-check fuzz fuzz-smoke demo bench install clean deps

all: build

deps:
	$(call need_debs,$(BUILD_DEBS) $(TEST_DEBS))

build: deps
	$(SWIFT) build

release: deps
	$(RELEASE_BUILD)

unit-test: build
	$(SWIFT) test

test: unit-test docs-check fuzz-smoke

# Man pages and shell completions are generated from the argument definitions and checked in.
docs: build
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --configuration debug --date $(DOCS_DATE) >/dev/null
	mkdir -p man completions
	for t in $(TOOLS); do \
	  $(DEBUG_BIN)/$$t --experimental-dump-help > .build/$$t.help.json; \
	  python3 scripts/man-defaults.py .build/plugins/GenerateManual/outputs/$$t/$$t.1 .build/$$t.help.json > man/$$t.1; \
	  $(DEBUG_BIN)/$$t --generate-completion-script bash > completions/$$t.bash; \
	  $(DEBUG_BIN)/$$t --generate-completion-script zsh > completions/_$$t; \
	  $(DEBUG_BIN)/$$t --generate-completion-script fish > completions/$$t.fish; \
	done

docs-check: build
	@tmp=$$(mktemp -d) && cp -r man completions $$tmp/ && $(MAKE) --no-print-directory docs >/dev/null && \
	if ! diff -r $$tmp/man man >/dev/null || ! diff -r $$tmp/completions completions >/dev/null; then \
	  diff -r $$tmp/man man; diff -r $$tmp/completions completions; \
	  rm -rf man completions; cp -r $$tmp/man $$tmp/completions .; rm -rf $$tmp; \
	  echo "docs-check: man pages or completions are stale: run 'make docs' and commit" >&2; exit 1; \
	fi; rm -rf $$tmp; echo "docs-check: man pages and completions are up to date"
	@lint=$$(for f in man/*.1; do LC_ALL=C groff -man -ww -z $$f 2>&1; done); \
	if [ -n "$$lint" ]; then echo "$$lint" >&2; echo "docs-check: groff warns about the man pages" >&2; exit 1; fi; \
	echo "docs-check: man pages render without a groff warning"

# libFuzzer (ASan + coverage) over the decoder, seeded with small real streams of every codec, and
# over every other parser of input a user or a peer controls (Fuzz/ParseFuzzer), seeded by the
# toolkit's own writers. FUZZ_SECONDS each.
FUZZ_FLAGS = --scratch-path .build-fuzz \
	-Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,pc-table,inline-8bit-counters \
	-Xswiftc -parse-as-library \
	-Xlinker $$(dirname $$(readlink -f $$(which swift)))/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a -Xlinker -lstdc++
FUZZ_RUN = -artifact_prefix=.build-fuzz/ -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_REPORT = grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done|==[0-9]+==|Fatal error|fatal error'

fuzz: build
	DWCP_FUZZ=1 $(SWIFT) build $(FUZZ_FLAGS) --product DecodeFuzzer
	DWCP_FUZZ=1 $(SWIFT) build $(FUZZ_FLAGS) --product ParseFuzzer
	@mkdir -p .build-fuzz/corpus && head -c 40000 /dev/urandom > .build-fuzz/seed.bin && \
	  printf 'zero pages, text, repeats %.0s' $$(seq 1 300) >> .build-fuzz/seed.bin && \
	  for c in zstd lz4 brotli none; do \
	    $(DEBUG_BIN)/dwcp-encode -f -c $$c --block-size 4K --page-size 512 -o .build-fuzz/corpus/$$c .build-fuzz/seed.bin; \
	    (cat .build-fuzz/corpus/$$c; printf '\001') > .build-fuzz/corpus/$$c.repair; \
	  done && \
	  cat .build-fuzz/corpus/zstd .build-fuzz/corpus/lz4 > .build-fuzz/corpus/concatenated && \
	  $(DEBUG_BIN)/dwcp-encode -f --format zstd -o .build-fuzz/corpus/plain-zstd .build-fuzz/seed.bin && \
	  { head -c 20000 .build-fuzz/seed.bin; printf 'an edit'; tail -c +20008 .build-fuzz/seed.bin | head -c 9000; \
	    head -c 8192 .build-fuzz/seed.bin; tail -c +30000 .build-fuzz/seed.bin; } > .build-fuzz/round2.bin && \
	  printf 'in place' | dd of=.build-fuzz/round2.bin bs=1 seek=12388 conv=notrunc status=none && \
	  for c in zstd lz4; do \
	    $(DEBUG_BIN)/dwcp-encode -f -c $$c --baseline .build-fuzz/seed.bin --block-size 4K --page-size 512 \
	      -o .build-fuzz/corpus/delta-$$c .build-fuzz/round2.bin; \
	    (cat .build-fuzz/corpus/delta-$$c; printf '\001') > .build-fuzz/corpus/delta-$$c.repair; \
	    $(DEBUG_BIN)/dwcp-encode -f -c $$c --page-checksums --window 0 --baseline .build-fuzz/seed.bin --block-size 4K --page-size 512 \
	      -o .build-fuzz/corpus/pages-delta-$$c .build-fuzz/round2.bin; \
	    (cat .build-fuzz/corpus/pages-delta-$$c; printf '\001') > .build-fuzz/corpus/pages-delta-$$c.repair; \
	    (cat .build-fuzz/corpus/pages-delta-$$c; printf '\001\001') > .build-fuzz/corpus/pages-delta-$$c.round; \
	  done && \
	  $(DEBUG_BIN)/dwcp-encode -f --page-checksums --block-size 4K --page-size 512 -o .build-fuzz/corpus/pages .build-fuzz/seed.bin
	DWCP_FUZZ_BASELINE=.build-fuzz/seed.bin SWIFT_BACKTRACE=enable=no .build-fuzz/debug/DecodeFuzzer $(FUZZ_RUN) .build-fuzz/corpus 2>&1 | $(FUZZ_REPORT); \
	  test $${PIPESTATUS[0]} -eq 0
	@mkdir -p .build-fuzz/parse-corpus && DWCP_FUZZ_SEEDS=.build-fuzz/parse-corpus .build-fuzz/debug/ParseFuzzer
	SWIFT_BACKTRACE=enable=no .build-fuzz/debug/ParseFuzzer $(FUZZ_RUN) .build-fuzz/parse-corpus 2>&1 | $(FUZZ_REPORT); \
	  test $${PIPESTATUS[0]} -eq 0

fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

demo: deps
	$(call need_debs,$(DEMO_DEBS))
	$(RELEASE_BUILD)
	scripts/demo.sh $(RELEASE_BIN)

bench: deps
	$(call need_debs,$(BENCH_DEBS))
	$(RELEASE_BUILD)
	scripts/bench-encode.py $(RELEASE_BIN) $(BENCH_CORPUS)
	scripts/bench-predict.sh $(RELEASE_BIN)
	scripts/bench-transport.sh $(RELEASE_BIN)
	scripts/bench-place.sh $(RELEASE_BIN)
	scripts/bench-rep.sh $(RELEASE_BIN)
	scripts/bench-migrate.sh $(RELEASE_BIN)
	scripts/bench-image.sh $(RELEASE_BIN)
	scripts/bench-image-wan.sh $(RELEASE_BIN)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for t in $(TOOLS); do \
	  install -m 755 $(RELEASE_BIN)/$$t $(DESTDIR)$(PREFIX)/bin/$$t; \
	  install -m 644 man/$$t.1 $(DESTDIR)$(PREFIX)/share/man/man1/$$t.1; \
	  install -m 644 completions/$$t.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t; \
	  install -m 644 completions/_$$t $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$t; \
	  install -m 644 completions/$$t.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$t.fish; \
	done

clean:
	rm -rf .build .build-fuzz
