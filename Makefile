# ultramem.c: the one entry point.
#
#   make            build lib/libum.a, bin/um and the bundled datasets
#   make run        train the default model on real text, show the visualiser
#   make test       build and run every Check suite
#   make chNN       run chapter NN's demo (e.g. make ch02)
#   make bench      print speed figures (never part of the tests)
#   make deps       install the Debian packages we need (as root), or say how
#
# Knobs: CC=clang, SIMD=0 (scalar kernels only), OMP=0 (no OpenMP), DEBUG=1.

CC ?= gcc
SHELL := /bin/bash

# ---------------------------------------------------------------- flags
# Never fast-math (nor the -O level that implies it): it makes isnan() lie and breaks GELU.
WARN   := -Wall -Wextra -Werror -Wno-unknown-pragmas
OPT    := -O3
ifeq ($(DEBUG),1)
OPT    := -O0 -g
endif
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Ilib -Iviz -MMD -MP
LDLIBS := -lm

# OpenMP: used when the compiler has it (OMP=0 turns it off).
ifneq ($(OMP),0)
HAVE_OMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes)
endif
ifeq ($(HAVE_OMP),yes)
CFLAGS += -fopenmp
LDLIBS += -fopenmp
endif

# SIMD: kernels named *_avx2.c / *_avx512.c get their own -m flags and are
# chosen at run time; SIMD=0 leaves them out so only *_ref kernels exist.
AVX2_FLAGS   := -mavx2 -mfma
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mavx2
ifeq ($(SIMD),0)
CFLAGS += -DUM_NO_SIMD
endif
HAVE_AVX2   := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo yes || echo no)
HAVE_AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes || echo no)

# System packages, found through pkg-config (evaluated lazily, after `deps`).
SDL_CFLAGS   = $(shell pkg-config --cflags sdl2)
SDL_LIBS     = $(shell pkg-config --libs sdl2)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)
STB_CFLAGS   = $(shell pkg-config --cflags stb)

# ---------------------------------------------------------------- sources
LIB_SRC    := $(shell find lib -name '*.c' -not -path 'lib/cli/*' | sort)
SIMD_SRC   := $(filter %_avx2.c %_avx512.c,$(LIB_SRC))
ifeq ($(SIMD),0)
LIB_SRC    := $(filter-out $(SIMD_SRC),$(LIB_SRC))
endif
CLI_SRC    := $(sort $(wildcard lib/cli/*.c))
VIZ_SRC    := $(sort $(wildcard viz/*.c))
TEST_SRC   := $(sort $(wildcard tests/test_*.c))
GRAD_SRC   := $(sort $(wildcard tests/gradcheck_*.c))
TEST_HELP  := $(sort $(wildcard tests/helpers/*.c))
# golden.c compares canvases: it needs the visualiser, which the double build lacks.
TEST_HELP64 := $(filter-out tests/helpers/golden.c,$(TEST_HELP))

# Two builds of the same library: float (the product) and double (for
# finite-difference gradient checks). The double build has no SIMD files.
LIB32_OBJ  := $(LIB_SRC:%.c=build/f32/%.o)
LIB64_OBJ  := $(filter-out $(SIMD_SRC:%.c=build/f64/%.o),$(LIB_SRC:%.c=build/f64/%.o))
CLI_OBJ    := $(CLI_SRC:%.c=build/f32/%.o)
VIZ_OBJ    := $(VIZ_SRC:%.c=build/f32/%.o)

DATA_FILES := out/data/fortunes.txt out/data/encyclopedia.txt out/data/encyclopedia_questions.tsv

.PHONY: all run test bench deps check-deps clean datasets info
all: info check-deps lib/libum.a bin/um datasets

info:
	@echo "build: CC=$(CC) OpenMP=$(if $(HAVE_OMP),yes,no) AVX2=$(HAVE_AVX2) AVX-512=$(HAVE_AVX512) SIMD=$(if $(filter 0,$(SIMD)),off,on)"

# ---------------------------------------------------------------- deps
# Runs the installer only when something is missing.
check-deps:
	@pkg-config --exists sdl2 check stb 2>/dev/null && [ -d /usr/share/games/fortunes ] || bash .ci/deps.sh

deps:
	bash .ci/deps.sh

# ---------------------------------------------------------------- compile
build/f32/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(if $(filter %_avx2.c,$<),$(AVX2_FLAGS)) $(if $(filter %_avx512.c,$<),$(AVX512_FLAGS)) \
	  $(if $(filter viz/% tests/%,$<),$(SDL_CFLAGS) $(STB_CFLAGS) $(CHECK_CFLAGS)) -c $< -o $@

build/f64/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DUM_DOUBLE -DUM_NO_SIMD $(if $(filter tests/%,$<),$(CHECK_CFLAGS)) -c $< -o $@

lib/libum.a: $(LIB32_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/f64/libum.a: $(LIB64_OBJ)
	@rm -f $@
	ar rcs $@ $^

bin/um: $(CLI_OBJ) $(VIZ_OBJ) lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(CLI_OBJ) $(VIZ_OBJ) lib/libum.a -o $@ $(SDL_LIBS) $(LDLIBS)

# ---------------------------------------------------------------- data
datasets: $(DATA_FILES)

out/data/fortunes.txt: datasets/import_fortunes.sh | check-deps
	@mkdir -p out/data
	bash datasets/import_fortunes.sh $@

bin/gen_encyclopedia: datasets/gen_encyclopedia.c lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $< lib/libum.a -o $@ $(LDLIBS)

# The text depends on the generator's source, not on every library rebuild.
out/data/encyclopedia.txt out/data/encyclopedia_questions.tsv &: datasets/gen_encyclopedia.c | bin/gen_encyclopedia
	@mkdir -p out/data
	bin/gen_encyclopedia --out out/data/encyclopedia.txt --questions out/data/encyclopedia_questions.tsv

# ---------------------------------------------------------------- run
RUN_FLAGS ?= --arch dense --size tiny
run: all
	bin/um train $(RUN_FLAGS) --data out/data/fortunes.txt --ckpt out/run/model.ckpt
	bin/um sample --ckpt out/run/model.ckpt --prompt "The " --tokens 300

# ---------------------------------------------------------------- tests
# One runner per build; the suite list is every `Suite *name_suite(void)`
# found at the start of a line in the test files.
build/%/suites.gen.h: $(TEST_SRC) $(GRAD_SRC)
	@mkdir -p $(@D)
	@files="$(if $(filter f64,$*),$(GRAD_SRC),$(TEST_SRC))"; \
	names=$$(grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $$files | sed 's/^Suite \*//; s/(void)//'); \
	{ for n in $$names; do echo "Suite *$$n(void);"; done; \
	  echo "#define UM_ALL_SUITES \\"; for n in $$names; do echo "    X($$n) \\"; done; echo ""; } > $@

TEST32_OBJ := $(TEST_SRC:%.c=build/f32/%.o) $(TEST_HELP:%.c=build/f32/%.o)
TEST64_OBJ := $(GRAD_SRC:%.c=build/f64/%.o) $(TEST_HELP64:%.c=build/f64/%.o)

build/f32/tests/runner.o: tests/runner.c build/f32/suites.gen.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -Ibuild/f32 -c $< -o $@
build/f64/tests/runner.o: tests/runner.c build/f64/suites.gen.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DUM_DOUBLE $(CHECK_CFLAGS) -Ibuild/f64 -c $< -o $@

bin/test_f32: build/f32/tests/runner.o $(TEST32_OBJ) $(filter-out build/f32/viz/window%,$(VIZ_OBJ)) lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $^ -o $@ $(CHECK_LIBS) $(SDL_LIBS) $(LDLIBS)

bin/test_f64: build/f64/tests/runner.o $(TEST64_OBJ) build/f64/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $^ -o $@ $(CHECK_LIBS) $(LDLIBS)

# Passive OpenMP waiting: Check forks a child per test and each child's
# threads would otherwise spin at exit; the gradient checks run thousands of
# tiny forwards where a thread pool costs more than it saves.
test: all bin/test_f32 bin/test_f64
	@echo "== float suites (kernels, layers, data, checkpoints, training, visualiser, grader) =="
	OMP_WAIT_POLICY=passive bin/test_f32
	@echo "== double suites (finite-difference gradient checks) =="
	OMP_NUM_THREADS=1 bin/test_f64

# ---------------------------------------------------------------- chapters
# make ch02 -> builds chapters/02_*/main.c into bin/ch02 and runs it.
.SECONDEXPANSION:
bin/ch%: $$(wildcard chapters/$$*_*/main.c) lib/libum.a $(VIZ_OBJ) | check-deps
	@test -n "$(wildcard chapters/$*_*/main.c)" || { echo "error: chapter $* has no demo to run; read chapters/$*_*/README.md" >&2; exit 2; }
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SDL_CFLAGS) $(STB_CFLAGS) $(wildcard chapters/$*_*/main.c) \
	  $(filter-out build/f32/viz/window%,$(VIZ_OBJ)) lib/libum.a -o $@ $(SDL_LIBS) $(LDLIBS)

ch%: all bin/ch%
	bin/ch$*

clean:
	rm -rf build bin out/obj lib/libum.a

-include $(shell find build -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- fragments
# Larger features keep their rules beside their code.
-include exercises/grade.mk
-include tests/bench/bench.mk

bench: lib/libum.a $(BENCH_BINS)
	@for b in $(BENCH_BINS); do $$b || exit 1; done
-include tests/hardening.mk
-include chapters/09_results/experiments.mk
