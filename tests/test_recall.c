// test_recall.c: fact recall scores what greedy decoding would answer.
//
// A nano model trained on a text that repeats two facts must answer their
// questions (written, as the question file writes them, without the space
// before the answer) and must not "answer" a question whose expected answer
// is a different word.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers/model_fixtures.h"
#include "helpers/testutil.h"
#include "model/evaluate.h"
#include "model/train.h"

static char dir[256], text_path[300], q_path[300];

static void write_file(const char *path, const char *text, int repeats) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < repeats; i++) fputs(text, f);
    fclose(f);
}

START_TEST(test_recall_after_memorising) {
    make_temp_dir(dir, sizeof dir);
    snprintf(text_path, sizeof text_path, "%s/facts.txt", dir);
    snprintf(q_path, sizeof q_path, "%s/q.tsv", dir);
    write_file(text_path, "The river of Velmora is Kasrin. The bird of Oddun is Peli. ", 400);
    write_file(q_path,
               "The river of Velmora is\tKasrin\n"
               "The bird of Oddun is\tPeli\n"
               "The bird of Oddun is\tKasrin\n",
               1);
    UmModelConfig mc = tiny_test_config();
    UmTrainConfig tc;
    config_preset(&mc, &tc, "nano", ARCH_DENSE, NULL);
    tc.steps = 200, tc.eval_every = 0;
    UmData d;
    UmError err;
    ck_assert_msg(data_load(&d, text_path, mc.block_size, &err) == 0, "%s", err.msg);
    UmModel m;
    ck_assert(model_init(&m, &mc, 1, &err) == 0);
    UmTrainState s;
    train_state_fresh(&s, 1);
    UmTrainRun run = {0};
    ck_assert_msg(train_run(&m, &d, &tc, &s, &run, &err) == 0, "%s", err.msg);
    UmQuestions q;
    ck_assert_msg(questions_load(&q, q_path, &err) == 0, "%s", err.msg);
    double both_right = eval_fact_recall(&m, &q, 2);  // the two true facts
    double all_three = eval_fact_recall(&m, &q, 3);   // plus one false "fact"
    ck_assert_msg(both_right == 1.0, "recall of memorised facts is %.2f", both_right);
    ck_assert_msg(all_three > 0.66 && all_three < 0.67, "the wrong answer counted as recalled (%.3f)", all_three);
    questions_free(&q);
    model_free(&m);
    data_free(&d);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
END_TEST

Suite *recall_suite(void) {
    Suite *s = suite_create("recall");
    TCase *tc = tcase_create("memorised");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_recall_after_memorising);
    suite_add_tcase(s, tc);
    return s;
}
