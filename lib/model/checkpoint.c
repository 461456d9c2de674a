// checkpoint.c: see checkpoint.h for the format.
#include "model/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>

#include "base/alloc.h"
#include "base/crc32.h"

// ---------------------------------------------------------------- writing
// The writer builds the file in memory (checkpoints are a few MB), so the CRC
// and the single write are simple.

typedef struct {
    unsigned char *data;
    size_t len, cap;
} Bytes;

static void put(Bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + n) cap *= 2;
        unsigned char *bigger = realloc(b->data, cap);
        if (!bigger) um_die(UM_EXIT_RUNTIME, "out of memory building a checkpoint");
        b->data = bigger, b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}
static void put_u16(Bytes *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(Bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(Bytes *b, uint64_t v) { put(b, &v, 8); }

static void put_reals(Bytes *b, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float f = (float)x[i];
        put(b, &f, 4);
    }
}

// Index of the first NaN/Inf in x[0..n), or n when all are finite.
static size_t first_nonfinite(const real *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

// A diverged model must never replace the last good checkpoint on disk.
static int check_finite(const UmModel *m, const UmTrainState *s, const char *path, UmError *err) {
    static const char *what[3] = {"", " (AdamW first moment)", " (AdamW second moment)"};
    for (int i = 0; i < m->params.count; i++) {
        const UmParam *p = m->params.params[i];
        const real *arrays[3] = {p->data, p->adam_m, p->adam_v};
        for (int a = 0; a < 3; a++) {
            size_t at = first_nonfinite(arrays[a], p->numel);
            if (at < p->numel)
                return um_fail(err, "not saving step %llu: tensor %s%s holds %s at index %zu (training diverged); %s kept as it was",
                               (unsigned long long)s->step, p->name, what[a], isnan(arrays[a][at]) ? "NaN" : "Inf", at, path);
        }
    }
    return 0;
}

static void serialise(Bytes *b, const UmModel *m, const UmTrainState *s) {
    char cfg[1024];
    int cfg_len = config_to_text(&m->cfg, cfg, sizeof cfg);
    if (cfg_len < 0) um_die(UM_EXIT_RUNTIME, "model config does not fit in a checkpoint header");
    put(b, UM_CKPT_MAGIC, 8);
    put_u32(b, UM_CKPT_VERSION);
    put_u32(b, (uint32_t)cfg_len);
    put(b, cfg, cfg_len);
    put_u64(b, s->step);
    put_u64(b, s->rng_state);
    put_u32(b, (uint32_t)m->params.count);
    for (int i = 0; i < m->params.count; i++) {
        const UmParam *p = m->params.params[i];
        put_u16(b, (uint16_t)strlen(p->name));
        put(b, p->name, strlen(p->name));
        put_u32(b, (uint32_t)p->ndim);
        for (int d = 0; d < p->ndim; d++) put_u32(b, (uint32_t)p->shape[d]);
        put_reals(b, p->data, p->numel);
        put_reals(b, p->adam_m, p->numel);
        put_reals(b, p->adam_v, p->numel);
    }
    put_u32(b, crc32_update(0, b->data, b->len));
}

// After a rename, the directory entry itself must reach the disk for the new
// file to survive a power cut; best effort (some filesystems refuse).
static void sync_parent_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        if (fsync(fd) != 0) {}  // not all filesystems can; the rename is still atomic
        close(fd);
    }
}

// write + fsync + rename: the old file stays intact until the new one is
// completely on disk.
static int write_atomically(const char *path, const Bytes *b, UmError *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return um_fail(err, "checkpoint path too long");
    // A stale .tmp (from a run killed mid-write) or a link placed there is
    // removed, never written through: O_EXCL creates a fresh file.
    if (unlink(tmp) != 0 && errno != ENOENT) return um_fail(err, "cannot replace stale %s: %s", tmp, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return um_fail(err, "cannot write checkpoint %s: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < b->len) {
        ssize_t w = write(fd, b->data + done, b->len - done);
        if (w <= 0) {
            int e = errno;
            close(fd), unlink(tmp);
            return um_fail(err, "writing checkpoint %s failed: %s (old checkpoint kept)", path,
                           w < 0 ? strerror(e) : "no progress");
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return um_fail(err, "flushing checkpoint %s failed: %s (old checkpoint kept)", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return um_fail(err, "renaming %s to %s failed: %s (old checkpoint kept)", tmp, path, strerror(e));
    }
    sync_parent_dir(path);
    return 0;
}

int checkpoint_save(const char *path, const UmModel *m, const UmTrainState *s, UmError *err) {
    if (check_finite(m, s, path, err)) return -1;
    Bytes b = {0};
    serialise(&b, m, s);
    int rc = write_atomically(path, &b, err);
    free(b.data);
    return rc;
}

// ---------------------------------------------------------------- reading
// A cursor over the file bytes; every read is bounds-checked, so a
// truncated or corrupt file can only produce an error, never a crash.

typedef struct {
    const unsigned char *data;
    size_t len, pos;
    UmError *err;
} Reader;

static int take(Reader *r, void *dst, size_t n, const char *what) {
    if (n > r->len - r->pos) return um_fail(r->err, "checkpoint truncated while reading %s", what);
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
    return 0;
}

static int read_file(const char *path, unsigned char **data, size_t *len, UmError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return um_fail(err, "cannot open checkpoint %s: %s", path, strerror(errno));
    // A directory or a device (/dev/zero) has no meaningful size: ftell would
    // report 0 or LONG_MAX and the read would fail or never end.
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return fclose(f), um_fail(err, "checkpoint %s is not a regular file", path);
    if (fseek(f, 0, SEEK_END) != 0) return fclose(f), um_fail(err, "checkpoint %s is not seekable", path);
    long n = ftell(f);
    if (n < 0) return fclose(f), um_fail(err, "checkpoint %s is not seekable", path);
    rewind(f);
    *data = malloc(n ? n : 1);
    if (!*data) return fclose(f), um_fail(err, "out of memory reading %s", path);
    size_t got = fread(*data, 1, n, f);
    fclose(f);
    if (got != (size_t)n) return free(*data), um_fail(err, "short read on %s", path);
    *len = (size_t)n;
    return 0;
}

// Checks magic, version and CRC, then parses the config. On success the
// reader sits just after the config text.
static int open_verified(Reader *r, const char *path, UmModelConfig *cfg) {
    char magic[8];
    uint32_t version = 0, cfg_len = 0, crc_stored = 0;
    if (r->len < 8 + 4 + 4 + 4) return um_fail(r->err, "%s is too short to be a checkpoint (%zu bytes)", path, r->len);
    if (take(r, magic, 8, "magic") || memcmp(magic, UM_CKPT_MAGIC, 8) != 0)
        return um_fail(r->err, "%s is not an ultramem.c checkpoint (bad magic)", path);
    take(r, &version, 4, "version");
    if (version != UM_CKPT_VERSION)
        return um_fail(r->err, "%s has checkpoint format version %u, this build reads version %d", path, version,
                       UM_CKPT_VERSION);
    memcpy(&crc_stored, r->data + r->len - 4, 4);
    if (crc32_update(0, r->data, r->len - 4) != crc_stored)
        return um_fail(r->err, "%s is corrupted or truncated (CRC mismatch)", path);
    r->len -= 4;  // the CRC is not part of the payload
    if (take(r, &cfg_len, 4, "config length")) return -1;
    if (cfg_len == 0 || cfg_len > 4096 || cfg_len > r->len - r->pos)
        return um_fail(r->err, "%s has a bad config length %u", path, cfg_len);
    char text[4097];
    take(r, text, cfg_len, "config");
    text[cfg_len] = 0;
    UmError cerr;
    if (config_parse(cfg, text, &cerr)) return um_fail(r->err, "%s: bad config: %s", path, cerr.msg);
    if (config_validate(cfg, &cerr)) return um_fail(r->err, "%s: bad config: %s", path, cerr.msg);
    return 0;
}

int checkpoint_read_config(const char *path, UmModelConfig *cfg, UmError *err) {
    unsigned char *data;
    size_t len;
    if (read_file(path, &data, &len, err)) return -1;
    Reader r = {data, len, 0, err};
    int rc = open_verified(&r, path, cfg);
    free(data);
    return rc;
}

// Reads one tensor record and checks it against the registry entry p.
static int check_tensor_header(Reader *r, const UmParam *p) {
    uint16_t name_len = 0;
    char name[UM_NAME_LEN + 1];
    uint32_t ndim = 0, dim = 0;
    if (take(r, &name_len, 2, "tensor name")) return -1;
    if (name_len > UM_NAME_LEN) return um_fail(r->err, "checkpoint tensor name too long (%u)", name_len);
    if (take(r, name, name_len, "tensor name")) return -1;
    name[name_len] = 0;
    if (strcmp(name, p->name) != 0)
        return um_fail(r->err, "checkpoint has tensor '%s' where the model has '%s'", name, p->name);
    if (take(r, &ndim, 4, "tensor rank")) return -1;
    if ((int)ndim != p->ndim) return um_fail(r->err, "tensor %s has rank %u, the model expects %d", name, ndim, p->ndim);
    for (int d = 0; d < p->ndim; d++) {
        if (take(r, &dim, 4, "tensor shape")) return -1;
        if ((int)dim != p->shape[d])
            return um_fail(r->err, "tensor %s dim %d is %u, the model expects %d", name, d, dim, p->shape[d]);
    }
    if (p->numel * 12 > r->len - r->pos) return um_fail(r->err, "checkpoint truncated in tensor %s", name);
    return 0;
}

// The validation pass also looks at the numbers: a NaN/Inf weight or moment,
// or a negative second moment, would make every later step NaN.
static int check_values(Reader *r, const UmParam *p) {
    static const char *what[3] = {"", " (AdamW first moment)", " (AdamW second moment)"};
    for (int a = 0; a < 3; a++) {
        for (size_t i = 0; i < p->numel; i++) {
            float f;
            memcpy(&f, r->data + r->pos + (a * p->numel + i) * 4, 4);
            if (!isfinite(f) || (a == 2 && f < 0))
                return um_fail(r->err, "checkpoint tensor %s%s holds %s at index %zu: the file was saved from a diverged run or is damaged",
                               p->name, what[a], isnan(f) ? "NaN" : isinf(f) ? "Inf" : "a negative value", i);
        }
    }
    return 0;
}

static void take_reals(Reader *r, real *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, r->data + r->pos, 4);
        r->pos += 4;
        dst[i] = f;
    }
}

// Two passes: first validate every header (so a bad file changes nothing),
// then copy the numbers.
static int load_tensors(Reader *r, UmModel *m, int copy) {
    uint32_t count = 0;
    if (take(r, &count, 4, "tensor count")) return -1;
    if ((int)count != m->params.count)
        return um_fail(r->err, "checkpoint has %u tensors, the model has %d", count, m->params.count);
    for (int i = 0; i < m->params.count; i++) {
        UmParam *p = m->params.params[i];
        if (check_tensor_header(r, p)) return -1;
        if (copy) {
            take_reals(r, p->data, p->numel);
            take_reals(r, p->adam_m, p->numel);
            take_reals(r, p->adam_v, p->numel);
        } else {
            if (check_values(r, p)) return -1;
            r->pos += p->numel * 12;
        }
    }
    if (r->pos != r->len) return um_fail(r->err, "checkpoint has %zu unexpected trailing bytes", r->len - r->pos);
    return 0;
}

int checkpoint_load(const char *path, UmModel *m, UmTrainState *state, UmError *err) {
    unsigned char *data;
    size_t len;
    if (read_file(path, &data, &len, err)) return -1;
    Reader r = {data, len, 0, err};
    UmModelConfig cfg;
    int rc = open_verified(&r, path, &cfg);
    char diff[128];
    if (rc == 0 && config_diff(&cfg, &m->cfg, diff, sizeof diff)) {
        rc = um_fail(err, "%s was trained with a different model (%s, checkpoint vs requested)", path, diff);
    }
    UmTrainState s;
    if (rc == 0 && (take(&r, &s.step, 8, "step") || take(&r, &s.rng_state, 8, "rng state"))) rc = -1;
    size_t tensors_at = r.pos;
    if (rc == 0) rc = load_tensors(&r, m, 0);  // validate
    if (rc == 0) {
        r.pos = tensors_at;
        load_tensors(&r, m, 1);  // copy
        if (state) *state = s;
    }
    free(data);
    return rc;
}
