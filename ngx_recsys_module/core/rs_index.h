/*
 * Copyright (C) ngx_recsys authors
 *
 * The vector index: a faiss index over L2-normalised item vectors, built
 * by the CLI, loaded by the nginx master before fork and searched by the
 * workers.  Only the faiss C API is used, so either libfaiss_c or the
 * project's own rs_faiss_c_api.cpp can sit underneath.
 */

#ifndef RS_INDEX_H
#define RS_INDEX_H


#include <stddef.h>
#include <stdint.h>


/*
 * auto picks flat below this many vectors: exact, and still under a
 * millisecond with the scalar distance code of Debian's faiss
 */
#define RS_INDEX_AUTO_HNSW_MIN  5000


typedef struct rs_index_s  rs_index_t;

typedef enum {
    RS_INDEX_AUTO = 0,
    RS_INDEX_FLAT,
    RS_INDEX_HNSW
} rs_index_type_e;


/*
 * Building HNSW runs OpenMP parallel regions on every core: do it in the
 * CLI or in a worker, never in the nginx master (see
 * rs_index_single_thread()).
 */
int rs_index_build(rs_index_t **out, const float *vectors, size_t n, int dim,
    rs_index_type_e type, char *err, size_t errlen);

/* writes path.tmp.<pid> and renames it, so readers never see half a file */
int rs_index_save(const rs_index_t *ix, const char *path, char *err,
    size_t errlen);

/*
 * The file layout is checked before faiss reads it, so a truncated or
 * foreign file is refused without faiss allocating from garbage sizes.
 * Loading starts no OpenMP parallel region and so is safe in the master.
 */
int rs_index_load(rs_index_t **out, const char *path, char *err,
    size_t errlen);

/*
 * query has rs_index_dim() floats and should be L2-normalised like the
 * indexed vectors; sims and ids have room for k entries.  Returns the
 * number of results (<= k), best first, as cosine similarities and
 * 0-based row numbers, or -1 on error.
 */
int rs_index_search(const rs_index_t *ix, const float *query, int k,
    float *sims, int64_t *ids);

/* copies the vector of row i into vec (rs_index_dim() floats); 0 or -1 */
int rs_index_vector(const rs_index_t *ix, size_t i, float *vec);

void rs_index_free(rs_index_t *ix);
int rs_index_dim(const rs_index_t *ix);
size_t rs_index_count(const rs_index_t *ix);
rs_index_type_e rs_index_type(const rs_index_t *ix);

/* "auto", "flat", "hnsw" */
const char *rs_index_type_name(rs_index_type_e type);

/* accepts "auto", "flat", "hnsw"; returns 0 or -1 */
int rs_index_type_parse(const char *name, rs_index_type_e *type);

/*
 * faiss parallelises with OpenMP: a worker process must stay on one
 * thread so one search stays on its core.  The setting is per thread:
 * call it after fork in each worker, and in any other thread that
 * searches.
 */
void rs_index_single_thread(void);


#endif /* RS_INDEX_H */
