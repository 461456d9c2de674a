# tests/hardening.mk: sanitizer, valgrind and fuzzing builds, and the fuzz
# replay drivers that `make test` runs. Included by the top-level Makefile.
#
#   make test-asan       the whole Check suite (float and double) built with
#                        AddressSanitizer + UndefinedBehaviorSanitizer; also
#                        the bin/um and fuzz replay drivers the tests run
#   make test-valgrind   the whole Check suite under valgrind (memcheck), one
#                        thread, AVX2 (valgrind has no AVX-512); slow: ~30x
#   make fuzz            every libFuzzer target for FUZZ_TIME seconds each
#                        (clang); crashes land in tests/fuzz/regressions/<t>/
#   make fuzz-one FUZZ_TARGET=checkpoint FUZZ_TIME=600
#
# The sanitizer build lives in build/asan/ and bin/asan/, the fuzz build in
# build/fuzz/ and bin/fuzz/; neither touches the product build.

FUZZ_TARGETS := checkpoint data questions config options
FUZZ_TIME ?= 60
FUZZ_CC ?= clang
FUZZ_JOBS ?= 1

# ---------------------------------------------------------------- replay drivers
# Each fuzz target linked with tests/fuzz/driver.c instead of libFuzzer: runs
# the target once per file. The options target needs an options.c whose
# exit() returns to the target (-Dexit=um_fuzz_exit, see fuzz_options.c).
FUZZ_REPLAY := $(FUZZ_TARGETS:%=bin/fuzz/replay_%)
FUZZ_HDR := tests/fuzz/fuzz_common.h

build/f32/fuzz/options_noexit.o: lib/cli/options.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Dexit=um_fuzz_exit -c $< -o $@

bin/fuzz/replay_options: tests/fuzz/fuzz_options.c tests/fuzz/driver.c build/f32/fuzz/options_noexit.o lib/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS)

bin/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c lib/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS)

# `make test` runs the replay suite and the CLI/fault suites, which exec
# these programs: build them before the runner (order-only, not linked in).
bin/test_f32: | $(FUZZ_REPLAY) bin/um

# ---------------------------------------------------------------- ASan + UBSan
# gcc's -fsanitize=undefined leaves out float-cast-overflow; a huge number
# cast to int is exactly what a fuzzed flag or config produces, so add it.
SAN_FLAGS   := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
# At -O1 gcc's format-truncation analysis differs from -O3's and flags
# snprintf calls the product build accepts: a warning here, not an error.
ASAN_CFLAGS  = $(filter-out -O3,$(CFLAGS)) -O1 -g -Wno-error=format-truncation $(SAN_FLAGS)
ASAN32_OBJ  := $(LIB_SRC:%.c=build/asan/f32/%.o)
ASAN64_OBJ  := $(filter-out $(SIMD_SRC:%.c=build/asan/f64/%.o),$(LIB_SRC:%.c=build/asan/f64/%.o))
ASAN_CLI    := $(CLI_SRC:%.c=build/asan/f32/%.o)
ASAN_VIZ    := $(VIZ_SRC:%.c=build/asan/f32/%.o)
ASAN_T32    := $(TEST_SRC:%.c=build/asan/f32/%.o) $(TEST_HELP:%.c=build/asan/f32/%.o)
ASAN_T64    := $(GRAD_SRC:%.c=build/asan/f64/%.o) $(TEST_HELP64:%.c=build/asan/f64/%.o)
ASAN_REPLAY := $(FUZZ_TARGETS:%=bin/asan/fuzz/replay_%)

build/asan/f32/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(if $(filter %_avx2.c,$<),$(AVX2_FLAGS)) $(if $(filter %_avx512.c,$<),$(AVX512_FLAGS)) \
	  $(if $(filter viz/% tests/%,$<),$(SDL_CFLAGS) $(STB_CFLAGS) $(CHECK_CFLAGS)) -c $< -o $@

build/asan/f64/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -DUM_DOUBLE -DUM_NO_SIMD $(if $(filter tests/%,$<),$(CHECK_CFLAGS)) -c $< -o $@

build/asan/f32/libum.a: $(ASAN32_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/f64/libum.a: $(ASAN64_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/f32/tests/runner.o: tests/runner.c build/f32/suites.gen.h
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(CHECK_CFLAGS) -Ibuild/f32 -c $< -o $@
build/asan/f64/tests/runner.o: tests/runner.c build/f64/suites.gen.h
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -DUM_DOUBLE $(CHECK_CFLAGS) -Ibuild/f64 -c $< -o $@

bin/asan/um: $(ASAN_CLI) $(ASAN_VIZ) build/asan/f32/libum.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(SDL_LIBS) $(LDLIBS)

bin/asan/test_f32: build/asan/f32/tests/runner.o $(ASAN_T32) $(filter-out build/asan/f32/viz/window%,$(ASAN_VIZ)) build/asan/f32/libum.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(CHECK_LIBS) $(SDL_LIBS) $(LDLIBS)

bin/asan/test_f64: build/asan/f64/tests/runner.o $(ASAN_T64) build/asan/f64/libum.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $^ -o $@ $(CHECK_LIBS) $(LDLIBS)

build/asan/f32/fuzz/options_noexit.o: lib/cli/options.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -Dexit=um_fuzz_exit -c $< -o $@

bin/asan/fuzz/replay_options: tests/fuzz/fuzz_options.c tests/fuzz/driver.c build/asan/f32/fuzz/options_noexit.o build/asan/f32/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS)

bin/asan/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c build/asan/f32/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS)

# The suites find bin/um and the replay drivers through UM_BIN / UM_FUZZ_BIN,
# so in this build they exec the sanitized programs too. Timeouts are doubled
# (ASan costs ~2-3x). halt_on_error: the first report fails the test.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            UM_BIN=bin/asan/um UM_FUZZ_BIN=bin/asan/fuzz CK_TIMEOUT_MULTIPLIER=5

.PHONY: test-asan test-valgrind fuzz fuzz-one fuzz-build
test-asan: datasets bin/asan/test_f32 bin/asan/test_f64 bin/asan/um $(ASAN_REPLAY)
	@echo "== float suites, ASan + UBSan =="
	$(ASAN_ENV) bin/asan/test_f32
	@echo "== double suites, ASan + UBSan =="
	$(ASAN_ENV) bin/asan/test_f64

# ---------------------------------------------------------------- valgrind
# Check forks every test and valgrind follows forks (not execs), so each
# test's process is checked on its own: an error or a definite/indirect leak
# makes that process exit 99 and Check reports the test by name. (CK_FORK=no
# cannot work: the exit tests, e.g. "um_die on a bad target", would end the
# runner.) Timeouts x30 (valgrind is ~30x slower). One OpenMP thread
# (libgomp's pool is noise, not a leak); AVX2 kernels (valgrind cannot decode
# AVX-512).
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --track-origins=no
VALGRIND_ENV := CK_TIMEOUT_MULTIPLIER=30 OMP_NUM_THREADS=1 UM_SIMD=$(if $(filter yes,$(HAVE_AVX2)),avx2,scalar)

test-valgrind: all bin/test_f32 bin/test_f64
	@echo "== float suites under valgrind (slow: minutes) =="
	$(VALGRIND_ENV) $(VALGRIND) bin/test_f32
	@echo "== double suites under valgrind =="
	$(VALGRIND_ENV) $(VALGRIND) bin/test_f64

# ---------------------------------------------------------------- fuzzing
# libFuzzer needs clang: Debian's clang and libclang-rt-14-dev. The library is
# rebuilt with coverage (fuzzer-no-link) + ASan + UBSan; no OpenMP.
# -MMD -MP: header dependencies (the top Makefile includes build/**/*.d); without
# them a changed struct in a header left stale objects that disagreed on its size.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -MMD -MP $(WARN) -Ilib -Iviz -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_SRC := $(LIB_SRC)
FUZZ_OBJ    := $(FUZZ_LIB_SRC:%.c=build/fuzz/%.o)
FUZZ_BINS   := $(FUZZ_TARGETS:%=bin/fuzz/fuzz_%)

build/fuzz/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	  $(if $(filter %_avx2.c,$<),$(AVX2_FLAGS)) $(if $(filter %_avx512.c,$<),$(AVX512_FLAGS)) -c $< -o $@

build/fuzz/libum.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/options_noexit.o: lib/cli/options.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Dexit=um_fuzz_exit -c $< -o $@

bin/fuzz/fuzz_options: tests/fuzz/fuzz_options.c build/fuzz/options_noexit.o build/fuzz/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(filter %.c %.o %.a,$^) -o $@ -lm

bin/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libum.a $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(filter %.c %.a,$^) -o $@ -lm

fuzz-build: $(FUZZ_BINS)

# One target: the working corpus grows in out/fuzz/corpus/<t> (not in git);
# the seeds in tests/fuzz/seeds/<t> are read only. A crash or leak stops the
# run and is written to tests/fuzz/regressions/<t>/ for `make test` to replay.
# nice -n 19: fuzzing must not steal the machine from anything else.
FUZZ_TARGET ?= checkpoint
FUZZ_FLAGS ?= -close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
fuzz-one: bin/fuzz/fuzz_$(FUZZ_TARGET)
	@mkdir -p out/fuzz/corpus/$(FUZZ_TARGET) tests/fuzz/regressions/$(FUZZ_TARGET)
	nice -n 19 bin/fuzz/fuzz_$(FUZZ_TARGET) $(FUZZ_FLAGS) -max_total_time=$(FUZZ_TIME) \
	  -artifact_prefix=tests/fuzz/regressions/$(FUZZ_TARGET)/ \
	  out/fuzz/corpus/$(FUZZ_TARGET) tests/fuzz/seeds/$(FUZZ_TARGET)

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	  $(MAKE) --no-print-directory fuzz-one FUZZ_TARGET=$$t FUZZ_TIME=$(FUZZ_TIME) || exit 1; \
	done

# Seeds: small real checkpoints (make_seeds.c) plus hand-written files for
# the other targets, committed under tests/fuzz/seeds/<t>/.
bin/fuzz/make_seeds: tests/fuzz/make_seeds.c lib/libum.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

fuzz-seeds: bin/fuzz/make_seeds
	@mkdir -p tests/fuzz/seeds/checkpoint
	bin/fuzz/make_seeds tests/fuzz/seeds/checkpoint tests/fuzz/seeds/config
