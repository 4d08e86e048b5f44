# cleanup - build, test, benchmark.  `make` builds ./cleanup; `make test` runs the suite.
# Portable C99. OpenMP is used when the compiler supports it; `make OPENMP=0` builds without.

CC      ?= cc
OPENMP  ?= 1
OPT     ?= -O2
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c99 -Wall -Wextra -pedantic
LDLIBS  += -lm

# Float arithmetic must be evaluated in float (FLT_EVAL_METHOD 0, as on x86-64,
# ARM and RISC-V): then every target computes the same bits. 32-bit x86 computes
# in the x87 unit's 80-bit registers by default (FLT_EVAL_METHOD 2): use SSE2
# instead (every x86 CPU since the Pentium 4). gcc on s390x evaluates float
# expressions in double in ISO C mode (FLT_EVAL_METHOD 1) although the hardware
# has float instructions: -fexcess-precision=fast lets it use them.
HASH := \#
FLT_EVAL_PROBE = $(shell printf '$(HASH)include <float.h>\nFLT_EVAL_METHOD\n' | $(CC) -std=c99 $(1) -E -P - 2>/dev/null | tail -n 1)
ifneq ($(call FLT_EVAL_PROBE),0)
ifneq ($(shell printf '$(HASH)ifdef __i386__\nx86\n$(HASH)endif\n' | $(CC) -E -P - 2>/dev/null | tail -n 1),)
FLOATFLAGS := -msse2 -mfpmath=sse
else
FLOATFLAGS := -fexcess-precision=fast
endif
ifneq ($(call FLT_EVAL_PROBE,$(FLOATFLAGS)),0)
$(warning FLT_EVAL_METHOD is not 0 with $(CC) $(FLOATFLAGS): results may differ from other targets)
endif
CFLAGS  += $(FLOATFLAGS)
endif

ifeq ($(OPENMP),1)
OMPFLAGS := $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null >/dev/null 2>&1 && echo -fopenmp)
endif
CFLAGS  += $(OMPFLAGS)
LDFLAGS += $(OMPFLAGS)

BUILD   ?= build
# Every top-level .c file except the CLI (cleanup.c, cli_*.c) is library code shared with the tests.
LIBSRC  := $(filter-out cleanup.c cli_%.c,$(wildcard *.c))
CLISRC  := $(wildcard cli_*.c)
CLIOBJ  := $(patsubst %.c,$(BUILD)/%.o,$(CLISRC))
LIBOBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIBSRC))
HEADERS := $(wildcard *.h)
TESTSRC := $(wildcard tests/test_*.c)
TESTBIN := $(patsubst tests/%.c,$(BUILD)/%,$(TESTSRC))

.PHONY: all test clean bench bench-native bench-tokenizer native fetch test-cross test-cross-full test-cross-ci

all: cleanup weights/planted/config.json

cleanup: $(BUILD)/cleanup.o $(CLIOBJ) $(BUILD)/libcleanup.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the library archive, so each pulls in only the modules it uses.
$(BUILD)/libcleanup.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The commit the program was built from, for --version, report.md and run.txt.
# tools/same_outputs.sh sets it to compare builds of different commits.
# $(BUILD)/commit.txt changes only when the commit does, so version.o is rebuilt only then.
VERSION_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet HEAD 2>/dev/null && echo ", modified")
$(shell mkdir -p $(BUILD) && { [ -f $(BUILD)/commit.txt ] && [ "$$(cat $(BUILD)/commit.txt)" = "$(VERSION_COMMIT)" ] || printf '%s' "$(VERSION_COMMIT)" > $(BUILD)/commit.txt; })
$(BUILD)/version.o: $(BUILD)/commit.txt
$(BUILD)/version.o: CFLAGS += -DCLEANUP_COMMIT='"$(VERSION_COMMIT)"'

# CPPFLAGS: for a measurement's variant build, e.g. `make BUILD=build-x CPPFLAGS=-DATTN_QB=192`
# (an OPT on the command line would also replace the -O3 of the kernels and model.c below).
$(BUILD)/%.o: %.c $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/test_%: tests/test_%.c tests/check.h $(BUILD)/libcleanup.a $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $(LDFLAGS) -o $@ $< $(BUILD)/libcleanup.a $(LDLIBS)

# It compiles the kernels and the kernel tests into itself.
$(BUILD)/test_kernels_portable: tests/test_kernels.c kernels_baseline.c

$(BUILD):
	mkdir -p $(BUILD)

test: cleanup weights/planted/config.json $(TESTBIN)
	sh tests/run.sh $(BUILD)

# -ffp-contract=fast: gcc in ISO C mode never fuses a*b + c; with it gcc uses
# FMA like clang does (~10% on matmul). Results stay deterministic per build.
NATIVE_OPT := -O3 -march=native -ffp-contract=fast
native:
	$(MAKE) OPT="$(NATIVE_OPT)" BUILD=build-native

clean:
	rm -rf $(BUILD) build-native build-san build-fuzz cleanup \
	    $(addprefix build-,$(CROSS_ALL)) build-cross-ref

# Other architectures (tools/test_cross.sh): cross-built statically with
# Debian's cross compilers into build-ARCH/ (installed with apt-get if missing)
# and run under qemu-user-static: build, planted `all` byte for byte against
# this host's baseline kernels, the whole test suite. ARCHES picks the targets;
# test-cross-full adds riscv64; test-cross-ci is the shorter selection .ci/run
# runs (s390x and armhf, 40 prompts, the format/load/engine/bad-input/data tests).
CROSS_ALL := aarch64 armhf s390x i686 riscv64
ARCHES    ?= aarch64 armhf s390x i686
test-cross:
	sh tools/test_cross.sh $(ARCHES)
test-cross-full:
	sh tools/test_cross.sh $(CROSS_ALL)
test-cross-ci:
	sh tools/test_cross.sh --ci s390x armhf

# `make install PREFIX=/usr/local [DESTDIR=/staging]`: the program (it needs no other
# file: without a model directory it builds the planted model in memory) and its docs.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DOCDIR  ?= $(PREFIX)/share/doc/cleanup
DOCS    := README.md EXPERIMENTS.md BENCHMARKS.md CONTRIBUTING.md docs/PROTOCOL.md
# INSTALL_BIN: the binary to install (tests/test_anywhere.sh installs the one under test).
INSTALL_BIN ?= cleanup
.PHONY: install uninstall
install: $(INSTALL_BIN)
	mkdir -p "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(DOCDIR)"
	cp "$(INSTALL_BIN)" "$(DESTDIR)$(BINDIR)/cleanup.tmp" && chmod 755 "$(DESTDIR)$(BINDIR)/cleanup.tmp" && \
	    mv -f "$(DESTDIR)$(BINDIR)/cleanup.tmp" "$(DESTDIR)$(BINDIR)/cleanup"
	for f in $(DOCS); do cp "$$f" "$(DESTDIR)$(DOCDIR)/" && chmod 644 "$(DESTDIR)$(DOCDIR)/$$(basename $$f)" || exit 1; done
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/cleanup"
	for f in $(DOCS); do rm -f "$(DESTDIR)$(DOCDIR)/$$(basename $$f)"; done
	-rmdir "$(DESTDIR)$(DOCDIR)" 2>/dev/null

# Optional: download gelu-4l, its tokenizer and data rows (needs network and curl).
fetch:
	sh tools/fetch_gelu4l.sh weights/gelu-4l

# The bundled planted model (the default model of `cleanup all`), built by the program itself.
weights/planted/config.json: cleanup
	./cleanup synth --out weights/planted

# ---------------------------------------------------------------------------
# Robustness (issue 7): libFuzzer targets and the sanitized test suite.
# `make fuzz` needs clang with libFuzzer (Debian: clang libclang-rt-14-dev); it is
# a developer target, not part of `make test`.
FUZZCC    ?= clang
FUZZBUILD := build-fuzz
FUZZFLAGS := -std=c99 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fsanitize-coverage-ignorelist=fuzz/coverage_ignore.txt
FUZZSRC   := $(wildcard fuzz/fuzz_*.c)
FUZZBIN   := $(patsubst fuzz/%.c,$(FUZZBUILD)/%,$(FUZZSRC))
FUZZLIB   := $(patsubst %.c,$(FUZZBUILD)/lib/%.o,$(LIBSRC))
SECONDS   ?= 60

.PHONY: fuzz fuzz-run test-sanitize sanitize-programs programs

fuzz: $(FUZZBIN)

$(FUZZBUILD)/lib/%.o: %.c $(HEADERS)
	@mkdir -p $(FUZZBUILD)/lib
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZBUILD)/libcleanup.a: $(FUZZLIB)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZBUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(FUZZBUILD)/libcleanup.a
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer -I. -o $@ $< $(FUZZBUILD)/libcleanup.a -lm

# Runs each target for SECONDS seconds, one at a time, on its committed seeds
# (fuzz/corpus/NAME) plus a scratch corpus (build-fuzz/corpus/NAME).
fuzz-run: fuzz
	@for t in $(FUZZBIN); do \
	    n=$$(basename $$t); mkdir -p $(FUZZBUILD)/corpus/$$n fuzz/corpus/$$n; \
	    dict=; [ -f fuzz/$$n.dict ] && dict=-dict=fuzz/$$n.dict; \
	    $$t -max_total_time=$(SECONDS) -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZBUILD)/$$n- $$dict $(FUZZBUILD)/corpus/$$n fuzz/corpus/$$n \
	        >$(FUZZBUILD)/$$n.log 2>&1; rc=$$?; \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZBUILD)/$$n.log); \
	    echo "$$n: $${runs:-?} executions in $(SECONDS) s, exit $$rc"; \
	    if [ $$rc -ne 0 ]; then tail -n 60 $(FUZZBUILD)/$$n.log; exit 1; fi; \
	done

# The whole suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (any compiler that supports them; objects and the binary go to build-san/,
# shell tests run build-san/cleanup through $$CLEANUP).
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

sanitize-programs: programs

# The binary and the test programs, all in $(BUILD)/ (the sanitized and the
# cross-compiled suites run these: ./cleanup stays the host's).
programs: $(BUILD)/cleanup $(TESTBIN)

$(BUILD)/cleanup: $(BUILD)/cleanup.o $(CLIOBJ) $(BUILD)/libcleanup.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-sanitize: weights/planted/config.json
	LDFLAGS="$(SANFLAGS)" $(MAKE) BUILD=build-san OPT="-O1 -g $(SANFLAGS)" sanitize-programs
	ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    CLEANUP=build-san/cleanup sh tests/run.sh build-san

# Tokenizer throughput alone (bench's tokenizer section; needs
# ../shared/data/20B_tokenizer.json and says so without it).
bench-tokenizer:
	$(MAKE) bench BENCHFLAGS="--only tokenizer"

# The kernels are written for vectorizers; gcc vectorizes all of their loops
# only at -O3 (an OPT given on the command line still wins).
$(BUILD)/kernels_baseline.o $(BUILD)/kernels_avx2.o $(BUILD)/kernels_avx512.o $(BUILD)/kernels_bf16.o: OPT = -O3
# On x86-64 the kernels are compiled a second time for AVX2 + FMA and a third
# time for AVX-512; kernels.c runs each copy only where the CPU and the OS
# support it (kernels.h: kernels_init). Elsewhere, or when the compiler does
# not know the flags, kernels_avx2.c and kernels_avx512.c compile to empty tables.
# model.c's attention loops (scale, head sum, residual add) likewise; elementwise,
# so vectorizing them changes no bit (gcc reorders no float sum without -ffast-math).
$(BUILD)/model.o $(BUILD)/top2_screen.o: OPT = -O3
ifneq ($(filter x86_64-% amd64-%,$(shell $(CC) -dumpmachine)),)
AVX512FLAGS := -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma
AVX512FLAGS := $(shell printf 'int main(void){return 0;}' | $(CC) $(AVX512FLAGS) -x c - -o /dev/null >/dev/null 2>&1 && echo $(AVX512FLAGS))
BF16FLAGS := -mavx512f -mavx512bf16
BF16FLAGS := $(shell printf 'int main(void){return 0;}' | $(CC) $(BF16FLAGS) -x c - -o /dev/null >/dev/null 2>&1 && echo $(BF16FLAGS))
$(BUILD)/kernels_avx2.o: CFLAGS += -mavx2 -mfma -ffp-contract=fast
$(BUILD)/kernels_avx512.o: CFLAGS += $(AVX512FLAGS) -ffp-contract=fast
# The screening product (kernels.h: screen_product), run only where the CPU has AVX512_BF16.
$(BUILD)/kernels_bf16.o: CFLAGS += $(BF16FLAGS)
endif
$(BUILD)/kernels_avx2.o $(BUILD)/kernels_avx512.o: kernels_baseline.c

# `make bench`: performance numbers (bench/bench.c; not part of `make test`).
# `make bench-native` for the -march=native build (build-native/).
$(BUILD)/bench: bench/bench.c $(BUILD)/libcleanup.a $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $(LDFLAGS) -o $@ $< $(BUILD)/libcleanup.a $(LDLIBS)

# The benchmark runs the cleanup binary of the same build ($(BUILD)/cleanup), so
# `make bench-native` leaves ./cleanup as it is.
bench: $(BUILD)/bench $(BUILD)/cleanup
	CLEANUP=$(BUILD)/cleanup $(BUILD)/bench $(BENCHFLAGS)

bench-native:
	$(MAKE) OPT="$(NATIVE_OPT)" BUILD=build-native bench
