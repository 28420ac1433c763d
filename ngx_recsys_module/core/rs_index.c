/*
 * Copyright (C) ngx_recsys authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <omp.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "rs_index.h"


/*
 * Both types use the L2 metric and report 1 - d / 2, which is the cosine
 * for unit vectors.  Inner product would rank unit vectors identically;
 * faiss 1.7.3 supports it in HNSW only by negating distances inside the
 * graph code, and L2 leaves one well-trodden path for both types.  Their
 * squared distances are never negative, so similarities stay <= 1.
 */
#define RS_INDEX_FLAT_DESC      "Flat"
/*
 * A catalogue is strongly clustered (a category's items look alike, many
 * are near-duplicates), which is where HNSW graphs lose whole clusters.
 * On the 100,000-item generated catalogue, recall@10 against an exact scan
 * over twelve shopper queries was 0.70 with HNSW32 and efConstruction 80,
 * and is 0.88 with 48 links and efConstruction 200, for a build 1.7 times
 * as long and a search 15% slower.  The engine's exact scan under
 * selective filters covers much of the rest.
 */
#define RS_INDEX_HNSW_DESC      "HNSW48,Flat"
#define RS_INDEX_EF_CONSTRUCT   200

/*
 * 128 gives recall@10 0.99 on embedding-like 100k x 256 data.  faiss
 * queues max(efSearch, k) candidates and keeps the best k of all it
 * visits, so a k above efSearch still gets k results, only the tail is
 * less exact: it stops after efSearch steps.
 */
#define RS_INDEX_EF_SEARCH      128

/* the faiss on-disk tags of IndexFlatL2 and IndexHNSWFlat */
#define RS_INDEX_TAG_FLAT       "IxF2"
#define RS_INDEX_TAG_HNSW       "IHNf"


struct rs_index_s {
    FaissIndex       *index;
    rs_index_type_e   type;
    int               dim;
    size_t            count;
};


typedef struct {
    FILE             *file;
    uint64_t          left;         /* bytes between position and EOF */
    const char       *error;
} rs_index_reader_t;


static void rs_index_error(char *err, size_t errlen, const char *fmt, ...);
static const char *rs_index_faiss_error(void);
static int rs_index_set_params(FaissIndex *index, int building, char *err,
    size_t errlen);
static int rs_index_wrap(rs_index_t **out, FaissIndex *index,
    rs_index_type_e type, char *err, size_t errlen);
static int rs_index_read(rs_index_reader_t *rd, void *buf, size_t len);
static int rs_index_skip_vector(rs_index_reader_t *rd, size_t size,
    uint64_t *count);
static int rs_index_scan_header(rs_index_reader_t *rd, int32_t *dim,
    int64_t *ntotal);
static int rs_index_scan_flat(rs_index_reader_t *rd, int32_t *dim,
    int64_t *ntotal);
static int rs_index_scan_hnsw(rs_index_reader_t *rd, int32_t *dim,
    int64_t *ntotal);
static int rs_index_scan(rs_index_reader_t *rd, rs_index_type_e *type,
    int32_t *dim, int64_t *ntotal);


static void
rs_index_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


static const char *
rs_index_faiss_error(void)
{
    const char  *msg;

    msg = faiss_get_last_error();

    return (msg != NULL && msg[0] != '\0') ? msg : "unknown faiss error";
}


int
rs_index_build(rs_index_t **out, const float *vectors, size_t n, int dim,
    rs_index_type_e type, char *err, size_t errlen)
{
    const char  *desc;
    FaissIndex  *index;

    *out = NULL;

    if (vectors == NULL || n == 0) {
        rs_index_error(err, errlen, "no vectors to index");
        return -1;
    }

    if (dim <= 0) {
        rs_index_error(err, errlen, "invalid vector dimension %d", dim);
        return -1;
    }

    /* the HNSW graph stores ids as int32 */
    if (n > INT32_MAX) {
        rs_index_error(err, errlen, "too many vectors: %zu", n);
        return -1;
    }

    switch (type) {

    case RS_INDEX_AUTO:
        type = (n < RS_INDEX_AUTO_HNSW_MIN) ? RS_INDEX_FLAT : RS_INDEX_HNSW;
        break;

    case RS_INDEX_FLAT:
    case RS_INDEX_HNSW:
        break;

    default:
        rs_index_error(err, errlen, "invalid index type %d", (int) type);
        return -1;
    }

    desc = (type == RS_INDEX_HNSW) ? RS_INDEX_HNSW_DESC : RS_INDEX_FLAT_DESC;

    if (faiss_index_factory(&index, dim, desc, METRIC_L2) != 0) {
        rs_index_error(err, errlen, "faiss index \"%s\": %s", desc,
                       rs_index_faiss_error());
        return -1;
    }

    /* efConstruction only matters if it is set before the vectors go in */
    if (type == RS_INDEX_HNSW
        && rs_index_set_params(index, 1, err, errlen) != 0)
    {
        faiss_Index_free(index);
        return -1;
    }

    if (faiss_Index_add(index, (idx_t) n, vectors) != 0) {
        rs_index_error(err, errlen, "faiss add: %s", rs_index_faiss_error());
        faiss_Index_free(index);
        return -1;
    }

    return rs_index_wrap(out, index, type, err, errlen);
}


/*
 * A fresh ParameterSpace is cheap, and keeping none around leaves the
 * module without global state.
 */

static int
rs_index_set_params(FaissIndex *index, int building, char *err,
    size_t errlen)
{
    int                   rc;
    FaissParameterSpace  *ps;

    if (faiss_ParameterSpace_new(&ps) != 0) {
        rs_index_error(err, errlen, "faiss parameters: %s",
                       rs_index_faiss_error());
        return -1;
    }

    rc = 0;

    if (building) {
        rc = faiss_ParameterSpace_set_index_parameter(ps, index,
                                                      "efConstruction",
                                                      RS_INDEX_EF_CONSTRUCT);
    }

    if (rc == 0) {
        rc = faiss_ParameterSpace_set_index_parameter(ps, index, "efSearch",
                                                      RS_INDEX_EF_SEARCH);
    }

    faiss_ParameterSpace_free(ps);

    if (rc != 0) {
        rs_index_error(err, errlen, "faiss HNSW parameters: %s",
                       rs_index_faiss_error());
        return -1;
    }

    return 0;
}


static int
rs_index_wrap(rs_index_t **out, FaissIndex *index, rs_index_type_e type,
    char *err, size_t errlen)
{
    rs_index_t  *ix;

    ix = malloc(sizeof(rs_index_t));
    if (ix == NULL) {
        rs_index_error(err, errlen, "out of memory");
        faiss_Index_free(index);
        return -1;
    }

    ix->index = index;
    ix->type = type;
    ix->dim = faiss_Index_d(index);
    ix->count = (size_t) faiss_Index_ntotal(index);

    *out = ix;

    return 0;
}


int
rs_index_save(const rs_index_t *ix, const char *path, char *err,
    size_t errlen)
{
    int     rc;
    char   *tmp;
    FILE   *f;
    size_t  len;

    len = strlen(path) + sizeof(".tmp.") + 3 * sizeof(long);

    tmp = malloc(len);
    if (tmp == NULL) {
        rs_index_error(err, errlen, "out of memory");
        return -1;
    }

    snprintf(tmp, len, "%s.tmp.%ld", path, (long) getpid());

    f = fopen(tmp, "wb");
    if (f == NULL) {
        rs_index_error(err, errlen, "cannot create \"%s\": %s", tmp,
                       strerror(errno));
        free(tmp);
        return -1;
    }

    rc = -1;

    if (faiss_write_index(ix->index, f) != 0) {
        rs_index_error(err, errlen, "faiss write \"%s\": %s", tmp,
                       rs_index_faiss_error());
        fclose(f);
        goto failed;
    }

    /* errors of buffered writes only show here, where faiss cannot see */
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rs_index_error(err, errlen, "cannot write \"%s\": %s", tmp,
                       strerror(errno));
        fclose(f);
        goto failed;
    }

    if (fclose(f) != 0) {
        rs_index_error(err, errlen, "cannot close \"%s\": %s", tmp,
                       strerror(errno));
        goto failed;
    }

    if (rename(tmp, path) != 0) {
        rs_index_error(err, errlen, "cannot rename \"%s\" to \"%s\": %s",
                       tmp, path, strerror(errno));
        goto failed;
    }

    rc = 0;

failed:

    if (rc != 0) {
        unlink(tmp);
    }

    free(tmp);

    return rc;
}


/*
 * faiss trusts the sizes in the file: a truncated file makes it leak the
 * half-read index, a garbage size makes it allocate up to 1 TB.  As the
 * master loads on every reload, the layout is walked here first and the
 * file is handed to faiss only if every size fits what is on disk.
 * Running the same FILE through both avoids a race with a rename.
 */

int
rs_index_load(rs_index_t **out, const char *path, char *err, size_t errlen)
{
    int32_t             dim;
    int64_t             ntotal;
    FaissIndex         *index;
    struct stat         st;
    rs_index_type_e     type;
    rs_index_reader_t   rd;

    *out = NULL;

    rd.file = fopen(path, "rb");
    if (rd.file == NULL) {
        rs_index_error(err, errlen, "cannot open \"%s\": %s", path,
                       strerror(errno));
        return -1;
    }

    if (fstat(fileno(rd.file), &st) != 0) {
        rs_index_error(err, errlen, "cannot stat \"%s\": %s", path,
                       strerror(errno));
        fclose(rd.file);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        rs_index_error(err, errlen, "\"%s\" is not a regular file", path);
        fclose(rd.file);
        return -1;
    }

    rd.left = (uint64_t) st.st_size;
    rd.error = NULL;

    if (rs_index_scan(&rd, &type, &dim, &ntotal) != 0) {
        rs_index_error(err, errlen, "invalid index \"%s\": %s", path,
                       rd.error);
        fclose(rd.file);
        return -1;
    }

    if (fseeko(rd.file, 0, SEEK_SET) != 0) {
        rs_index_error(err, errlen, "cannot seek \"%s\": %s", path,
                       strerror(errno));
        fclose(rd.file);
        return -1;
    }

    if (faiss_read_index(rd.file, 0, &index) != 0) {
        rs_index_error(err, errlen, "faiss read \"%s\": %s", path,
                       rs_index_faiss_error());
        fclose(rd.file);
        return -1;
    }

    fclose(rd.file);

    if (faiss_Index_d(index) != dim || faiss_Index_ntotal(index) != ntotal) {
        rs_index_error(err, errlen, "invalid index \"%s\": faiss read "
                       "another shape than the file header says", path);
        faiss_Index_free(index);
        return -1;
    }

    /*
     * faiss 1.7.3 stores efSearch, but a file written by another tool or
     * faiss version may carry any value: recall must not depend on that.
     */
    if (type == RS_INDEX_HNSW
        && rs_index_set_params(index, 0, err, errlen) != 0)
    {
        faiss_Index_free(index);
        return -1;
    }

    return rs_index_wrap(out, index, type, err, errlen);
}


static int
rs_index_read(rs_index_reader_t *rd, void *buf, size_t len)
{
    if (len > rd->left) {
        rd->error = "file is truncated";
        return -1;
    }

    if (fread(buf, 1, len, rd->file) != len) {
        rd->error = "read error";
        return -1;
    }

    rd->left -= len;

    return 0;
}


/* a serialised std::vector: a 64-bit element count, then the elements */

static int
rs_index_skip_vector(rs_index_reader_t *rd, size_t size, uint64_t *count)
{
    uint64_t  n;

    if (rs_index_read(rd, &n, sizeof(n)) != 0) {
        return -1;
    }

    if (n > rd->left / size) {
        rd->error = "file is truncated";
        return -1;
    }

    if (fseeko(rd->file, (off_t) (n * size), SEEK_CUR) != 0) {
        rd->error = "seek error";
        return -1;
    }

    rd->left -= n * size;
    *count = n;

    return 0;
}


/* faiss's index header, after the 4-byte tag */

static int
rs_index_scan_header(rs_index_reader_t *rd, int32_t *dim, int64_t *ntotal)
{
    int32_t  metric;
    int64_t  dummy[2];
    uint8_t  trained;

    if (rs_index_read(rd, dim, sizeof(*dim)) != 0
        || rs_index_read(rd, ntotal, sizeof(*ntotal)) != 0
        || rs_index_read(rd, dummy, sizeof(dummy)) != 0
        || rs_index_read(rd, &trained, sizeof(trained)) != 0
        || rs_index_read(rd, &metric, sizeof(metric)) != 0)
    {
        return -1;
    }

    if (*dim <= 0 || *ntotal < 0) {
        rd->error = "invalid dimension or vector count";
        return -1;
    }

    if (metric != METRIC_L2) {
        rd->error = "index metric is not L2";
        return -1;
    }

    return 0;
}


static int
rs_index_scan_flat(rs_index_reader_t *rd, int32_t *dim, int64_t *ntotal)
{
    uint64_t  n;

    if (rs_index_scan_header(rd, dim, ntotal) != 0
        || rs_index_skip_vector(rd, sizeof(float), &n) != 0)
    {
        return -1;
    }

    if (n % (uint64_t) *dim != 0 || n / (uint64_t) *dim != (uint64_t) *ntotal)
    {
        rd->error = "vector data does not match the header";
        return -1;
    }

    return 0;
}


static int
rs_index_scan_hnsw(rs_index_reader_t *rd, int32_t *dim, int64_t *ntotal)
{
    char      tag[4];
    int32_t   sdim, tail[5];
    int64_t   sntotal;
    uint64_t  n;

    if (rs_index_scan_header(rd, dim, ntotal) != 0) {
        return -1;
    }

    /* assign_probas, cum_nneighbor_per_level */
    if (rs_index_skip_vector(rd, sizeof(double), &n) != 0
        || rs_index_skip_vector(rd, sizeof(int32_t), &n) != 0)
    {
        return -1;
    }

    /* levels: one per vector */
    if (rs_index_skip_vector(rd, sizeof(int32_t), &n) != 0) {
        return -1;
    }

    if (n != (uint64_t) *ntotal) {
        rd->error = "graph levels do not match the header";
        return -1;
    }

    /* offsets: one per vector and an end */
    if (rs_index_skip_vector(rd, sizeof(uint64_t), &n) != 0) {
        return -1;
    }

    if (n != (uint64_t) *ntotal + 1) {
        rd->error = "graph offsets do not match the header";
        return -1;
    }

    /* neighbors; entry_point, max_level, efConstruction, efSearch, beam */
    if (rs_index_skip_vector(rd, sizeof(int32_t), &n) != 0
        || rs_index_read(rd, tail, sizeof(tail)) != 0)
    {
        return -1;
    }

    if (tail[0] < -1 || (int64_t) tail[0] >= *ntotal) {
        rd->error = "graph entry point is out of range";
        return -1;
    }

    /* the vectors follow as a complete flat index */
    if (rs_index_read(rd, tag, sizeof(tag)) != 0) {
        return -1;
    }

    if (memcmp(tag, RS_INDEX_TAG_FLAT, sizeof(tag)) != 0) {
        rd->error = "HNSW storage is not a flat L2 index";
        return -1;
    }

    if (rs_index_scan_flat(rd, &sdim, &sntotal) != 0) {
        return -1;
    }

    if (sdim != *dim || sntotal != *ntotal) {
        rd->error = "HNSW storage does not match the graph";
        return -1;
    }

    return 0;
}


static int
rs_index_scan(rs_index_reader_t *rd, rs_index_type_e *type, int32_t *dim,
    int64_t *ntotal)
{
    int   rc;
    char  tag[4];

    if (rs_index_read(rd, tag, sizeof(tag)) != 0) {
        return -1;
    }

    if (memcmp(tag, RS_INDEX_TAG_FLAT, sizeof(tag)) == 0) {
        *type = RS_INDEX_FLAT;
        rc = rs_index_scan_flat(rd, dim, ntotal);

    } else if (memcmp(tag, RS_INDEX_TAG_HNSW, sizeof(tag)) == 0) {
        *type = RS_INDEX_HNSW;
        rc = rs_index_scan_hnsw(rd, dim, ntotal);

    } else {
        rd->error = "not a faiss flat L2 or HNSW flat index";
        return -1;
    }

    if (rc != 0) {
        return -1;
    }

    if (rd->left != 0) {
        rd->error = "trailing data after the index";
        return -1;
    }

    return 0;
}


int
rs_index_search(const rs_index_t *ix, const float *query, int k,
    float *sims, int64_t *ids)
{
    int  i, n;

    if (ix == NULL || query == NULL || sims == NULL || ids == NULL || k < 0) {
        return -1;
    }

    /* more than ntotal would only be padded with -1 */
    if ((size_t) k > ix->count) {
        k = (int) ix->count;
    }

    if (k == 0) {
        return 0;
    }

    if (faiss_Index_search(ix->index, 1, query, k, sims, ids) != 0) {
        return -1;
    }

    /* HNSW may find fewer than k: faiss marks the gaps with id -1 */
    n = 0;

    for (i = 0; i < k; i++) {
        if (ids[i] < 0) {
            continue;
        }

        /* |a - b|^2 = 2 - 2 cos(a, b) for unit vectors */
        sims[n] = 1.0f - sims[i] * 0.5f;
        ids[n] = ids[i];
        n++;
    }

    return n;
}


int
rs_index_vector(const rs_index_t *ix, size_t i, float *vec)
{
    if (i >= ix->count) {
        return -1;
    }

    return faiss_Index_reconstruct(ix->index, (idx_t) i, vec) == 0 ? 0 : -1;
}


void
rs_index_free(rs_index_t *ix)
{
    if (ix == NULL) {
        return;
    }

    faiss_Index_free(ix->index);
    free(ix);
}


int
rs_index_dim(const rs_index_t *ix)
{
    return ix->dim;
}


size_t
rs_index_count(const rs_index_t *ix)
{
    return ix->count;
}


rs_index_type_e
rs_index_type(const rs_index_t *ix)
{
    return ix->type;
}


const char *
rs_index_type_name(rs_index_type_e type)
{
    switch (type) {

    case RS_INDEX_AUTO:
        return "auto";

    case RS_INDEX_FLAT:
        return "flat";

    case RS_INDEX_HNSW:
        return "hnsw";
    }

    return "unknown";
}


int
rs_index_type_parse(const char *name, rs_index_type_e *type)
{
    if (strcmp(name, "auto") == 0) {
        *type = RS_INDEX_AUTO;

    } else if (strcmp(name, "flat") == 0) {
        *type = RS_INDEX_FLAT;

    } else if (strcmp(name, "hnsw") == 0) {
        *type = RS_INDEX_HNSW;

    } else {
        return -1;
    }

    return 0;
}


/*
 * The nthreads ICV is per thread, so this covers only the caller.  The
 * master never enters a parallel region (loading needs none), hence the
 * workers inherit no libgomp thread pool that fork() would break.
 */

void
rs_index_single_thread(void)
{
    omp_set_num_threads(1);
}
