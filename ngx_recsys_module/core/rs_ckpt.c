/*
 * Copyright (C) ngx_recsys authors
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_ckpt.h"
#include "rs_embed.h"
#include "rs_util.h"


#define RS_CKPT_SEED_ID    0x636b7069ULL
#define RS_CKPT_SEED_MODEL 0x6d6f646cULL


typedef struct {
    char      magic[8];
    uint32_t  version;
    uint32_t  dim;
    uint64_t  model;
    uint64_t  reserved;
} rs_ckpt_header_t;


struct rs_ckpt_s {
    FILE       *file;
    char       *path;
    uint64_t    model;
    uint32_t    dim;
    size_t      count;          /* vectors read at open */
    uint64_t   *keys;
    float      *vectors;
    uint32_t   *slots;          /* record + 1; 0 is empty */
    size_t      nslots;
};


static int rs_ckpt_read(rs_ckpt_t *c, int *stale, char *err, size_t errlen);
static int rs_ckpt_empty(rs_ckpt_t *c, char *err, size_t errlen);
static int rs_ckpt_index(rs_ckpt_t *c);
static int rs_ckpt_write_header(FILE *f, uint32_t dim, uint64_t model);


uint64_t
rs_ckpt_key(const char *id, const char *text, size_t len)
{
    return rs_hash64(text, len, rs_hash64(id, strlen(id), RS_CKPT_SEED_ID));
}


int
rs_ckpt_open(rs_ckpt_t **out, const char *path, const char *model,
    int *stale, char *err, size_t errlen)
{
    int         fd;
    rs_ckpt_t  *c;

    *out = NULL;
    *stale = 0;

    c = calloc(1, sizeof(rs_ckpt_t));
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    c->model = rs_hash64(model, strlen(model), RS_CKPT_SEED_MODEL);

    fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd == -1) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        rs_ckpt_close(c);
        return -1;
    }

    /* two builds appending to one checkpoint would interleave records */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rs_errf(err, errlen, "\"%s\" is locked: another build of this "
                "directory is running", path);
        close(fd);
        rs_ckpt_close(c);
        return -1;
    }

    c->file = fdopen(fd, "r+b");
    if (c->file == NULL) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        close(fd);
        rs_ckpt_close(c);
        return -1;
    }

    if (rs_ckpt_read(c, stale, err, errlen) != 0) {
        rs_ckpt_close(c);
        return -1;
    }

    *out = c;

    return 0;
}


static int
rs_ckpt_read(rs_ckpt_t *c, int *stale, char *err, size_t errlen)
{
    size_t            rec, n, i;
    struct stat       st;
    rs_ckpt_header_t  h;

    if (fstat(fileno(c->file), &st) != 0) {
        rs_errf(err, errlen, "cannot stat \"%s\": %s", c->path,
                strerror(errno));
        return -1;
    }

    /* a build killed before its first header was whole left nothing */
    if ((size_t) st.st_size < sizeof(h)) {
        return rs_ckpt_empty(c, err, errlen);
    }

    if (fread(&h, sizeof(h), 1, c->file) != 1
        || memcmp(h.magic, RS_CKPT_MAGIC, 8) != 0
        || h.version != RS_CKPT_VERSION
        || h.dim == 0 || h.dim > RS_EMBED_MAX_DIM)
    {
        rs_errf(err, errlen, "\"%s\" is not a checkpoint of this version of "
                "recsys-index: remove it to embed everything again", c->path);
        return -1;
    }

    if (h.model != c->model) {
        *stale = 1;
        return rs_ckpt_empty(c, err, errlen);
    }

    rec = sizeof(uint64_t) + h.dim * sizeof(float);
    n = ((size_t) st.st_size - sizeof(h)) / rec;

    c->dim = h.dim;
    c->keys = malloc((n ? n : 1) * sizeof(uint64_t));
    c->vectors = malloc((n ? n : 1) * rec);

    if (c->keys == NULL || c->vectors == NULL) {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (fread(&c->keys[i], sizeof(uint64_t), 1, c->file) != 1
            || fread(c->vectors + i * h.dim, sizeof(float), h.dim, c->file)
               != h.dim)
        {
            rs_errf(err, errlen, "cannot read \"%s\": %s", c->path,
                    strerror(errno));
            return -1;
        }
    }

    c->count = n;

    if (ftruncate(fileno(c->file), (off_t) (sizeof(h) + n * rec)) != 0
        || fseeko(c->file, 0, SEEK_END) != 0)
    {
        rs_errf(err, errlen, "cannot repair \"%s\": %s", c->path,
                strerror(errno));
        return -1;
    }

    if (rs_ckpt_index(c) != 0) {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


static int
rs_ckpt_empty(rs_ckpt_t *c, char *err, size_t errlen)
{
    if (ftruncate(fileno(c->file), 0) != 0
        || fseeko(c->file, 0, SEEK_SET) != 0)
    {
        rs_errf(err, errlen, "cannot truncate \"%s\": %s", c->path,
                strerror(errno));
        return -1;
    }

    return 0;
}


/* open addressing on the key; a later record of one key wins */

static int
rs_ckpt_index(rs_ckpt_t *c)
{
    size_t  i, j;

    for (c->nslots = 16; c->nslots < c->count * 2; c->nslots *= 2) {
        /* void */
    }

    c->slots = calloc(c->nslots, sizeof(uint32_t));
    if (c->slots == NULL) {
        return -1;
    }

    for (i = 0; i < c->count; i++) {
        j = c->keys[i] & (c->nslots - 1);

        while (c->slots[j] && c->keys[c->slots[j] - 1] != c->keys[i]) {
            j = (j + 1) & (c->nslots - 1);
        }

        c->slots[j] = (uint32_t) (i + 1);
    }

    return 0;
}


void
rs_ckpt_close(rs_ckpt_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->file != NULL) {
        fclose(c->file);
    }

    free(c->path);
    free(c->keys);
    free(c->vectors);
    free(c->slots);
    free(c);
}


uint32_t
rs_ckpt_dim(const rs_ckpt_t *c)
{
    return c->dim;
}


size_t
rs_ckpt_count(const rs_ckpt_t *c)
{
    return c->count;
}


const float *
rs_ckpt_find(const rs_ckpt_t *c, uint64_t key)
{
    size_t  j;

    if (c->count == 0) {
        return NULL;
    }

    j = key & (c->nslots - 1);

    while (c->slots[j]) {
        if (c->keys[c->slots[j] - 1] == key) {
            return c->vectors + (size_t) (c->slots[j] - 1) * c->dim;
        }

        j = (j + 1) & (c->nslots - 1);
    }

    return NULL;
}


static int
rs_ckpt_write_header(FILE *f, uint32_t dim, uint64_t model)
{
    rs_ckpt_header_t  h;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, RS_CKPT_MAGIC, 8);
    h.version = RS_CKPT_VERSION;
    h.dim = dim;
    h.model = model;

    return fwrite(&h, sizeof(h), 1, f) == 1 ? 0 : -1;
}


int
rs_ckpt_add(rs_ckpt_t *c, uint64_t key, const float *vec, uint32_t dim,
    char *err, size_t errlen)
{
    if (c->dim == 0) {
        if (rs_ckpt_write_header(c->file, dim, c->model) != 0) {
            rs_errf(err, errlen, "cannot write \"%s\": %s", c->path,
                    strerror(errno));
            return -1;
        }

        c->dim = dim;
    }

    if (dim != c->dim) {
        rs_errf(err, errlen, "a %u-dimensional vector cannot join the "
                "%u-dimensional ones of \"%s\"", dim, c->dim, c->path);
        return -1;
    }

    if (fwrite(&key, sizeof(key), 1, c->file) != 1
        || fwrite(vec, sizeof(float), dim, c->file) != dim)
    {
        rs_errf(err, errlen, "cannot write \"%s\": %s", c->path,
                strerror(errno));
        return -1;
    }

    return 0;
}


int
rs_ckpt_flush(rs_ckpt_t *c, char *err, size_t errlen)
{
    if (fflush(c->file) != 0) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", c->path,
                strerror(errno));
        return -1;
    }

    return 0;
}


int
rs_ckpt_compact(rs_ckpt_t *c, const uint64_t *keys, const float *vectors,
    size_t n, char *err, size_t errlen)
{
    int     rc;
    char    tmp[4096];
    FILE   *f;
    size_t  i;

    snprintf(tmp, sizeof(tmp), "%s.tmp", c->path);

    f = fopen(tmp, "wb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot create \"%s\": %s", tmp,
                strerror(errno));
        return -1;
    }

    rc = rs_ckpt_write_header(f, c->dim, c->model);

    for (i = 0; rc == 0 && i < n; i++) {
        if (fwrite(&keys[i], sizeof(uint64_t), 1, f) != 1
            || fwrite(vectors + i * c->dim, sizeof(float), c->dim, f)
               != c->dim)
        {
            rc = -1;
        }
    }

    if (fclose(f) != 0 || rc != 0 || rename(tmp, c->path) != 0) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", tmp,
                strerror(errno));
        unlink(tmp);
        return -1;
    }

    return 0;
}
