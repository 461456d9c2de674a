# grade.mk: the graded exercises (included by the Makefile).
#
#   make grade                     grade your code in exercises/*.c, every exercise
#   make grade EX=1.2              one exercise (several: EX="1.1 3.2"), with every failure shown
#   make grade SOLUTIONS=reference grade student files with lib/'s reference regions copied in
#                                  (build/grade/solutions-src; must score full marks)
#   make grade SOLUTIONS=stubs     grade fresh stubs made from lib/ (must score 0, never crash)
#   make bin/um-exercises          the trainer linked with your exercise code (um train --use-exercises)
#   make exercises-check           fail if exercises/*.c drifted from lib/ (signatures, regions)
#   make exercises-stubs           (teachers) rewrite exercises/*.c from lib/; old files are backed up
#
# How an exercise is graded (exercises/README.md tells the whole story):
#   build/grade/<variant>/ex_1_1/lib.c    lib/kernels/matmul.c with region 1.1 taken from the student
#                                         file (only that region: other exercises stay reference)
#   build/grade/ref/lib/kernels/matmul.o  the reference object with every function renamed ref_*
#   build/grade/<variant>/ex_1_1/test     exercises/tests/ex_1_1.c + the two + build/f64/libum.a
# all in the double build, where finite differences are accurate.

EX_TOOL     := exercises/tools/exercise.sh
EX_MANIFEST := exercises/manifest.tsv
EX_DEPS     := $(EX_TOOL) exercises/tools/regions.awk $(EX_MANIFEST)
# id|lib file|student file, one word per exercise
EX_TABLE    := $(shell awk -F'\t' '!/^\#/ && NF >= 6 { print $$1 "|" $$3 "|" $$4 }' $(EX_MANIFEST) 2>/dev/null)
EX_IDS      := $(foreach r,$(EX_TABLE),$(word 1,$(subst |, ,$(r))))
ex_lib       = $(word 2,$(subst |, ,$(filter $(1)|%,$(EX_TABLE))))
ex_student   = $(word 3,$(subst |, ,$(filter $(1)|%,$(EX_TABLE))))
EX_LIB_FILES := $(sort $(foreach i,$(EX_IDS),$(call ex_lib,$(i))))
EX_STUDENT_FILES := $(sort $(foreach i,$(EX_IDS),exercises/$(call ex_student,$(i))))

GRADE_F64   = $(CFLAGS) -DUM_DOUBLE -DUM_NO_SIMD
# Student code: the TODO macro, and no error for the parameters a stub ignores.
GRADE_STUDENT_FLAGS := -include exercises/todo.h -Wno-unused-parameter -Wno-unused-function
GRADE_TEST_OBJ := build/grade/tests/main.o build/grade/tests/grade_util.o

.PHONY: grade exercises-check exercises-stubs grade-build

# Where each variant takes the exercise regions from.
GRADE_FROM_student   := exercises
GRADE_FROM_stubs     := build/grade/stubs-src
GRADE_FROM_reference := build/grade/solutions-src

build/grade/stubs-src/.stamp: $(EX_LIB_FILES) $(EX_DEPS)
	@mkdir -p $(@D)
	@$(EX_TOOL) stubs $(@D)
	@touch $@

build/grade/solutions-src/.stamp: $(EX_LIB_FILES) $(EX_DEPS)
	@mkdir -p $(@D)
	@$(EX_TOOL) solutions $(@D)
	@touch $@

# $(1) variant, $(2) id, $(3) id with _ (1_1), $(4) lib file, $(5) what the region comes from
define GRADE_EXERCISE_RULES
build/grade/$(1)/ex_$(3)/lib.c: $(4) $(5) $(EX_DEPS)
	@mkdir -p $$(@D)
	@$(EX_TOOL) substitute $(GRADE_FROM_$(1)) $(4) $$@ $(2)
build/grade/$(1)/ex_$(3)/lib.o: build/grade/$(1)/ex_$(3)/lib.c exercises/todo.h
	@$(CC) $(GRADE_F64) $(GRADE_STUDENT_FLAGS) -c $$< -o $$@
build/grade/$(1)/ex_$(3)/test: build/grade/tests/ex_$(3).o $(GRADE_TEST_OBJ) build/grade/$(1)/ex_$(3)/lib.o \
                               build/grade/ref/$(4:.c=.o) build/f64/libum.a
	@$(CC) $(GRADE_F64) $$^ -o $$@ $(CHECK_LIBS) $(LDLIBS)
endef
$(foreach i,$(EX_IDS),$(eval $(call GRADE_EXERCISE_RULES,student,$(i),$(subst .,_,$(i)),$(call ex_lib,$(i)),exercises/$(call ex_student,$(i)))))
$(foreach i,$(EX_IDS),$(eval $(call GRADE_EXERCISE_RULES,stubs,$(i),$(subst .,_,$(i)),$(call ex_lib,$(i)),build/grade/stubs-src/.stamp)))
$(foreach i,$(EX_IDS),$(eval $(call GRADE_EXERCISE_RULES,reference,$(i),$(subst .,_,$(i)),$(call ex_lib,$(i)),build/grade/solutions-src/.stamp)))

# The reference object of a lib file with each function it defines renamed
# ref_<name>, so a test links it beside the student's version of the same file.
build/grade/ref/%.o: build/f64/%.o
	@mkdir -p $(@D)
	@nm -g --defined-only $< | awk 'NF == 3 { print $$3, "ref_" $$3 }' > $@.syms
	@objcopy --redefine-syms=$@.syms $< $@

build/grade/tests/%.o: exercises/tests/%.c exercises/tests/grade_util.h
	@mkdir -p $(@D)
	@$(CC) $(GRADE_F64) $(CHECK_CFLAGS) -Iexercises/tests -c $< -o $@

# grade.sh builds the test binaries (one exercise's compile error costs only
# that exercise), runs each with CK_FORK=yes under a time limit, and prints
# one line per exercise and the TOTAL.
grade: build/f64/libum.a
	+@MAKE="$(MAKE)" bash exercises/tools/grade.sh $(or $(SOLUTIONS),student) $(EX)

exercises-check:
	@$(EX_TOOL) check exercises

exercises-stubs:
	@backup=build/exercises-backup/$$(date +%Y%m%d-%H%M%S); mkdir -p $$backup; \
	cp exercises/*.c $$backup/ 2>/dev/null || true; \
	$(EX_TOOL) stubs exercises && echo "wrote $(EX_STUDENT_FILES) from lib/ (previous files in $$backup)"

# ---------------------------------------------------------------- um train --use-exercises
# The float library with EVERY exercise region taken from exercises/*.c, and
# the CLI linked against it. lib/cli/use_exercises.c re-executes this binary
# when `um train --use-exercises` is given.
STUDENT_OBJ := $(EX_LIB_FILES:%.c=build/student/%.o)

build/student/lib/%.c: lib/%.c $(EX_STUDENT_FILES) $(EX_DEPS)
	@mkdir -p $(@D)
	@$(EX_TOOL) substitute exercises $< $@

build/student/lib/%.o: build/student/lib/%.c exercises/todo.h
	$(CC) $(CFLAGS) $(GRADE_STUDENT_FLAGS) -c $< -o $@

build/student/libum.a: $(filter-out $(EX_LIB_FILES:%.c=build/f32/%.o),$(LIB32_OBJ)) $(STUDENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/student/cli/use_exercises.o: lib/cli/use_exercises.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DUM_EXERCISES_BUILD -c $< -o $@

bin/um-exercises: $(filter-out build/f32/lib/cli/use_exercises.o,$(CLI_OBJ)) build/student/cli/use_exercises.o \
                  $(VIZ_OBJ) build/student/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $^ -o $@ $(SDL_LIBS) $(LDLIBS)
