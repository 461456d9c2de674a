// test_data.c: the byte loader's edge cases and split, and the question reader.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "helpers/testutil.h"
#include "model/data.h"
#include "model/questions.h"

// Writes n bytes to dir/name and returns the path in a static buffer.
static const char *write_bytes(const char *dir, const char *name, const void *bytes, size_t n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

static void remove_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static unsigned char *random_bytes(size_t n, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)rng_u32(&rng);
    return b;
}

// ------------------------------------------------------------ load errors

START_TEST(test_missing_file) {
    UmData d;
    UmError err = {""};
    ck_assert_int_eq(data_load(&d, "/nonexistent/dir/nothing.txt", 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
}
END_TEST

START_TEST(test_empty_file) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    UmData d;
    UmError err = {""};
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "empty.txt", "", 0), 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    remove_dir(dir);
}
END_TEST

START_TEST(test_too_short) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    // 50 bytes -> chunks of 5, validation is one 5-byte chunk: too short for T=8
    unsigned char *b = random_bytes(50, 1);
    UmData d;
    UmError err = {""};
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "short.txt", b, 50), 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too short"));
    // ...but fine for T=4, which needs 5 bytes on each side
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "short.txt", b, 50), 4, &err), 0);
    ck_assert_uint_eq(data_val_bytes(&d), 5);
    ck_assert_uint_eq(data_train_bytes(&d), 45);
    data_free(&d);
    free(b);
    remove_dir(dir);
}
END_TEST

START_TEST(test_directory) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    UmData d;
    UmError err = {""};
    ck_assert_int_eq(data_load(&d, dir, 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
    remove_dir(dir);
}
END_TEST

START_TEST(test_binary_with_nul) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    unsigned char b[3000];
    for (int i = 0; i < 3000; i++) b[i] = (unsigned char)(i % 7 == 0 ? 0 : i);  // many NULs
    UmData d;
    UmError err = {""};
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "bin.dat", b, sizeof b), 16, &err), 0);
    ck_assert_uint_eq(d.n, sizeof b);
    ck_assert_int_eq(memcmp(d.bytes, b, sizeof b), 0);
    data_free(&d);
    remove_dir(dir);
}
END_TEST

// ------------------------------------------------------------ the split

START_TEST(test_split_deterministic) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    size_t n = 123457;
    unsigned char *b = random_bytes(n, 2);
    const char *path = write_bytes(dir, "r.bin", b, n);
    UmData d1, d2;
    UmError err;
    ck_assert_int_eq(data_load(&d1, path, 32, &err), 0);
    ck_assert_int_eq(data_load(&d2, path, 64, &err), 0);  // T does not change the split
    ck_assert_uint_eq(d1.n_train, d2.n_train);
    ck_assert_uint_eq(d1.n_val, d2.n_val);
    ck_assert_int_eq(memcmp(d1.train, d2.train, d1.n_train), 0);
    ck_assert_int_eq(memcmp(d1.val, d2.val, d1.n_val), 0);
    data_free(&d1);
    data_free(&d2);
    free(b);
    remove_dir(dir);
}
END_TEST

// Rebuilding the file by taking chunks alternately from the two streams, by
// the documented rule, must give the file back: the split is a partition.
static void check_partition(size_t n, int T) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    unsigned char *b = random_bytes(n, n);
    UmData d;
    UmError err;
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "p.bin", b, n), T, &err), 0);
    ck_assert_uint_eq(d.n_train + d.n_val, n);
    size_t chunk = data_chunk_bytes(n), it = 0, iv = 0;
    for (size_t start = 0, i = 0; start < n; start += chunk, i++) {
        size_t take = n - start < chunk ? n - start : chunk;
        int is_val = i % 10 == 9;
        const unsigned char *src = is_val ? d.val + iv : d.train + it;
        ck_assert_int_eq(memcmp(src, b + start, take), 0);
        if (is_val) iv += take;
        else it += take;
    }
    ck_assert_uint_eq(it, d.n_train);
    ck_assert_uint_eq(iv, d.n_val);
    // representative: close to 10% validation
    ck_assert(d.n_val * 100 >= n * 9 && d.n_val * 100 <= n * 11);
    data_free(&d);
    free(b);
    remove_dir(dir);
}

START_TEST(test_split_partition) {
    check_partition(1000000, 64);  // 4 KiB chunks
    check_partition(5000, 16);    // small file: 500-byte chunks
    ck_assert_uint_eq(data_chunk_bytes(1000000), 4096);
    ck_assert_uint_eq(data_chunk_bytes(1000), 100);
}
END_TEST

// ------------------------------------------------------------ batches

static int row_in(const unsigned char *stream, size_t n, const int *in, const int *tg, int T) {
    unsigned char row[256];
    for (int t = 0; t < T; t++) row[t] = (unsigned char)in[t];
    row[T] = (unsigned char)tg[T - 1];
    return memmem(stream, n, row, (size_t)T + 1) != NULL;
}

START_TEST(test_train_batches) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    size_t n = 50000;
    unsigned char *b = random_bytes(n, 3);
    UmData d;
    UmError err;
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "t.bin", b, n), 32, &err), 0);
    enum { B = 6, T = 32 };
    int in1[B * T], tg1[B * T], in2[B * T], tg2[B * T];
    UmRng r1, r2;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    for (int step = 0; step < 20; step++) {
        data_train_batch(&d, &r1, B, T, in1, tg1);
        data_train_batch(&d, &r2, B, T, in2, tg2);
        ck_assert_int_eq(memcmp(in1, in2, sizeof in1), 0);  // same seed, same batches
        ck_assert_int_eq(memcmp(tg1, tg2, sizeof tg1), 0);
        for (int row = 0; row < B; row++) {
            const int *in = in1 + row * T, *tg = tg1 + row * T;
            for (int t = 0; t + 1 < T; t++) ck_assert_int_eq(tg[t], in[t + 1]);  // shifted by one
            ck_assert(row_in(d.train, d.n_train, in, tg, T));  // a window of the train stream
            ck_assert(!row_in(d.val, d.n_val, in, tg, T));
        }
    }
    UmRng r3;
    rng_seed(&r3, 43);
    data_train_batch(&d, &r3, B, T, in2, tg2);
    ck_assert_int_ne(memcmp(in1, in2, sizeof in1), 0);
    data_free(&d);
    free(b);
    remove_dir(dir);
}
END_TEST

START_TEST(test_val_batches) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    size_t n = 100000;
    unsigned char *b = random_bytes(n, 4);
    UmData d;
    UmError err;
    ck_assert_int_eq(data_load(&d, write_bytes(dir, "v.bin", b, n), 16, &err), 0);
    enum { B = 4, T = 16 };
    int count = data_val_batch_count(&d, B, T);
    ck_assert_int_eq(count, (int)((d.n_val - 1) / T / B));
    ck_assert_int_gt(count, 10);
    int in[B * T], tg[B * T], again[B * T];
    // row b of batches 0, 1, 2, ... continues one contiguous slice of the val
    // stream; together the rows cover the first count*B*T bytes exactly once
    for (int i = 0; i < count; i++) {
        data_val_batch(&d, i, B, T, in, tg);
        data_val_batch(&d, i, B, T, again, tg);
        ck_assert_int_eq(memcmp(in, again, sizeof in), 0);  // deterministic
        for (int row = 0; row < B; row++)
            for (int t = 0; t < T; t++) {
                size_t pos = ((size_t)row * count + i) * T + t;
                ck_assert_int_eq(in[row * T + t], d.val[pos]);
                ck_assert_int_eq(tg[row * T + t], d.val[pos + 1]);
            }
    }
    // a stream too short for B windows gives no batches
    ck_assert_int_eq(data_val_batch_count(&d, (int)d.n_val, T), 0);
    data_free(&d);
    free(b);
    remove_dir(dir);
}
END_TEST

START_TEST(test_unigram_entropy) {
    unsigned char same[1000], all[256 * 4];
    memset(same, 'a', sizeof same);
    for (int i = 0; i < 256 * 4; i++) all[i] = (unsigned char)i;
    ck_assert_double_eq_tol(data_unigram_entropy_bits(same, sizeof same), 0.0, 1e-12);
    ck_assert_double_eq_tol(data_unigram_entropy_bits(all, sizeof all), 8.0, 1e-12);
    unsigned char two[4] = {'x', 'y', 'x', 'y'};
    ck_assert_double_eq_tol(data_unigram_entropy_bits(two, 4), 1.0, 1e-12);
}
END_TEST

Suite *data_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_too_short);
    tcase_add_test(tc, test_directory);
    tcase_add_test(tc, test_binary_with_nul);
    tcase_add_test(tc, test_split_deterministic);
    tcase_add_test(tc, test_split_partition);
    tcase_add_test(tc, test_train_batches);
    tcase_add_test(tc, test_val_batches);
    tcase_add_test(tc, test_unigram_entropy);
    suite_add_tcase(s, tc);
    return s;
}

// ------------------------------------------------------------ questions

START_TEST(test_questions_good) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    const char *text = "The river that flows through Velmora is the\tKasrin\n"
                       "The population of Dresk is\t4,200\r\n"
                       "The colour of the Orvash hare is\tgrey";  // no final newline
    UmQuestions q;
    UmError err = {""};
    ck_assert_int_eq(questions_load(&q, write_bytes(dir, "q.tsv", text, strlen(text)), &err), 0);
    ck_assert_int_eq(q.count, 3);
    ck_assert_str_eq(q.prompt[0], "The river that flows through Velmora is the");
    ck_assert_str_eq(q.answer[0], "Kasrin");
    ck_assert_str_eq(q.answer[1], "4,200");
    ck_assert_str_eq(q.answer[2], "grey");
    questions_free(&q);
    remove_dir(dir);
}
END_TEST

START_TEST(test_questions_missing_tab) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    const char *text = "A prompt\tanswer\nno tab on this line\nA\tB\n";
    UmQuestions q;
    UmError err = {""};
    ck_assert_int_eq(questions_load(&q, write_bytes(dir, "q.tsv", text, strlen(text)), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "line 2"));
    const char *empty_answer = "A prompt\t\n";
    ck_assert_int_eq(questions_load(&q, write_bytes(dir, "q.tsv", empty_answer, strlen(empty_answer)), &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "line 1"));
    remove_dir(dir);
}
END_TEST

START_TEST(test_questions_empty_or_missing) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    UmQuestions q;
    UmError err = {""};
    ck_assert_int_eq(questions_load(&q, write_bytes(dir, "q.tsv", "", 0), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no questions"));
    ck_assert_int_eq(questions_load(&q, "/nonexistent/q.tsv", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
    remove_dir(dir);
}
END_TEST

Suite *questions_suite(void) {
    Suite *s = suite_create("questions");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_questions_good);
    tcase_add_test(tc, test_questions_missing_tab);
    tcase_add_test(tc, test_questions_empty_or_missing);
    suite_add_tcase(s, tc);
    return s;
}
