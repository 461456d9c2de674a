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

// The list holds the best m <= k elements seen so far, best first, as
// (value, position, tie key). A new element goes in front of every entry it
// ranks above; equal value and equal key cannot happen (keys of positions are
// distinct; equal tie keys are broken by position, like the heap version's
// "lower index first" when tiekey is NULL).
void topk_insert(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    real v_list[k];
    int key_list[k];
    int m = 0;
    for (int i = 0; i < n; i++) {
        real v = x[i];
        int key = tiekey ? tiekey[i] : i;
        if (m == k && !ranks_below(v_list[k - 1], key_list[k - 1], v, key)) continue;  // not better than the k-th
        int p = m < k ? m++ : k - 1;  // drop the k-th when full
        while (p > 0 && ranks_below(v_list[p - 1], key_list[p - 1], v, key)) {
            v_list[p] = v_list[p - 1], key_list[p] = key_list[p - 1], idx[p] = idx[p - 1];
            p--;
        }
        v_list[p] = v, key_list[p] = key, idx[p] = i;
    }
    if (val)
        for (int i = 0; i < k; i++) val[i] = v_list[i];
}

// Element i ranks below j when x[j] > x[i], or x[j] == x[i] and key[j] < key[i].
// Keys are distinct (positions, or the slot ids of a grid), so ranks are a
// permutation of 0..n-1 and the ones below k fill idx[0..k) exactly once.
void topk_rank(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    for (int i = 0; i < n; i++) {
        real xi = x[i];
        int rank = 0;
        if (tiekey) {
            int ki = tiekey[i];
            for (int j = 0; j < n; j++) rank += (x[j] > xi) | ((x[j] == xi) & (tiekey[j] < ki));
        } else {
            // the key is the position: an equal value ranks above only before i
            for (int j = 0; j < i; j++) rank += x[j] >= xi;
            for (int j = i + 1; j < n; j++) rank += x[j] > xi;
        }
        if (rank < k) {
            idx[rank] = i;
            if (val) val[rank] = xi;
        }
    }
}

// n > TOPK_RANK_MAX_N: first a threshold that at least k elements reach.
// Cut x into G >= k groups; the k best group maxima are k distinct elements,
// so the k-th best of them, T, is no better than the k-th best element and
// every one of the top k is >= T. Usually few elements pass, and only those
// are ranked (with their positions as tie keys, so ties resolve as before).
static void topk_threshold(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    int gs = n / k, G = (n + gs - 1) / gs;
    real gmax[G], gval[k];
    int gidx[k];
    for (int g = 0; g < G; g++) {
        real m = x[g * gs];
        for (int i = g * gs + 1; i < n && i < (g + 1) * gs; i++) m = x[i] > m ? x[i] : m;
        gmax[g] = m;
    }
    topk_small(gidx, gval, gmax, NULL, G, k);  // G < 2k: never back here
    real T = gval[k - 1];
    int pos[n], key[n], c = 0;
    real xs[n];
    for (int i = 0; i < n; i++) {
        pos[c] = i;
        c += x[i] >= T;
    }
    for (int j = 0; j < c; j++) xs[j] = x[pos[j]], key[j] = tiekey ? tiekey[pos[j]] : pos[j];
    if (c <= TOPK_RANK_MAX_N)  // never topk_threshold again: with many ties nothing may have been dropped
        topk_rank(idx, val, xs, key, c, k);
    else
        topk_insert(idx, val, xs, key, c, k);
    for (int j = 0; j < k; j++) idx[j] = pos[idx[j]];
}

void topk_small(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    if (n <= TOPK_RANK_MAX_N)
        topk_rank(idx, val, x, tiekey, n, k);
    else if (4 * k <= n)
        topk_threshold(idx, val, x, tiekey, n, k);
    else
        topk_insert(idx, val, x, tiekey, n, k);
}
