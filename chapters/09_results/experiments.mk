# chapters/09_results/experiments.mk: the quality table (issue #11).
# Included by the top-level Makefile.
#
#   make experiments          train every (arch, corpus, seed) at EXP_SIZE,
#                             then the speed pass, then the report
#   make experiments-runs     only the training runs (EXP_JOBS at a time)
#   make experiments-speed    only the speed pass (one run at a time)
#   make experiments-report   only re-read the runs and rewrite EXP_REPORT and
#                             its figures (any time, also while runs train)
#   make experiments-status   print each run's state and step (writes nothing)
#
# Every run has its own directory, $(EXP_OUT)/runs/<corpus>/<arch>/seed<N>/,
# with a checkpoint every 10% of the steps. Interrupt with Ctrl-C whenever you
# like and run the same command again: finished runs are skipped and
# unfinished ones resume from their last checkpoint (bit-identical to an
# uninterrupted run), so at most 10% of one run per job is lost. See
# chapters/09_results/run_one.sh for what each directory holds.
#
# Knobs (on the make command line):
#   EXP_SIZE=small            model/training preset (nano, tiny, small)
#   EXP_STEPS=                steps per run (empty: the preset's: nano 60, tiny 1200, small 4000)
#   EXP_ARCHS="dense pkm moe ultramem ultramem2 peer"
#   EXP_CORPORA="encyclopedia fortunes"   out/data/<corpus>.txt; fact recall
#                             where out/data/<corpus>_questions.tsv exists
#   EXP_SEEDS="1 2 3"         one run per seed (the spread in the table)
#   EXP_JOBS=2                runs in parallel, each on 1 thread (on 2 cores
#                             this is the best throughput)
#   EXP_OUT=out/experiments/$(EXP_SIZE)
#   EXP_REPORT=chapters/09_results/results.md   (figures go to its figures/ dir)
#   EXP_SPEED_STEPS=40        steps of each speed-pass run
#
# Chapter 08's comparison uses the same harness:
#   make experiments EXP_SIZE=tiny EXP_STEPS=1000 EXP_SEEDS=1 \
#     EXP_ARCHS="dense moe ultramem ultramem2 peer" EXP_REPORT=chapters/08_ultramem_v2/results.md
#
# Run time (small: 4000 steps x 16 x 256 = 16.4M tokens per run; details in
# chapters/09_results/EXPERIMENTS.md). Measured training speeds on one thread
# of this machine (tokens/s): dense 9.3k, MoE 8.9k, PKM 7.7k, UltraMem 7.1k,
# UltraMemV2 7.1k, PEER 2.7k. Hours per run, with ~5% for validation every
# 10% (8 batches), the final evaluation and fact recall:
#   dense 0.5, MoE 0.55, PKM 0.6, UltraMem 0.7, UltraMemV2 0.7, PEER 1.8
#   -> 4.8 h of single-thread work for the six archs on one corpus, one seed;
#   -> 29 h for 2 corpora x 3 seeds: about 15 h wall-clock with EXP_JOBS=2.
#      The speed pass adds about 6 minutes. Everything scales linearly with EXP_STEPS.

EXP_SIZE ?= small
EXP_STEPS ?=
EXP_ARCHS ?= dense pkm moe ultramem ultramem2 peer
EXP_CORPORA ?= encyclopedia fortunes
EXP_SEEDS ?= 1 2 3
EXP_JOBS ?= 2
EXP_OUT ?= out/experiments/$(EXP_SIZE)
EXP_REPORT ?= chapters/09_results/results.md
EXP_SPEED_STEPS ?= 40

# The presets' step counts (lib/model/config.c, config_preset); the runner
# needs the number to place a checkpoint every 10% of the run.
EXP_PRESET_STEPS_nano := 60
EXP_PRESET_STEPS_tiny := 1200
EXP_PRESET_STEPS_small := 4000
EXP_STEPS_RUN = $(or $(EXP_STEPS),$(EXP_PRESET_STEPS_$(EXP_SIZE)))
EXP_FIGURES = $(patsubst %/,%,$(dir $(EXP_REPORT)))/figures

EXP_DATA = $(EXP_CORPORA:%=out/data/%.txt)
# Runs in this order: all of seed 1 first, so a partial table is a useful one.
EXP_RUNS = $(foreach s,$(EXP_SEEDS),$(foreach c,$(EXP_CORPORA),$(foreach a,$(EXP_ARCHS),$(EXP_OUT)/runs/$(c)/$(a)/seed$(s)/done)))
EXP_SPEED = $(EXP_ARCHS:%=$(EXP_OUT)/speed/%/summary.txt)
EXP_PARAMS = $(EXP_ARCHS:%=$(EXP_OUT)/params/%.txt)
# The speed pass trains on the first corpus.
EXP_SPEED_DATA = out/data/$(firstword $(EXP_CORPORA)).txt

# How to repeat this exact table (printed in the report's header).
EXP_COMMAND = make experiments EXP_SIZE=$(EXP_SIZE) EXP_STEPS=$(EXP_STEPS_RUN) EXP_ARCHS="$(EXP_ARCHS)" \
  EXP_CORPORA="$(EXP_CORPORA)" EXP_SEEDS="$(EXP_SEEDS)" EXP_JOBS=$(EXP_JOBS) EXP_OUT=$(EXP_OUT) \
  EXP_REPORT=$(EXP_REPORT) EXP_SPEED_STEPS=$(EXP_SPEED_STEPS)

.PHONY: experiments experiments-runs experiments-runs-each experiments-speed experiments-report experiments-status

# Runs (in parallel, carrying on past a failed one), then the speed pass
# alone, then the report, which is written even when some runs failed or are
# missing (it marks them); the exit status then says that something failed.
experiments: bin/um bin/exp_report $(EXP_DATA)
	@test -n "$(EXP_STEPS_RUN)" || { echo "error: EXP_SIZE=$(EXP_SIZE): unknown preset; give EXP_STEPS" >&2; exit 2; }
	@echo "experiments: $(words $(EXP_RUNS)) runs of $(EXP_STEPS_RUN) steps at $(EXP_SIZE), $(EXP_JOBS) at a time, into $(EXP_OUT)"
	@failed=0; \
	$(MAKE) --no-print-directory -k -j$(EXP_JOBS) experiments-runs-each || failed=1; \
	$(MAKE) --no-print-directory -k -j1 experiments-speed || failed=1; \
	$(MAKE) --no-print-directory experiments-report || failed=1; \
	if [ $$failed -ne 0 ]; then echo "experiments: some runs failed; the report marks them" >&2; fi; \
	exit $$failed

# The runs alone, EXP_JOBS at a time, carrying on past a failed one.
experiments-runs: bin/um $(EXP_DATA)
	$(MAKE) --no-print-directory -k -j$(EXP_JOBS) experiments-runs-each

experiments-runs-each: $(EXP_RUNS)

experiments-speed: $(EXP_SPEED)

experiments-report: bin/exp_report $(EXP_PARAMS)
	bin/exp_report --out $(EXP_OUT) --report $(EXP_REPORT) --figures $(EXP_FIGURES) \
	  --size $(EXP_SIZE) --steps $(EXP_STEPS_RUN) --seeds "$(EXP_SEEDS)" --archs "$(EXP_ARCHS)" \
	  --corpora "$(EXP_CORPORA)" --speed-steps $(EXP_SPEED_STEPS) --command '$(EXP_COMMAND)'

experiments-status: bin/exp_report
	@bin/exp_report --status --out $(EXP_OUT) --size $(EXP_SIZE) --steps $(EXP_STEPS_RUN) --seeds "$(EXP_SEEDS)" \
	  --archs "$(EXP_ARCHS)" --corpora "$(EXP_CORPORA)"

# One training run: <corpus>/<arch>/seed<N>. Order-only prerequisites: a
# rebuilt bin/um must not restart finished runs.
$(EXP_OUT)/runs/%/done: | bin/um $(EXP_DATA)
	@set -- $(subst /, ,$*); \
	bash chapters/09_results/run_one.sh $(@D) $$2 $(EXP_SIZE) $(EXP_STEPS_RUN) $${3#seed} out/data/$$1.txt \
	  $$( [ -f out/data/$$1_questions.tsv ] && echo out/data/$$1_questions.tsv )

# The speed pass: each arch alone (make -j1), one thread, a short run with
# no validation until the end; tokens/s is what `um train` measured over its
# steps (validation and checkpoints excluded: there are none mid-run).
$(EXP_OUT)/speed/%/summary.txt: | bin/um $(EXP_SPEED_DATA)
	@mkdir -p $(@D)
	@echo "[speed $*] $(EXP_SPEED_STEPS) steps alone on 1 thread: log in $(@D)/train.log"
	@bin/um train --arch $* --size $(EXP_SIZE) --steps $(EXP_SPEED_STEPS) --eval-every 0 --threads 1 \
	  --data $(EXP_SPEED_DATA) --summary $@ --no-viz > $(@D)/train.log 2>&1 \
	  || { echo "[speed $*] FAILED: see $(@D)/train.log" >&2; exit 1; }

# Parameter and FLOP counts of each arch (cheap; the table has them even for
# runs that have not finished).
$(EXP_OUT)/params/%.txt: | bin/um
	@mkdir -p $(@D)
	@bin/um params --arch $* --size $(EXP_SIZE) > $@.tmp && mv $@.tmp $@

# The aggregator: linked like the chapter demos (the library and the drawing
# layer, without the SDL window).
bin/exp_report: chapters/09_results/report.c lib/libum.a $(VIZ_OBJ) | check-deps
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SDL_CFLAGS) $(STB_CFLAGS) chapters/09_results/report.c \
	  $(filter-out build/f32/viz/window%,$(VIZ_OBJ)) lib/libum.a -o $@ $(SDL_LIBS) $(LDLIBS)
