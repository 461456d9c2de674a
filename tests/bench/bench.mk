# tests/bench/bench.mk: the benchmark programs behind `make bench`.
# Included by the top-level Makefile; uses its CC, CFLAGS, LDLIBS and lib/libum.a.
#
# OpenBLAS is optional: when pkg-config finds it, bench_matmul also times
# cblas_sgemm on the same shapes and prints matmul_vs_openblas.
BENCH_HAVE_BLAS := $(shell pkg-config --exists openblas 2>/dev/null && echo yes)
BENCH_BLAS_CFLAGS = $(if $(BENCH_HAVE_BLAS),-DUM_HAVE_OPENBLAS $(shell pkg-config --cflags openblas))
BENCH_BLAS_LIBS = $(if $(BENCH_HAVE_BLAS),$(shell pkg-config --libs openblas))

BENCH_BINS := bin/bench_matmul

bin/bench_matmul: tests/bench/bench_matmul.c lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(BENCH_BLAS_CFLAGS) $< lib/libum.a -o $@ $(BENCH_BLAS_LIBS) $(LDLIBS)

BENCH_BINS += bin/bench_vec

bin/bench_vec: tests/bench/bench_vec.c lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $< lib/libum.a -o $@ $(LDLIBS)

# Training tokens/s of the tiny preset per arch at 1 and 2 threads, and the
# same dense model in PyTorch (tests/bench/torch_tiny.py) when /usr/bin/python3
# can import torch. Reads out/data/fortunes.txt: run from the repository root.
BENCH_BINS += bin/bench_train

bin/bench_train: tests/bench/bench_train.c lib/libum.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $< lib/libum.a -o $@ $(LDLIBS)
