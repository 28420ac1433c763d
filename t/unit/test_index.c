/*
 * Copyright (C) ngx_recsys authors
 *
 * The vector index layer: build, search, save/load round trips, broken
 * files, the faiss C API error convention, and the rule that nothing but
 * a worker's search may enter an OpenMP parallel region.
 */


#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <omp.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "rs_index.h"


#define RS_TEST_N         2000
#define RS_TEST_DIM       64
#define RS_TEST_SEED      0x5eed2024ULL
#define RS_TEST_K         10
#define RS_TEST_EPS       1e-4f

/* faiss's header after the tag: d, ntotal, 2 dummies, is_trained */
#define RS_TEST_OFF_DIM     4
#define RS_TEST_OFF_METRIC  (4 + 4 + 8 + 8 + 8 + 1)
#define RS_TEST_OFF_VECTOR  (RS_TEST_OFF_METRIC + 4)


typedef void (*rs_test_gomp_parallel_pt)(void (*fn)(void *), void *data,
    unsigned nthreads, unsigned flags);


static char           rs_test_dir[256];
static unsigned long  rs_test_parallel_regions;


/*
 * libfaiss.a is linked into this executable, so its calls to the one
 * libgomp entry that starts parallel regions bind here first: counting
 * them proves that loading never starts a thread pool in the master.
 */

void
GOMP_parallel(void (*fn)(void *), void *data, unsigned nthreads,
    unsigned flags)
{
    static rs_test_gomp_parallel_pt  real;

    if (real == NULL) {
        *(void **) &real = dlsym(RTLD_NEXT, "GOMP_parallel");
        if (real == NULL) {
            abort();
        }
    }

    __atomic_add_fetch(&rs_test_parallel_regions, 1, __ATOMIC_RELAXED);

    real(fn, data, nthreads, flags);
}


static uint64_t
rs_test_random(uint64_t *state)
{
    uint64_t  z;

    z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static float *
rs_test_vectors(size_t n, int dim, uint64_t seed)
{
    int      j;
    float   *v, *row;
    double   norm;
    size_t   i;

    v = malloc(n * dim * sizeof(float));
    ck_assert_ptr_nonnull(v);

    for (i = 0; i < n; i++) {
        row = v + i * dim;
        norm = 0;

        for (j = 0; j < dim; j++) {
            row[j] = (float) ((rs_test_random(&seed) >> 11) * 0x1p-53 - 0.5);
            norm += (double) row[j] * row[j];
        }

        norm = sqrt(norm);

        for (j = 0; j < dim; j++) {
            row[j] = (float) (row[j] / norm);
        }
    }

    return v;
}


static rs_index_t *
rs_test_build(const float *v, size_t n, int dim, rs_index_type_e type)
{
    char         err[256];
    rs_index_t  *ix;

    err[0] = '\0';

    ck_assert_msg(rs_index_build(&ix, v, n, dim, type, err, sizeof(err))
                  == 0, "build failed: %s", err);

    return ix;
}


static const char *
rs_test_path(const char *name)
{
    static char  path[512];

    snprintf(path, sizeof(path), "%s/%s", rs_test_dir, name);

    return path;
}


static void
rs_test_save(const rs_index_t *ix, const char *name)
{
    char  err[256];

    ck_assert_msg(rs_index_save(ix, rs_test_path(name), err, sizeof(err))
                  == 0, "save failed: %s", err);
}


static rs_index_t *
rs_test_load(const char *name)
{
    char         err[256];
    rs_index_t  *ix;

    ck_assert_msg(rs_index_load(&ix, rs_test_path(name), err, sizeof(err))
                  == 0, "load failed: %s", err);

    return ix;
}


/* the load must fail with a message that contains "want" */

static void
rs_test_load_fails(const char *name, const char *want)
{
    char         err[256];
    rs_index_t  *ix;

    err[0] = '\0';
    ix = (rs_index_t *) 1;

    ck_assert_int_eq(rs_index_load(&ix, rs_test_path(name), err,
                                   sizeof(err)), -1);
    ck_assert_ptr_null(ix);
    ck_assert_msg(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err,
                  want);
}


static unsigned char *
rs_test_read_file(const char *name, size_t *len)
{
    FILE           *f;
    struct stat     st;
    unsigned char  *buf;

    ck_assert_int_eq(stat(rs_test_path(name), &st), 0);

    buf = malloc(st.st_size + 1);
    ck_assert_ptr_nonnull(buf);

    f = fopen(rs_test_path(name), "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(buf, 1, st.st_size, f), (size_t) st.st_size);
    fclose(f);

    *len = st.st_size;

    return buf;
}


static void
rs_test_write_file(const char *name, const void *buf, size_t len)
{
    FILE  *f;

    f = fopen(rs_test_path(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}


static int
rs_test_count_entries(const char *dir)
{
    int             n;
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);

    return n;
}


static void
rs_test_setup(void)
{
    const char  *tmp;

    tmp = getenv("TMPDIR");

    snprintf(rs_test_dir, sizeof(rs_test_dir), "%s/rs_index_XXXXXX",
             tmp ? tmp : "/tmp");

    ck_assert_ptr_nonnull(mkdtemp(rs_test_dir));
}


static void
rs_test_teardown(void)
{
    DIR            *d;
    struct dirent  *de;

    d = opendir(rs_test_dir);
    if (d == NULL) {
        return;
    }

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            unlink(rs_test_path(de->d_name));
        }
    }

    closedir(d);
    rmdir(rs_test_dir);
}


/* every stored row finds itself first, at similarity 1, best first */

static void
rs_test_self_search(const rs_index_t *ix, const float *v, size_t n, int dim,
    size_t step)
{
    int      i, got;
    float    sims[RS_TEST_K];
    size_t   row;
    int64_t  ids[RS_TEST_K];

    for (row = 0; row < n; row += step) {
        got = rs_index_search(ix, v + row * dim, RS_TEST_K, sims, ids);

        ck_assert_int_eq(got, RS_TEST_K);
        ck_assert_msg(ids[0] == (int64_t) row, "row %zu found %lld first",
                      row, (long long) ids[0]);
        ck_assert_float_eq_tol(sims[0], 1.0f, RS_TEST_EPS);

        for (i = 1; i < got; i++) {
            ck_assert_float_le(sims[i], sims[i - 1]);
            ck_assert_float_ge(sims[i], -1.0f - RS_TEST_EPS);
            ck_assert_int_ge(ids[i], 0);
            ck_assert_int_lt(ids[i], (int64_t) n);
        }
    }
}


START_TEST(test_type_names)
{
    rs_index_type_e  type;

    ck_assert_int_eq(rs_index_type_parse("auto", &type), 0);
    ck_assert_int_eq(type, RS_INDEX_AUTO);
    ck_assert_int_eq(rs_index_type_parse("flat", &type), 0);
    ck_assert_int_eq(type, RS_INDEX_FLAT);
    ck_assert_int_eq(rs_index_type_parse("hnsw", &type), 0);
    ck_assert_int_eq(type, RS_INDEX_HNSW);

    ck_assert_int_eq(rs_index_type_parse("", &type), -1);
    ck_assert_int_eq(rs_index_type_parse("HNSW", &type), -1);
    ck_assert_int_eq(rs_index_type_parse("ivf", &type), -1);
    ck_assert_int_eq(rs_index_type_parse("flat ", &type), -1);

    ck_assert_str_eq(rs_index_type_name(RS_INDEX_AUTO), "auto");
    ck_assert_str_eq(rs_index_type_name(RS_INDEX_FLAT), "flat");
    ck_assert_str_eq(rs_index_type_name(RS_INDEX_HNSW), "hnsw");
    ck_assert_str_eq(rs_index_type_name((rs_index_type_e) 42), "unknown");
}
END_TEST


START_TEST(test_build_rejects)
{
    char         err[256];
    float       *v;
    rs_index_t  *ix;

    v = rs_test_vectors(10, 8, RS_TEST_SEED);

    err[0] = '\0';
    ck_assert_int_eq(rs_index_build(&ix, v, 0, 8, RS_INDEX_FLAT, err,
                                    sizeof(err)), -1);
    ck_assert_ptr_null(ix);
    ck_assert_str_eq(err, "no vectors to index");

    ck_assert_int_eq(rs_index_build(&ix, NULL, 10, 8, RS_INDEX_FLAT, err,
                                    sizeof(err)), -1);

    ck_assert_int_eq(rs_index_build(&ix, v, 10, 0, RS_INDEX_FLAT, err,
                                    sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid vector dimension 0");

    ck_assert_int_eq(rs_index_build(&ix, v, 10, -8, RS_INDEX_HNSW, err,
                                    sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid vector dimension -8");

    ck_assert_int_eq(rs_index_build(&ix, v, 10, 8, (rs_index_type_e) 9, err,
                                    sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid index type 9");

    /* a NULL buffer must be tolerated */
    ck_assert_int_eq(rs_index_build(&ix, v, 10, 0, RS_INDEX_FLAT, NULL, 0),
                     -1);

    free(v);
}
END_TEST


START_TEST(test_flat_search)
{
    int          got;
    float       *v, sims[64];
    int64_t      ids[64];
    rs_index_t  *ix;

    v = rs_test_vectors(RS_TEST_N, RS_TEST_DIM, RS_TEST_SEED);
    ix = rs_test_build(v, RS_TEST_N, RS_TEST_DIM, RS_INDEX_FLAT);

    ck_assert_int_eq(rs_index_type(ix), RS_INDEX_FLAT);
    ck_assert_int_eq(rs_index_dim(ix), RS_TEST_DIM);
    ck_assert_uint_eq(rs_index_count(ix), RS_TEST_N);

    rs_test_self_search(ix, v, RS_TEST_N, RS_TEST_DIM, 1);

    ck_assert_int_eq(rs_index_search(ix, v, 0, sims, ids), 0);
    ck_assert_int_eq(rs_index_search(ix, v, -1, sims, ids), -1);
    ck_assert_int_eq(rs_index_search(ix, NULL, 5, sims, ids), -1);

    rs_index_free(ix);

    /* k above the vector count returns every vector, no -1 ids */
    ix = rs_test_build(v, 40, RS_TEST_DIM, RS_INDEX_FLAT);
    got = rs_index_search(ix, v + 7 * RS_TEST_DIM, 64, sims, ids);
    ck_assert_int_eq(got, 40);
    ck_assert_int_eq(ids[0], 7);

    rs_index_free(ix);
    rs_index_free(NULL);
    free(v);
}
END_TEST


START_TEST(test_hnsw_search)
{
    int          i, j, m, got, hits;
    float       *v, *q, fs[RS_TEST_K], hs[300];
    int64_t      fi[RS_TEST_K], hi[300];
    rs_index_t  *flat, *hnsw;

    v = rs_test_vectors(RS_TEST_N, RS_TEST_DIM, RS_TEST_SEED);
    hnsw = rs_test_build(v, RS_TEST_N, RS_TEST_DIM, RS_INDEX_HNSW);
    flat = rs_test_build(v, RS_TEST_N, RS_TEST_DIM, RS_INDEX_FLAT);

    ck_assert_int_eq(rs_index_type(hnsw), RS_INDEX_HNSW);
    ck_assert_int_eq(rs_index_dim(hnsw), RS_TEST_DIM);
    ck_assert_uint_eq(rs_index_count(hnsw), RS_TEST_N);

    rs_test_self_search(hnsw, v, RS_TEST_N, RS_TEST_DIM, 1);

    /* unseen queries: recall@10 against exact search */
    q = rs_test_vectors(50, RS_TEST_DIM, RS_TEST_SEED + 1);
    hits = 0;

    for (i = 0; i < 50; i++) {
        ck_assert_int_eq(rs_index_search(flat, q + i * RS_TEST_DIM,
                                         RS_TEST_K, fs, fi), RS_TEST_K);
        ck_assert_int_eq(rs_index_search(hnsw, q + i * RS_TEST_DIM,
                                         RS_TEST_K, hs, hi), RS_TEST_K);

        for (j = 0; j < RS_TEST_K; j++) {
            for (m = 0; m < RS_TEST_K; m++) {
                if (hi[m] == fi[j]) {
                    hits++;
                    break;
                }
            }
        }

        /* the same vector scores the same in both */
        if (hi[0] == fi[0]) {
            ck_assert_float_eq_tol(hs[0], fs[0], RS_TEST_EPS);
        }
    }

    ck_assert_msg(hits >= 50 * RS_TEST_K * 95 / 100, "recall@10 %d/500",
                  hits);

    /* k above efSearch (128) still yields k results */
    got = rs_index_search(hnsw, q, 300, hs, hi);
    ck_assert_int_eq(got, 300);

    for (i = 1; i < got; i++) {
        ck_assert_float_le(hs[i], hs[i - 1]);

        for (j = 0; j < i; j++) {
            ck_assert_int_ne(hi[i], hi[j]);
        }
    }

    rs_index_free(flat);
    rs_index_free(hnsw);
    free(q);
    free(v);
}
END_TEST


START_TEST(test_auto_type)
{
    float       *v;
    rs_index_t  *ix;

    v = rs_test_vectors(RS_INDEX_AUTO_HNSW_MIN, 4, RS_TEST_SEED);

    ix = rs_test_build(v, RS_INDEX_AUTO_HNSW_MIN - 1, 4, RS_INDEX_AUTO);
    ck_assert_int_eq(rs_index_type(ix), RS_INDEX_FLAT);
    rs_index_free(ix);

    ix = rs_test_build(v, RS_INDEX_AUTO_HNSW_MIN, 4, RS_INDEX_AUTO);
    ck_assert_int_eq(rs_index_type(ix), RS_INDEX_HNSW);
    rs_index_free(ix);

    free(v);
}
END_TEST


static void
rs_test_roundtrip(rs_index_type_e type)
{
    int          i, a, b;
    float       *v, *q, sa[RS_TEST_K], sb[RS_TEST_K];
    int64_t      ia[RS_TEST_K], ib[RS_TEST_K];
    rs_index_t  *built, *loaded;

    v = rs_test_vectors(RS_TEST_N, RS_TEST_DIM, RS_TEST_SEED);
    q = rs_test_vectors(20, RS_TEST_DIM, RS_TEST_SEED + 2);

    built = rs_test_build(v, RS_TEST_N, RS_TEST_DIM, type);
    rs_test_save(built, "index.faiss");

    /* the temporary file was renamed, not left behind */
    ck_assert_int_eq(rs_test_count_entries(rs_test_dir), 1);

    loaded = rs_test_load("index.faiss");

    ck_assert_int_eq(rs_index_type(loaded), type);
    ck_assert_int_eq(rs_index_dim(loaded), RS_TEST_DIM);
    ck_assert_uint_eq(rs_index_count(loaded), RS_TEST_N);

    for (i = 0; i < 20; i++) {
        a = rs_index_search(built, q + i * RS_TEST_DIM, RS_TEST_K, sa, ia);
        b = rs_index_search(loaded, q + i * RS_TEST_DIM, RS_TEST_K, sb, ib);

        ck_assert_int_eq(a, RS_TEST_K);
        ck_assert_int_eq(a, b);
        ck_assert_mem_eq(ia, ib, sizeof(ia));
        ck_assert_mem_eq(sa, sb, sizeof(sa));
    }

    rs_test_self_search(loaded, v, RS_TEST_N, RS_TEST_DIM, 7);

    /* saving over an existing file replaces it */
    rs_test_save(loaded, "index.faiss");
    ck_assert_int_eq(rs_test_count_entries(rs_test_dir), 1);

    rs_index_free(built);
    rs_index_free(loaded);
    free(q);
    free(v);
}


START_TEST(test_roundtrip_flat)
{
    rs_test_roundtrip(RS_INDEX_FLAT);
}
END_TEST


START_TEST(test_roundtrip_hnsw)
{
    rs_test_roundtrip(RS_INDEX_HNSW);
}
END_TEST


START_TEST(test_save_fails)
{
    char         err[256];
    float       *v;
    rs_index_t  *ix;

    v = rs_test_vectors(10, 8, RS_TEST_SEED);
    ix = rs_test_build(v, 10, 8, RS_INDEX_FLAT);

    ck_assert_int_eq(rs_index_save(ix, "/nonexistent/dir/index.faiss", err,
                                   sizeof(err)), -1);
    ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);

    rs_index_free(ix);
    free(v);
}
END_TEST


START_TEST(test_load_missing)
{
    rs_test_load_fails("no-such-file", "cannot open");
    rs_test_load_fails("", "not a regular file");
}
END_TEST


static void
rs_test_truncations(const char *name)
{
    size_t          i, len, cuts[8];
    unsigned char  *buf;

    buf = rs_test_read_file(name, &len);

    cuts[0] = 0;
    cuts[1] = 3;
    cuts[2] = 4;
    cuts[3] = RS_TEST_OFF_VECTOR;
    cuts[4] = RS_TEST_OFF_VECTOR + 9;
    cuts[5] = len / 2;
    cuts[6] = len - 4;
    cuts[7] = len - 1;

    for (i = 0; i < 8; i++) {
        rs_test_write_file("cut", buf, cuts[i]);
        rs_test_load_fails("cut", "file is truncated");
    }

    /* one byte too many is just as wrong */
    buf[len] = 0;
    rs_test_write_file("long", buf, len + 1);
    rs_test_load_fails("long", "trailing data");

    free(buf);
}


START_TEST(test_load_corrupt)
{
    float          *v;
    size_t          i, len;
    int32_t         dim, metric;
    uint64_t        seed, huge;
    rs_index_t     *ix;
    unsigned char  *buf, noise[4096];

    v = rs_test_vectors(300, 8, RS_TEST_SEED);

    ix = rs_test_build(v, 100, 8, RS_INDEX_FLAT);
    rs_test_save(ix, "flat");
    rs_index_free(ix);

    ix = rs_test_build(v, 300, 8, RS_INDEX_HNSW);
    rs_test_save(ix, "hnsw");
    rs_index_free(ix);

    rs_test_truncations("flat");
    rs_test_truncations("hnsw");

    seed = RS_TEST_SEED;

    for (i = 0; i < sizeof(noise); i++) {
        noise[i] = (unsigned char) rs_test_random(&seed);
    }

    rs_test_write_file("noise", noise, sizeof(noise));
    rs_test_load_fails("noise", "not a faiss flat L2 or HNSW flat index");

    /* a valid tag in front of noise */
    memcpy(noise, "IHNf", 4);
    rs_test_write_file("noise", noise, sizeof(noise));
    rs_test_load_fails("noise", "invalid index");

    memcpy(noise, "IxF2", 4);
    rs_test_write_file("noise", noise, sizeof(noise));
    rs_test_load_fails("noise", "invalid index");

    /* a vector size that faiss would try to allocate: 4 TB */
    buf = rs_test_read_file("hnsw", &len);
    huge = 1ULL << 39;
    memcpy(buf + RS_TEST_OFF_VECTOR, &huge, sizeof(huge));
    rs_test_write_file("bad", buf, len);
    rs_test_load_fails("bad", "file is truncated");
    free(buf);

    /* an inner-product index is not what the similarities assume */
    buf = rs_test_read_file("flat", &len);
    metric = METRIC_INNER_PRODUCT;
    memcpy(buf + RS_TEST_OFF_METRIC, &metric, sizeof(metric));
    rs_test_write_file("bad", buf, len);
    rs_test_load_fails("bad", "index metric is not L2");

    /* wrong dimensions in the header */
    dim = 32;
    memcpy(buf + RS_TEST_OFF_DIM, &dim, sizeof(dim));
    metric = METRIC_L2;
    memcpy(buf + RS_TEST_OFF_METRIC, &metric, sizeof(metric));
    rs_test_write_file("bad", buf, len);
    rs_test_load_fails("bad", "vector data does not match the header");

    dim = 0;
    memcpy(buf + RS_TEST_OFF_DIM, &dim, sizeof(dim));
    rs_test_write_file("bad", buf, len);
    rs_test_load_fails("bad", "invalid dimension");
    free(buf);

    buf = rs_test_read_file("hnsw", &len);
    dim = 16;
    memcpy(buf + RS_TEST_OFF_DIM, &dim, sizeof(dim));
    rs_test_write_file("bad", buf, len);
    rs_test_load_fails("bad", "HNSW storage does not match the graph");
    free(buf);

    /* the originals still load after all that */
    ix = rs_test_load("hnsw");
    ck_assert_int_eq(rs_index_type(ix), RS_INDEX_HNSW);
    ck_assert_int_eq(rs_index_dim(ix), 8);
    rs_index_free(ix);

    free(v);
}
END_TEST


static void *
rs_test_thread_error(void *arg)
{
    (void) arg;

    return (void *) faiss_get_last_error();
}


START_TEST(test_c_api_errors)
{
    int          rc;
    FILE        *f;
    void        *other;
    float        x[8], d;
    idx_t        label;
    pthread_t    th;
    const char  *msg;
    FaissIndex  *index;

    rc = faiss_index_factory(&index, 8, "NoSuchIndex", METRIC_L2);
    ck_assert_int_eq(rc, FAISS_EXCEPT);

    msg = faiss_get_last_error();
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "NoSuchIndex") != NULL, "%s", msg);

    /* the last error belongs to the thread that caused it */
    ck_assert_int_eq(pthread_create(&th, NULL, rs_test_thread_error, NULL),
                     0);
    ck_assert_int_eq(pthread_join(th, &other), 0);
    ck_assert_ptr_null(other);

    ck_assert_int_eq(faiss_index_factory(&index, 8, "Flat", METRIC_L2), 0);
    ck_assert_int_eq(faiss_Index_d(index), 8);
    ck_assert_int_eq(faiss_Index_ntotal(index), 0);

    memset(x, 0, sizeof(x));
    ck_assert_int_eq(faiss_Index_add(index, 1, x), 0);
    ck_assert_int_eq(faiss_Index_ntotal(index), 1);

    rc = faiss_Index_search(index, 1, x, 0, &d, &label);
    ck_assert_int_eq(rc, FAISS_EXCEPT);
    ck_assert_ptr_nonnull(faiss_get_last_error());

    faiss_Index_free(index);

    f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs("garbage!", f) >= 0, 1);
    rewind(f);

    index = NULL;
    rc = faiss_read_index(f, 0, &index);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(index);
    ck_assert_msg(strstr(faiss_get_last_error(), "not recognized") != NULL,
                  "%s", faiss_get_last_error());

    fclose(f);
}
END_TEST


/*
 * A forked child must not reach Check's assertions: without fork mode a
 * failure would jump back into the runner inside the child.
 */

static int
rs_test_worker(const rs_index_t *ix, const float *v, unsigned long regions)
{
    int      got;
    float    sims[RS_TEST_K];
    size_t   row;
    int64_t  ids[RS_TEST_K];

    rs_index_single_thread();

    if (omp_get_max_threads() != 1) {
        return 1;
    }

    for (row = 0; row < RS_TEST_N; row += 3) {
        got = rs_index_search(ix, v + row * RS_TEST_DIM, RS_TEST_K, sims,
                              ids);

        if (got != RS_TEST_K || ids[0] != (int64_t) row
            || fabsf(sims[0] - 1.0f) > RS_TEST_EPS)
        {
            return 2;
        }
    }

    /* the searches did go through OpenMP, on this one thread */
    if (rs_test_parallel_regions == regions) {
        return 3;
    }

    if (rs_test_count_entries("/proc/self/task") != 1) {
        return 4;
    }

    return 0;
}


/*
 * The nginx life cycle: the master loads before fork, without ever
 * entering a parallel region, and each worker goes single-threaded and
 * searches.  The build runs in a child, as the master would never build.
 */

START_TEST(test_fork_workers)
{
    int             w, status;
    float          *v;
    pid_t           pid, pids[2];
    rs_index_t     *ix;
    unsigned long   regions;

    v = rs_test_vectors(RS_TEST_N, RS_TEST_DIM, RS_TEST_SEED);

    pid = fork();
    ck_assert_int_ge(pid, 0);

    if (pid == 0) {
        /*
         * Without Check's fork mode this process has already run HNSW
         * builds, and libgomp deadlocks in a forked child that starts a
         * team on an inherited pool: a single thread needs no team.
         */
        rs_index_single_thread();

        status = rs_index_build(&ix, v, RS_TEST_N, RS_TEST_DIM,
                                RS_INDEX_HNSW, NULL, 0) != 0
                 || rs_index_save(ix, rs_test_path("index.faiss"), NULL, 0)
                    != 0;

        /* valgrind checks every child for leaks too */
        rs_index_free(ix);
        free(v);
        _exit(status);
    }

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    regions = rs_test_parallel_regions;

    ix = rs_test_load("index.faiss");

    ck_assert_uint_eq(rs_test_parallel_regions, regions);

    for (w = 0; w < 2; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);

        if (pids[w] == 0) {
            status = rs_test_worker(ix, v, regions);
            rs_index_free(ix);
            free(v);
            _exit(status);
        }
    }

    for (w = 0; w < 2; w++) {
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "worker %d failed: status %d", w, status);
    }

    rs_index_free(ix);
    free(v);
}
END_TEST


static Suite *
rs_test_suite(void)
{
    TCase  *tc;
    Suite  *s;

    s = suite_create("rs_index");

    tc = tcase_create("index");
    tcase_add_checked_fixture(tc, rs_test_setup, rs_test_teardown);
    tcase_set_timeout(tc, 120);

    tcase_add_test(tc, test_type_names);
    tcase_add_test(tc, test_build_rejects);
    tcase_add_test(tc, test_flat_search);
    tcase_add_test(tc, test_hnsw_search);
    tcase_add_test(tc, test_auto_type);
    tcase_add_test(tc, test_roundtrip_flat);
    tcase_add_test(tc, test_roundtrip_hnsw);
    tcase_add_test(tc, test_save_fails);
    tcase_add_test(tc, test_load_missing);
    tcase_add_test(tc, test_load_corrupt);
    tcase_add_test(tc, test_c_api_errors);
    tcase_add_test(tc, test_fork_workers);

    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(rs_test_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
