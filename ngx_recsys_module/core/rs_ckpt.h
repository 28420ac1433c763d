/*
 * Copyright (C) ngx_recsys authors
 *
 * The checkpoint of an index build with an external embedding model: the
 * vectors the model returned, keyed by item id and the exact text sent,
 * appended batch by batch to a file in the index directory.  An
 * interrupted build resumes without paying for them again, and a rebuild
 * embeds only the items whose text changed.  CLI only.
 */

#ifndef RS_CKPT_H
#define RS_CKPT_H


#include <stddef.h>
#include <stdint.h>


#define RS_FILE_CHECKPOINT  "embeddings.ckpt"
#define RS_CKPT_MAGIC       "RSCKPT01"
#define RS_CKPT_VERSION     1


typedef struct rs_ckpt_s  rs_ckpt_t;


uint64_t rs_ckpt_key(const char *id, const char *text, size_t len);

/*
 * Opens (or creates) path, locked against a second build of the same
 * directory, and reads the vectors it holds.  A checkpoint of another
 * model is emptied and *stale set; a torn last record (a build killed
 * mid-write) is dropped.
 */
int rs_ckpt_open(rs_ckpt_t **out, const char *path, const char *model,
    int *stale, char *err, size_t errlen);
void rs_ckpt_close(rs_ckpt_t *c);

/* 0 until the checkpoint holds a vector */
uint32_t rs_ckpt_dim(const rs_ckpt_t *c);
size_t rs_ckpt_count(const rs_ckpt_t *c);
const float *rs_ckpt_find(const rs_ckpt_t *c, uint64_t key);

/*
 * Appends one vector; the first ever added fixes the dimension.  What is
 * added reaches the file by rs_ckpt_flush(), once per batch.
 */
int rs_ckpt_add(rs_ckpt_t *c, uint64_t key, const float *vec, uint32_t dim,
    char *err, size_t errlen);
int rs_ckpt_flush(rs_ckpt_t *c, char *err, size_t errlen);

/*
 * Replaces the file by one holding exactly these n vectors of the
 * checkpoint's dimension: after a build, the items the catalogue no
 * longer has are dropped.
 */
int rs_ckpt_compact(rs_ckpt_t *c, const uint64_t *keys, const float *vectors,
    size_t n, char *err, size_t errlen);


#endif /* RS_CKPT_H */
