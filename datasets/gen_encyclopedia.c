// gen_encyclopedia.c: writes a synthetic encyclopedia and a held-out question
// set, so that a memory layer's capacity can be measured as fact recall.
//
// Thousands of fictional entities (countries, cities, rivers, people,
// companies, animals) get invented, pronounceable, unique names and a few
// attributes each. Every fact is written --mentions times, each time with a
// DIFFERENT English sentence template, inside short one-line articles whose
// sentence order and position in the file are shuffled. A model that predicts
// the value therefore has to know the fact, not the template.
//
// The question file asks for every fact once, in a phrasing that no training
// template uses ("The river that flows through Velmora is the<TAB>Kasrin").
// Names are unique, so every prompt has exactly one correct answer.
//
// Everything random comes from one UmRng seeded by --seed, and no floating
// point decides anything, so the same seed gives byte-identical files on any
// machine. See datasets/README.md for the format.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"

#define DEFAULT_ENTITIES 4000
#define DEFAULT_MENTIONS 4
#define MAX_ATTRS 5
#define MAX_TEMPLATES 8

// ------------------------------------------------------------ text buffer

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + len + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) um_die(UM_EXIT_RUNTIME, "out of memory growing a text buffer");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc_check(n);
    memcpy(p, s, n);
    return p;
}

// ------------------------------------------------------------ shuffles

static void shuffle_ptrs(void **a, size_t n, UmRng *rng) {
    for (size_t i = n; i > 1; i--) {  // Fisher-Yates
        size_t j = rng_below(rng, (uint32_t)i);
        void *t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static void shuffle_ints(int *a, int n, UmRng *rng) {
    for (int i = n; i > 1; i--) {
        int j = (int)rng_below(rng, (uint32_t)i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

// ------------------------------------------------------------ unique names
// Every invented word (place, person, language, currency...) goes through one
// set, compared case-blind, so no name can mean two things.

typedef struct {
    char **slot;
    size_t cap, count;
} NameSet;

static uint64_t hash_lower(const char *s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        h = (h ^ (unsigned char)c) * 1099511628211ull;
    }
    return h;
}

static int same_lower(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) return 0;
        if (!x) return 1;
    }
}

static void nameset_insert_slot(NameSet *s, char *name) {
    size_t i = hash_lower(name) & (s->cap - 1);
    while (s->slot[i]) i = (i + 1) & (s->cap - 1);
    s->slot[i] = name;
}

// Adds name and returns 1, or returns 0 if it is already taken.
static int nameset_add(NameSet *s, const char *name) {
    if ((s->count + 1) * 2 > s->cap) {  // keep the table at most half full
        NameSet bigger = {calloc_check(s->cap ? s->cap * 2 : 1024, sizeof(char *)),
                          s->cap ? s->cap * 2 : 1024, s->count};
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) nameset_insert_slot(&bigger, s->slot[i]);
        free(s->slot);
        *s = bigger;
    }
    size_t i = hash_lower(name) & (s->cap - 1);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (same_lower(s->slot[i], name)) return 0;
    s->slot[i] = str_dup(name);
    s->count++;
    return 1;
}

static void nameset_free(NameSet *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
}

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PICK(rng, a) ((a)[rng_below(rng, (uint32_t)COUNT(a))])

// Single consonants and open vowels are listed more often than clusters and
// diphthongs, which keeps names short and sayable ("Velmora", "Kasrin").
static const char *ONSETS[] = {"b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                               "b", "d", "k", "l", "m", "n", "r", "s", "t", "v",
                               "br", "dr", "gr", "kr", "tr", "st", "th", "sh"};
static const char *VOWELS[] = {"a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "e", "o", "ai", "ei", "ou"};
static const char *MID_CODAS[] = {"", "", "", "", "", "n", "r", "l", "s", "m"};
static const char *END_CODAS[] = {"", "", "", "n", "r", "l", "s", "m", "th", "sk", "nd", "v"};

// One pronounceable word of min_syl..max_syl syllables, first letter capitalised
// unless lower is set. Retries until the word is new to the set.
static char *invent_word(NameSet *set, UmRng *rng, int min_syl, int max_syl, int lower) {
    for (;;) {
        char w[64] = "";
        int syl = min_syl + (int)rng_below(rng, (uint32_t)(max_syl - min_syl + 1));
        for (int i = 0; i < syl; i++) {
            strcat(w, PICK(rng, ONSETS));
            strcat(w, PICK(rng, VOWELS));
            strcat(w, i == syl - 1 ? PICK(rng, END_CODAS) : PICK(rng, MID_CODAS));
        }
        size_t len = strlen(w);
        if (len < 4 || len > 10) continue;  // short words collide with English
        if (!lower) w[0] = (char)(w[0] - 'a' + 'A');
        if (nameset_add(set, w)) return str_dup(w);
    }
}

// ------------------------------------------------------------ value lists

static const char *FAMOUS[] = {
    "its glass bells",   "its salt market",      "its stone bridges", "its spring fair",
    "its clock tower",   "its blue pottery",     "its horse races",   "its rope makers",
    "its old library",   "its lantern festival", "its goat cheese",   "its shipyards",
    "its music school",  "its city walls",       "its rose gardens",  "its tea houses",
    "its copper mines",  "its wool trade",       "its painted boats", "its hot springs",
    "its apple orchards", "its paper mills",     "its singing contest", "its winter market"};
static const char *PROFESSIONS[] = {
    "weaver",  "astronomer", "baker",    "shipwright", "painter",    "surgeon",   "cartographer",
    "poet",    "glassblower", "engineer", "lawyer",    "architect",  "beekeeper", "clockmaker",
    "teacher", "sculptor",   "miner",    "merchant",   "gardener",   "printer",   "historian",
    "inventor", "actor",     "ferryman", "botanist",   "judge",      "apothecary", "mason",
    "tailor",  "chemist"};
static const char *INSTRUMENTS[] = {"violin", "flute",   "harp",     "cello",   "lute",   "drum",
                                    "trumpet", "oboe",   "piano",    "accordion", "guitar", "clarinet",
                                    "bagpipes", "zither", "horn",    "mandolin", "bassoon", "harmonica"};
static const char *PRODUCTS[] = {"lanterns", "clocks",  "ropes",      "bicycles", "umbrellas", "boots",
                                 "teapots",  "maps",    "candles",    "barrels",  "kites",     "compasses",
                                 "telescopes", "blankets", "soaps",   "bells",    "sails",     "ladders",
                                 "carpets",  "pencils", "hats",       "mirrors",  "locks",     "saddles",
                                 "buttons"};
static const char *COLOURS[] = {"red",    "grey",   "brown",  "black",  "white",  "golden",
                                "silver", "green",  "blue",   "orange", "yellow", "purple"};
static const char *FOODS[] = {"berries", "moths", "reeds",     "snails",   "seeds",   "small fish",
                              "beetles", "mushrooms", "grass", "roots",    "frogs",   "worms",
                              "nuts",    "river weed", "crickets", "honey"};
static const char *BEASTS[] = {"hare",  "beetle", "heron", "lizard", "moth",  "frog",       "deer",
                               "owl",   "otter",  "fox",   "snail",  "crane", "eel",        "badger",
                               "finch", "toad",   "salamander", "vole", "goat", "newt"};
static const char *FIRM_SUFFIXES[] = {"Works", "Company", "Foundry", "Trading House",
                                      "Brothers", "Guild", "Mills",  "Workshop"};
static const char *LANGUAGE_SUFFIXES[] = {"ic", "ese", "ish", "an", "i"};

// ------------------------------------------------------------ kinds and templates
// In a template, %E is the entity's name, %V the fact's value and %A "a" or
// "an" for the value. A question is a template that stops right before the
// value: the answer follows after one space. No question may be a phrasing a
// training template uses (tests/test_datasets.c checks this on real output).

typedef struct {
    const char *train[MAX_TEMPLATES];  // NULL-terminated
    const char *question;
} Attr;

typedef enum { COUNTRY, CITY, RIVER, PERSON, COMPANY, ANIMAL, NKINDS } Kind;

static const Attr ATTRS[NKINDS][MAX_ATTRS] = {
    [COUNTRY] =
        {
            {{"The capital of %E is %V.", "%E is governed from its capital, %V.", "%E has %V as its capital.",
              "%V is the capital of %E.", "In %E, the government sits in %V."},
             "The name of the capital city of %E is"},
            {{"The people of %E speak %V.", "%V is spoken in %E.", "The main language of %E is %V.",
              "In %E, most people speak %V.", "Children in %E learn to read in %V."},
             "The language of %E is"},
            {{"The currency of %E is the %V.", "In %E, people pay with the %V.",
              "Shops in %E take the %V.", "The %V is the money of %E.", "Prices in %E are given in the %V."},
             "The money used in %E is called the"},
        },
    [CITY] =
        {
            {{"%E is a city in %V.", "%E lies in the country of %V.", "The city of %E belongs to %V.",
              "Travellers to %V often visit %E.", "%E is one of the cities of %V."},
             "The country in which %E is located is"},
            {{"%E was founded in %V.", "The first houses of %E were built in %V.", "%E has stood since %V.",
              "In %V, settlers founded %E.", "%E dates from the year %V."},
             "The year of the founding of %E was"},
            {{"%E has a population of %V.", "About %V people live in %E.", "%E is home to %V people.",
              "%E counts %V inhabitants.", "Some %V people call %E their home."},
             "The population of %E is"},
            {{"%E lies on the banks of the %V.", "%E stands beside the %V.", "The %V runs through %E.",
              "%E was built where the %V bends.", "Boats on the %V stop at %E."},
             "The river that flows through %E is the"},
            {{"%E is famous for %V.", "%E is best known for %V.", "Visitors come to %E for %V.",
              "Above all, %E is known for %V.", "Ask anyone about %E and they will mention %V."},
             "The thing that makes %E famous is"},
        },
    [RIVER] =
        {
            {{"The %E is %V kilometres long.", "The %E runs for %V kilometres.",
              "From source to mouth, the %E measures %V kilometres.", "The %E has a length of %V kilometres.",
              "A boat that follows the %E travels %V kilometres."},
             "The length of the %E in kilometres is"},
            {{"The %E rises in the %V Mountains.", "The %E begins high in the %V Mountains.",
              "Snow from the %V Mountains feeds the %E.", "The source of the %E lies in the %V Mountains.",
              "The %E is born among the peaks of the %V Mountains."},
             "The mountains where the %E starts are the"},
            {{"The %E flows into the %V Sea.", "The %E empties into the %V Sea.",
              "The %E reaches the %V Sea after a long journey.", "At its mouth, the %E meets the %V Sea.",
              "The %V Sea receives the waters of the %E."},
             "The sea at the end of the %E is the"},
        },
    [PERSON] =
        {
            {{"%E worked as %A %V.", "%E was %A %V by trade.", "By profession, %E was %A %V.",
              "%E earned a living as %A %V.", "As %A %V, %E became well known."},
             "The profession followed by %E was that of %A"},
            {{"%E was born in %V.", "%E came into the world in %V.", "The city of %V is the birthplace of %E.",
              "%E was a native of %V.", "%E spent a childhood in %V."},
             "The city where %E was born is"},
            {{"%E was born in the year %V.", "%E entered life in %V.", "In %V, %E was born.",
              "The birth of %E took place in %V.", "%E has a birth year of %V."},
             "The year in which %E was born is"},
            {{"%E played the %V.", "%E liked to play the %V in the evenings.", "%E was a keen player of the %V.",
              "The %V was the favourite instrument of %E.", "%E owned a fine old %V."},
             "The musical instrument that %E played was the"},
        },
    [COMPANY] =
        {
            {{"%E was founded by %V.", "%V started %E.", "%E owes its beginning to %V.", "%E was set up by %V.",
              "The founder of %E was %V."},
             "The person who founded %E was"},
            {{"%E has its headquarters in %V.", "%E is based in %V.", "The offices of %E are in %V.",
              "%E runs its business from %V.", "Most workers of %E live in %V."},
             "The city where %E keeps its main office is"},
            {{"%E was founded in the year %V.", "%E opened its doors in %V.", "Since %V, %E has been in business.",
              "%E began trading in %V.", "The story of %E starts in %V."},
             "The year in which %E was established is"},
            {{"%E makes %V.", "%E is known for its %V.", "%E sells %V across the land.",
              "The %V made by %E are sold far and wide.", "%E produces fine %V."},
             "The goods that %E makes are"},
        },
    [ANIMAL] =
        {
            {{"The %E is %V in colour.", "The %E is mostly %V.", "The %E can be told apart by its %V colour.",
              "Seen from afar, the %E looks %V.", "The coat of the %E is %V."},
             "The colour of the %E is"},
            {{"The %E feeds on %V.", "The %E eats mainly %V.", "The diet of the %E is made up of %V.",
              "The %E searches for %V at dusk.", "Give the %E some %V and it will be content."},
             "The food that the %E lives on is"},
            {{"The %E lives along the %V.", "The %E makes its home near the %V.",
              "The %E is found on the banks of the %V.", "Along the %V one may see the %E.",
              "Fishermen on the %V often spot the %E."},
             "The river near which the %E lives is the"},
            {{"The %E lives for about %V years.", "The %E can reach an age of %V years.",
              "The %E rarely lives longer than %V years.", "The life of the %E lasts about %V years.",
              "An old %E may be %V years of age."},
             "The number of years that the %E usually lives is"},
        },
};

static int attr_count(Kind k) {
    int n = 0;
    while (n < MAX_ATTRS && ATTRS[k][n].question) n++;
    return n;
}

static int template_count(const Attr *a) {
    int n = 0;
    while (n < MAX_TEMPLATES && a->train[n]) n++;
    return n;
}

// ------------------------------------------------------------ the world

typedef struct {
    Kind kind;
    char *name;               // as written in sentences
    char *value[MAX_ATTRS];   // one string per attribute of the kind
} Entity;

typedef struct {
    Entity *e;
    int n;
    int first[NKINDS], count[NKINDS];  // entities of kind k are e[first[k] .. first[k]+count[k])
} World;

static char *fmt_int(long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    return str_dup(buf);
}

// 48200 -> "48,200": populations read like an encyclopedia's.
static char *fmt_thousands(long v) {
    char digits[32], out[48];
    int n = snprintf(digits, sizeof digits, "%ld", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return str_dup(out);
}

static long between(UmRng *rng, long lo, long hi) {  // inclusive
    return lo + (long)rng_below(rng, (uint32_t)(hi - lo + 1));
}

// How many of each kind N entities make: people and cities dominate, and
// there are enough countries and cities to share out.
static void plan_counts(World *w, int n) {
    w->count[COUNTRY] = n / 40 > 2 ? n / 40 : 2;
    w->count[CITY] = n * 25 / 100 > w->count[COUNTRY] ? n * 25 / 100 : w->count[COUNTRY];
    w->count[RIVER] = n * 12 / 100 > 1 ? n * 12 / 100 : 1;
    w->count[COMPANY] = n * 13 / 100 > 1 ? n * 13 / 100 : 1;
    w->count[ANIMAL] = n * 13 / 100 > 1 ? n * 13 / 100 : 1;
    int others = 0;
    for (int k = 0; k < NKINDS; k++)
        if (k != PERSON) others += w->count[k];
    w->count[PERSON] = n - others;
    int at = 0;
    for (int k = 0; k < NKINDS; k++) {
        w->first[k] = at;
        at += w->count[k];
    }
    w->n = at;
}

static Entity *ent(World *w, Kind k, int i) { return &w->e[w->first[k] + i]; }

static void make_world(World *w, int n, UmRng *rng, NameSet *names) {
    plan_counts(w, n);
    w->e = calloc_check((size_t)w->n, sizeof(Entity));
    for (int k = 0; k < NKINDS; k++)
        for (int i = 0; i < w->count[k]; i++) ent(w, (Kind)k, i)->kind = (Kind)k;

    int nmount = w->count[RIVER] / 3 > 2 ? w->count[RIVER] / 3 : 2;
    int nsea = w->count[RIVER] / 6 > 2 ? w->count[RIVER] / 6 : 2;
    int nfirst = w->count[PERSON] / 8 > 20 ? w->count[PERSON] / 8 : 20;
    char **mountains = malloc_check(sizeof(char *) * (size_t)nmount);
    char **seas = malloc_check(sizeof(char *) * (size_t)nsea);
    char **firsts = malloc_check(sizeof(char *) * (size_t)nfirst);
    for (int i = 0; i < nmount; i++) mountains[i] = invent_word(names, rng, 2, 2, 0);
    for (int i = 0; i < nsea; i++) seas[i] = invent_word(names, rng, 2, 3, 0);
    for (int i = 0; i < nfirst; i++) firsts[i] = invent_word(names, rng, 2, 2, 0);

    // Years drive consistency: a person is born after their city was founded,
    // a company is founded when its founder is an adult.
    int *city_year = malloc_check(sizeof(int) * (size_t)w->count[CITY]);
    int *birth_year = malloc_check(sizeof(int) * (size_t)w->count[PERSON]);

    for (int i = 0; i < w->count[COUNTRY]; i++) {
        Entity *c = ent(w, COUNTRY, i);
        c->name = invent_word(names, rng, 2, 3, 0);
        char lang[64];
        for (;;) {  // a language name is a fresh word plus a suffix, and unique
            char *stem = invent_word(names, rng, 2, 2, 0);
            snprintf(lang, sizeof lang, "%s%s", stem, PICK(rng, LANGUAGE_SUFFIXES));
            free(stem);
            if (nameset_add(names, lang)) break;
        }
        c->value[1] = str_dup(lang);
        c->value[2] = invent_word(names, rng, 1, 2, 1);  // currency: a lowercase word
    }
    for (int i = 0; i < w->count[RIVER]; i++) {
        Entity *r = ent(w, RIVER, i);
        r->name = invent_word(names, rng, 2, 3, 0);
        r->value[0] = fmt_int(between(rng, 40, 3000));
        r->value[1] = str_dup(mountains[rng_below(rng, (uint32_t)nmount)]);
        r->value[2] = str_dup(seas[rng_below(rng, (uint32_t)nsea)]);
    }
    for (int i = 0; i < w->count[CITY]; i++) {
        Entity *c = ent(w, CITY, i);
        c->name = invent_word(names, rng, 2, 3, 0);
        // the first cities go one to each country, so every country has a capital
        int country = i < w->count[COUNTRY] ? i : (int)rng_below(rng, (uint32_t)w->count[COUNTRY]);
        c->value[0] = str_dup(ent(w, COUNTRY, country)->name);
        if (i < w->count[COUNTRY]) ent(w, COUNTRY, i)->value[0] = str_dup(c->name);
        city_year[i] = (int)between(rng, 600, 1850);
        c->value[1] = fmt_int(city_year[i]);
        long base = 1000;
        for (int mag = (int)rng_below(rng, 4); mag > 0; mag--) base *= 10;
        long pop = between(rng, base, base * 10 - 1);
        pop -= pop % (base >= 10000 ? 100 : 10);
        c->value[2] = fmt_thousands(pop);
        c->value[3] = str_dup(ent(w, RIVER, (int)rng_below(rng, (uint32_t)w->count[RIVER]))->name);
        c->value[4] = str_dup(PICK(rng, FAMOUS));
    }
    for (int i = 0; i < w->count[PERSON]; i++) {
        Entity *p = ent(w, PERSON, i);
        char *surname = invent_word(names, rng, 2, 3, 0);  // unique, so full names are
        char full[128];
        snprintf(full, sizeof full, "%s %s", firsts[rng_below(rng, (uint32_t)nfirst)], surname);
        free(surname);
        p->name = str_dup(full);
        p->value[0] = str_dup(PICK(rng, PROFESSIONS));
        int city = (int)rng_below(rng, (uint32_t)w->count[CITY]);
        p->value[1] = str_dup(ent(w, CITY, city)->name);
        int lo = city_year[city] + 10 > 1600 ? city_year[city] + 10 : 1600;
        birth_year[i] = (int)between(rng, lo, 1990);
        p->value[2] = fmt_int(birth_year[i]);
        p->value[3] = str_dup(PICK(rng, INSTRUMENTS));
    }
    for (int i = 0; i < w->count[COMPANY]; i++) {
        Entity *c = ent(w, COMPANY, i);
        char *stem = invent_word(names, rng, 2, 3, 0);
        char full[128];
        snprintf(full, sizeof full, "%s %s", stem, PICK(rng, FIRM_SUFFIXES));
        free(stem);
        c->name = str_dup(full);
        int founder = (int)rng_below(rng, (uint32_t)w->count[PERSON]);
        c->value[0] = str_dup(ent(w, PERSON, founder)->name);
        c->value[1] = str_dup(ent(w, CITY, (int)rng_below(rng, (uint32_t)w->count[CITY]))->name);
        long year = birth_year[founder] + between(rng, 20, 60);
        c->value[2] = fmt_int(year < 2020 ? year : 2020);
        c->value[3] = str_dup(PICK(rng, PRODUCTS));
    }
    for (int i = 0; i < w->count[ANIMAL]; i++) {
        Entity *a = ent(w, ANIMAL, i);
        char *stem = invent_word(names, rng, 2, 3, 0);
        char full[128];
        snprintf(full, sizeof full, "%s %s", stem, PICK(rng, BEASTS));
        free(stem);
        a->name = str_dup(full);
        a->value[0] = str_dup(PICK(rng, COLOURS));
        a->value[1] = str_dup(PICK(rng, FOODS));
        a->value[2] = str_dup(ent(w, RIVER, (int)rng_below(rng, (uint32_t)w->count[RIVER]))->name);
        a->value[3] = fmt_int(between(rng, 2, 60));
    }

    for (int i = 0; i < nmount; i++) free(mountains[i]);
    for (int i = 0; i < nsea; i++) free(seas[i]);
    for (int i = 0; i < nfirst; i++) free(firsts[i]);
    free(mountains);
    free(seas);
    free(firsts);
    free(city_year);
    free(birth_year);
}

static void free_world(World *w) {
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        for (int a = 0; a < MAX_ATTRS; a++) free(w->e[i].value[a]);
    }
    free(w->e);
}

// ------------------------------------------------------------ writing

static const char *indefinite_article(const char *word) {
    return strchr("aeiouAEIOU", word[0]) ? "an" : "a";
}

// Appends template t with %E, %V and %A filled in.
static void fill_template(Buf *b, const char *t, const char *name, const char *value) {
    for (const char *p = t; *p; p++) {
        if (p[0] == '%' && p[1] == 'E') buf_puts(b, name), p++;
        else if (p[0] == '%' && p[1] == 'V') buf_puts(b, value), p++;
        else if (p[0] == '%' && p[1] == 'A') buf_puts(b, indefinite_article(value)), p++;
        else buf_add(b, p, 1);
    }
}

// The `mentions` articles about one entity. Each fact gets its templates in a
// random order, so its mentions use different phrasings (they only repeat
// when mentions exceeds the number of templates).
static void write_articles(char **out, const Entity *e, int mentions, UmRng *rng) {
    int nattr = attr_count(e->kind);
    int order[MAX_ATTRS][MAX_TEMPLATES];
    for (int a = 0; a < nattr; a++) {
        int nt = template_count(&ATTRS[e->kind][a]);
        for (int t = 0; t < nt; t++) order[a][t] = t;
        shuffle_ints(order[a], nt, rng);
    }
    for (int m = 0; m < mentions; m++) {
        int sentence_order[MAX_ATTRS];
        for (int a = 0; a < nattr; a++) sentence_order[a] = a;
        shuffle_ints(sentence_order, nattr, rng);
        Buf b = {0};
        for (int s = 0; s < nattr; s++) {
            int a = sentence_order[s];
            const Attr *attr = &ATTRS[e->kind][a];
            if (s > 0) buf_puts(&b, " ");
            fill_template(&b, attr->train[order[a][m % template_count(attr)]], e->name, e->value[a]);
        }
        out[m] = b.p;
    }
}

static void write_file(const char *path, char **lines, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) um_die(UM_EXIT_RUNTIME, "cannot write '%s' (hint: does its directory exist?)", path);
    for (size_t i = 0; i < n; i++) {
        fwrite_check(lines[i], 1, strlen(lines[i]), f);
        fwrite_check("\n", 1, 1, f);
    }
    fclose_check(f);
}

static void write_text(const World *w, int mentions, UmRng *rng, const char *path) {
    size_t n = (size_t)w->n * (size_t)mentions;
    char **articles = malloc_check(sizeof(char *) * n);
    for (int i = 0; i < w->n; i++) write_articles(articles + (size_t)i * mentions, &w->e[i], mentions, rng);
    shuffle_ptrs((void **)articles, n, rng);  // no entity's articles sit together
    write_file(path, articles, n);
    for (size_t i = 0; i < n; i++) free(articles[i]);
    free(articles);
}

static void write_questions(const World *w, UmRng *rng, const char *path) {
    size_t n = 0;
    for (int i = 0; i < w->n; i++) n += (size_t)attr_count(w->e[i].kind);
    char **lines = malloc_check(sizeof(char *) * n);
    size_t q = 0;
    for (int i = 0; i < w->n; i++) {
        const Entity *e = &w->e[i];
        for (int a = 0; a < attr_count(e->kind); a++) {
            Buf b = {0};
            fill_template(&b, ATTRS[e->kind][a].question, e->name, e->value[a]);
            buf_puts(&b, "\t");
            buf_puts(&b, e->value[a]);
            lines[q++] = b.p;
        }
    }
    shuffle_ptrs((void **)lines, n, rng);  // any prefix is a fair sample of kinds
    write_file(path, lines, n);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

// ------------------------------------------------------------ command line

typedef struct {
    int entities, mentions;
    uint64_t seed;
    const char *out, *questions;
} Options;

static void usage(void) {
    printf("usage: gen_encyclopedia --out FILE [--questions FILE] [--entities N] [--mentions K] [--seed S]\n"
           "  --out FILE        training text: one short article per line\n"
           "  --questions FILE  held-out prompts, one 'prompt<TAB>answer' per line\n"
           "  --entities N      number of fictional entities (default %d, about 3 MB of text)\n"
           "  --mentions K      times each fact is written, each in a different phrasing (default %d)\n"
           "  --seed S          random seed (default 1); the same seed gives identical files\n",
           DEFAULT_ENTITIES, DEFAULT_MENTIONS);
}

static long parse_number(const char *flag, const char *s, long lo, long hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        um_die(UM_EXIT_USAGE, "%s wants an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
    return v;
}

static Options parse_args(int argc, char **argv) {
    Options o = {DEFAULT_ENTITIES, DEFAULT_MENTIONS, 1, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage();
            exit(0);
        }
        if (strncmp(f, "--", 2) != 0)
            um_die(UM_EXIT_USAGE, "unexpected argument '%s' (see --help)", f);
        int known = !strcmp(f, "--entities") || !strcmp(f, "--mentions") || !strcmp(f, "--seed") ||
                    !strcmp(f, "--out") || !strcmp(f, "--questions");
        if (!known) um_die(UM_EXIT_USAGE, "unknown flag '%s' (see --help)", f);
        if (i + 1 >= argc) um_die(UM_EXIT_USAGE, "%s needs a value (see --help)", f);
        const char *v = argv[++i];
        if (!strcmp(f, "--entities")) o.entities = (int)parse_number(f, v, 10, 2000000);
        else if (!strcmp(f, "--mentions")) o.mentions = (int)parse_number(f, v, 1, 100);
        else if (!strcmp(f, "--seed")) o.seed = (uint64_t)parse_number(f, v, 0, 0x7fffffffL);
        else if (!strcmp(f, "--out")) o.out = v;
        else o.questions = v;
    }
    if (!o.out) um_die(UM_EXIT_USAGE, "--out FILE is required (see --help)");
    return o;
}

int main(int argc, char **argv) {
    Options o = parse_args(argc, argv);
    UmRng rng;
    rng_seed(&rng, o.seed);
    NameSet names = {0};
    World w = {0};
    make_world(&w, o.entities, &rng, &names);
    write_text(&w, o.mentions, &rng, o.out);
    if (o.questions) write_questions(&w, &rng, o.questions);
    free_world(&w);
    nameset_free(&names);
    return 0;
}
