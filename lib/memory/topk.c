// topk.c: top-k with a binary min-heap of the k best elements seen so far.
#include "memory/topk.h"

#include <stddef.h>

// "a ranks below b": smaller value, or same value and larger tie key.
// The heap keeps its lowest-ranked element at the root, so a new element
// only has to beat the root to get in.
static int ranks_below(real va, int ka, real vb, int kb) { return va < vb || (va == vb && ka > kb); }

typedef struct {
    int *pos;        // heap of positions into x
    const real *x;
    const int *key;  // tie keys, or NULL for "position is the key"
} Heap;

static real hval(const Heap *h, int i) { return h->x[h->pos[i]]; }
static int hkey(const Heap *h, int i) { return h->key ? h->key[h->pos[i]] : h->pos[i]; }
static int below(const Heap *h, int i, int j) { return ranks_below(hval(h, i), hkey(h, i), hval(h, j), hkey(h, j)); }

static void swap_int(int *a, int *b) {
    int t = *a;
    *a = *b;
    *b = t;
}

// Restore the heap property under node i of a heap of size m.
static void sift_down(Heap *h, int i, int m) {
    for (;;) {
        int lo = i, l = 2 * i + 1, r = l + 1;
        if (l < m && below(h, l, lo)) lo = l;
        if (r < m && below(h, r, lo)) lo = r;
        if (lo == i) return;
        swap_int(&h->pos[i], &h->pos[lo]);
        i = lo;
    }
}

void topk_tiekey(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    // The heap lives in idx itself: no allocation, safe to call from threads.
    Heap h = {idx, x, tiekey};
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(&h, i, k);
    for (int i = k; i < n; i++) {
        int key_i = tiekey ? tiekey[i] : i;
        if (ranks_below(hval(&h, 0), hkey(&h, 0), x[i], key_i)) {
            idx[0] = i;
            sift_down(&h, 0, k);
        }
    }
    // Heap sort: repeatedly move the lowest-ranked element to the end, which
    // leaves idx ordered from best to worst.
    for (int m = k - 1; m > 0; m--) {
        swap_int(&idx[0], &idx[m]);
        sift_down(&h, 0, m);
    }
    if (val)
        for (int i = 0; i < k; i++) val[i] = x[idx[i]];
}

void topk(int *idx, real *val, const real *x, int n, int k) { topk_tiekey(idx, val, x, NULL, n, k); }
