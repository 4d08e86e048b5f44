# cleanup - build, test, benchmark.  `make` builds ./cleanup; `make test` runs the suite.
# Portable C99. OpenMP is used when the compiler supports it; `make OPENMP=0` builds without.

CC      ?= cc
OPENMP  ?= 1
OPT     ?= -O2
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c99 -Wall -Wextra -pedantic
LDLIBS  += -lm

ifeq ($(OPENMP),1)
OMPFLAGS := $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null >/dev/null 2>&1 && echo -fopenmp)
endif
CFLAGS  += $(OMPFLAGS)
LDFLAGS += $(OMPFLAGS)

BUILD   ?= build
# Every top-level .c file except the CLI is library code shared with the tests.
LIBSRC  := $(filter-out cleanup.c,$(wildcard *.c))
LIBOBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIBSRC))
HEADERS := $(wildcard *.h)
TESTSRC := $(wildcard tests/test_*.c)
TESTBIN := $(patsubst tests/%.c,$(BUILD)/%,$(TESTSRC))

.PHONY: all test clean bench native fetch

all: cleanup weights/planted/config.json

cleanup: $(BUILD)/cleanup.o $(BUILD)/libcleanup.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the library archive, so each pulls in only the modules it uses.
$(BUILD)/libcleanup.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/test_%: tests/test_%.c tests/check.h $(BUILD)/libcleanup.a $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $(LDFLAGS) -o $@ $< $(BUILD)/libcleanup.a $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

test: cleanup $(TESTBIN)
	sh tests/run.sh $(BUILD)

native:
	$(MAKE) OPT="-O3 -march=native" BUILD=build-native

clean:
	rm -rf $(BUILD) build-native cleanup

# Optional: download gelu-4l, its tokenizer and data rows (needs network and curl).
fetch:
	sh tools/fetch_gelu4l.sh weights/gelu-4l

# The bundled planted model (the default model of `cleanup all`), built by the program itself.
weights/planted/config.json: cleanup
	./cleanup synth --out weights/planted
