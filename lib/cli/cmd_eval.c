// cmd_eval.c: `um eval`, validation bits/byte and fact recall of a checkpoint.
#include <math.h>
#include <stdio.h>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/run_record.h"
#include "model/evaluate.h"

static const char *SUMMARY =
    "Measure a checkpoint: validation loss in bits per byte on --data's held-out split, and fact recall\n"
    "on --questions (exact greedy answers).\n"
    "Example: um eval --ckpt out/run/model.ckpt --data out/data/encyclopedia.txt \\\n"
    "                 --questions out/data/encyclopedia_questions.tsv";

int cmd_eval(int argc, char **argv) {
    UmOptions o = {.data = DEFAULT_DATA, .batch = 16, .max_questions = 1000};
    options_parse(&o, CMD_EVAL, "eval", SUMMARY, argc, argv, 2);
    if (!o.ckpt) um_die(UM_EXIT_USAGE, "um eval: --ckpt FILE is required (see: um eval --help)");
    cli_set_threads(&o);
    UmModel model;
    cli_load_model(&model, o.ckpt, o.batch);
    UmError err;
    UmData data;
    if (data_load(&data, o.data, model.cfg.block_size, &err)) um_die(UM_EXIT_RUNTIME, "--data: %s", err.msg);
    cli_require_val_batches(&data, o.batch, model.cfg.block_size);
    UmMemReport r;
    double val = eval_val_loss_report(&model, &data, o.batch, o.eval_batches, &r);
    printf("arch: %s\n", arch_name(model.cfg.arch));
    printf("val_bits_per_byte: %.4f\n", val * NATS_TO_BITS);
    if (r.has_memory)
        printf("memory_usage_pct: %.2f\nmemory_kl_uniform: %.4f\nmemory_top1_score: %.4f\n", r.usage_pct,
               r.kl_uniform, r.top1_mean);
    if (r.has_moe) printf("moe_busiest_over_even: %.3f\nmoe_overflow_frac: %.4f\n", r.moe_max_load_ratio, r.moe_overflow);
    printf("unigram_entropy_bits: %.4f\n", data_unigram_entropy_bits(data.bytes, data.n));
    double recall = NAN;
    int asked = 0;
    if (o.questions) {
        UmQuestions q;
        if (questions_load(&q, o.questions, &err)) um_die(UM_EXIT_RUNTIME, "--questions: %s", err.msg);
        recall = eval_fact_recall(&model, &q, o.max_questions);
        asked = o.max_questions > 0 && o.max_questions < q.count ? o.max_questions : q.count;
        printf("fact_recall: %.4f\n", recall);
        questions_free(&q);
    }
    if (o.summary) {  // the same names as `um train --summary` (no train figures: eval does not train)
        UmSummary s;
        summary_open(&s, o.summary);
        summary_model(&s, &model);
        summary_text(&s, "data", o.data);
        summary_real(&s, "val_bits_per_byte", val * NATS_TO_BITS);
        summary_real(&s, "unigram_entropy_bits", data_unigram_entropy_bits(data.bytes, data.n));
        summary_real(&s, "fact_recall", recall);
        summary_int(&s, "questions", asked);
        summary_memory(&s, &r);
        summary_close(&s);
    }
    data_free(&data);
    model_free(&model);
    return 0;
}
