/*
 * Copyright (C) ngx_recsys authors
 *
 * Indexes embedded by an external model, without the network: the wire
 * format of the embeddings API, the build's checkpoint, the text each
 * product sends, a build whose embed function is a deterministic stand-in
 * for the model (interrupted, resumed, changing dimension), the manifest
 * checks that refuse what the module cannot reproduce, and the request
 * path: the request's model vector, the lexical companion when there is
 * none, popularity when there is nothing, stored vectors for item=.
 */


#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rs_arena.h"
#include "rs_build.h"
#include "rs_ckpt.h"
#include "rs_embed.h"
#include "rs_engine.h"
#include "rs_openai.h"
#include "rs_tpl.h"
#include "rs_util.h"


#define MODEL_DIM    32
#define LEXICAL_DIM  64


/* the stand-in model: what it embedded, and how it misbehaves */
typedef struct {
    size_t    calls;
    size_t    texts;
    size_t    fail_after;       /* texts; 0: never */
    uint32_t  dim;
    uint32_t  dim_after;        /* from fail_after on, when not 0 */
    char      seen[64][256];
} model_t;


static char  dir[64];
static char  catalog[64];


static void
write_file(const char *path, const char *text)
{
    FILE  *f;

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}


static int
collect(const char *buf, size_t size, void *data)
{
    strncat(data, buf, size);
    return 0;
}


/*
 * A bag of hashed words: texts that share words are close, like a real
 * model's, so "running shoes" finds the running shoes in model space.
 */
static void
fake_vector(const char *text, size_t len, uint32_t dim, float *v)
{
    size_t    i, start;
    uint64_t  h;

    memset(v, 0, dim * sizeof(float));

    for (i = 0; i <= len; i++) {
        start = i;

        while (i < len && ((text[i] | 0x20) >= 'a' && (text[i] | 0x20) <= 'z'))
        {
            i++;
        }

        if (i > start) {
            h = rs_hash64(text + start, i - start, 7);
            v[h % dim] += (h & (1ULL << 40)) ? 1.0f : -1.0f;
        }
    }

    v[0] += 0.01f;
    rs_embed_normalize(v, dim);
}


static int
fake_embed(void *data, const rs_embed_job_t *jobs, size_t n,
    rs_build_vectors_pt done, void *build, char *err, size_t errlen)
{
    float     v[2 * MODEL_DIM];
    size_t    i, k, b;
    uint32_t  dim;
    model_t  *m;

    m = data;
    m->calls++;

    /* batches of two, as the HTTP client would send them */
    for (i = 0; i < n; i += b) {
        b = n - i < 2 ? n - i : 2;

        if (m->fail_after && m->texts >= m->fail_after && !m->dim_after) {
            snprintf(err, errlen, "batch %zu: HTTP 500 after 3 attempts",
                     i / 2 + 1);
            return -1;
        }

        dim = (m->fail_after && m->texts >= m->fail_after) ? m->dim_after
                                                           : m->dim;

        for (k = 0; k < b; k++) {
            fake_vector(jobs[i + k].text, jobs[i + k].len, dim, v + k * dim);
            snprintf(m->seen[m->texts++ % 64], 256, "%s", jobs[i + k].id);
        }

        if (done(build, i, b, v, dim, err, errlen) != 0) {
            return -1;
        }
    }

    return 0;
}


static void
setup(void)
{
    strcpy(dir, "/tmp/rs-unit-model-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(catalog, sizeof(catalog), "%s.jsonl", dir);

    write_file(catalog,
        "{\"id\":\"s1\",\"title\":\"Road running shoes\",\"brand\":\"Brooks\","
        "\"category\":\"Shoes > Running\",\"price\":89.99,\"stock\":4,"
        "\"popularity\":50}\n"
        "{\"id\":\"s2\",\"title\":\"Trail running shoes\","
        "\"brand\":\"Salomon\",\"category\":\"Shoes > Running > Trail\","
        "\"price\":139,\"stock\":3,\"popularity\":500}\n"
        "{\"id\":\"s3\",\"title\":\"Leather dress shoes\",\"brand\":\"Clarks\","
        "\"category\":\"Shoes > Dress\",\"price\":120,\"stock\":2,"
        "\"popularity\":5}\n"
        "{\"id\":\"k1\",\"title\":\"Cast iron skillet\",\"brand\":\"Lodge\","
        "\"category\":\"Home > Kitchen\",\"price\":35,\"stock\":9,"
        "\"popularity\":300}\n"
        "{\"id\":\"k2\",\"title\":\"Chef knife\",\"brand\":\"Wusthof\","
        "\"category\":\"Home > Kitchen\",\"price\":99,\"stock\":1,"
        "\"popularity\":100}\n");
}


static void
teardown(void)
{
    char  cmd[160];

    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, catalog);
    ck_assert_int_eq(system(cmd), 0);
}


static int
build(model_t *m, rs_embedder_type_e type, rs_build_stats_t *stats,
    char *err, size_t errlen)
{
    rs_build_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.catalog = catalog;
    conf.out = dir;
    conf.dim = LEXICAL_DIM;
    conf.embedder = type;
    conf.model = "fake-embed-1";
    conf.endpoint_host = "models.example:8080";
    conf.embed = fake_embed;
    conf.embed_data = m;

    return rs_build(&conf, stats, err, errlen);
}


static rs_engine_t *
open_model_index(void)
{
    char              err[512];
    model_t           m;
    rs_engine_t      *e;
    rs_build_stats_t  stats;

    memset(&m, 0, sizeof(m));
    m.dim = MODEL_DIM;

    ck_assert_msg(build(&m, RS_EMBEDDER_OPENAI, &stats, err, sizeof(err))
                  == 0, "%s", err);
    ck_assert_msg(rs_engine_open(&e, dir, err, sizeof(err)) == 0, "%s",
                  err);
    rs_index_single_thread();

    return e;
}


static void
request(rs_request_t *req, rs_arena_t *arena, const char *text)
{
    memset(req, 0, sizeof(*req));
    req->text = text;
    req->text_len = strlen(text);
    req->k = 3;
    req->candidates = 200;
    req->now = 1.7e9;
    req->alloc = rs_arena_alloc;
    req->alloc_data = arena;
}


static const char *
hit_id(const rs_engine_t *e, const rs_result_t *res, uint32_t i)
{
    const rs_store_t  *st;

    st = rs_engine_store(e);

    return rs_store_str(st, st->items[res->hits[i].item].id);
}


/* rewrites one manifest field through a jansson path of two keys */
static void
edit_manifest(const char *k1, const char *k2, json_t *value)
{
    char     path[128];
    json_t  *m, *o;

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_MANIFEST);
    m = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(m);

    o = json_object_get(m, k1);
    ck_assert_ptr_nonnull(o);

    if (value == NULL) {
        json_object_del(o, k2);

    } else {
        json_object_set_new(o, k2, value);
    }

    ck_assert_int_eq(json_dump_file(m, path, JSON_INDENT(2)), 0);
    json_decref(m);
}


START_TEST(test_request_json)
{
    char          out[512];
    json_t       *j;
    const char   *texts[] = { "running shoes", "Crème brûlée" };
    size_t        lens[] = { 13, strlen("Crème brûlée") };
    const char   *bad[] = { "\xff\xfe" };
    size_t        badlen[] = { 2 };

    out[0] = '\0';
    ck_assert_int_eq(rs_openai_request_json("m-1", texts, lens, 2, collect,
                                            out), 0);

    j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "m-1");
    ck_assert_str_eq(json_string_value(json_object_get(j,
                                                       "encoding_format")),
                     "float");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "input")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j,
                                                                      "input"),
                                                      1)),
                     "Crème brûlée");
    json_decref(j);

    out[0] = '\0';
    ck_assert_int_eq(rs_openai_request_json("m", bad, badlen, 1, collect,
                                            out), -1);
}
END_TEST


static const char *
query_text(const char *in, char *out, size_t size)
{
    size_t  n;

    n = size;

    if (rs_openai_query_text(in, strlen(in), out, &n) != 0) {
        return NULL;
    }

    ck_assert_uint_eq(n, strlen(out));

    return out;
}


START_TEST(test_query_text)
{
    char  out[256], small[8];

    ck_assert_str_eq(query_text("  Running \t SHOES\r\n", out, sizeof(out)),
                     "running shoes");
    ck_assert_str_eq(query_text("Crème BRÛLÉE Torch", out, sizeof(out)),
                     "crème brÛlÉe torch");
    ck_assert_str_eq(query_text("   ", out, sizeof(out)), "");

    /* what names a shopper never reaches the model, nor the cache key */
    ck_assert_str_eq(query_text("Boots for Ann.Lee@Example.com call "
                                "+1 555 123 4567", out, sizeof(out)),
                     "boots for [email] call [phone]");

    /* sizes, prices and model numbers are the query itself */
    ck_assert_str_eq(query_text("Size 10 under $120 GT-2000", out,
                                sizeof(out)),
                     "size 10 under $120 gt-2000");

    ck_assert_ptr_null(query_text("running shoes", small, sizeof(small)));
    ck_assert_uint_ge(RS_OPENAI_QUERY_SIZE(6), sizeof("[email]"));
}
END_TEST


START_TEST(test_parse_reply)
{
    char          err[256];
    float         v[3 * 4];
    size_t        which;
    uint32_t      dim;
    const char   *ok;

    /* "index" wins over the order of "data" */
    ok = "{\"data\":[{\"index\":1,\"embedding\":[4,5,6]},"
         "{\"index\":0,\"embedding\":[1,2,3.5]}],\"model\":\"m\"}";

    ck_assert_int_eq(rs_openai_parse_reply(ok, strlen(ok), 2, 4, v, &dim,
                                           &which, err, sizeof(err)), 0);
    ck_assert_uint_eq(dim, 3);
    ck_assert(v[0] == 1.0f && v[2] == 3.5f && v[3] == 4.0f && v[5] == 6.0f);

#define BAD(body, n, want, which_want)                                       \
    do {                                                                     \
        ck_assert_int_eq(rs_openai_parse_reply(body, strlen(body), n, 4, v,  \
                                               &dim, &which, err,           \
                                               sizeof(err)), -1);           \
        ck_assert_msg(strstr(err, want) != NULL, "%s", err);                 \
        ck_assert_uint_eq(which, which_want);                                \
    } while (0)

    BAD("{\"data\":[{\"embedding\":[1,2]}", 1, "not JSON", SIZE_MAX);
    BAD("{\"error\":{\"message\":\"quota exceeded\"}}", 1,
        "is an error: quota exceeded", SIZE_MAX);
    BAD("{\"object\":\"list\"}", 1, "no \"data\" array", SIZE_MAX);
    BAD("{\"data\":[]}", 2, "0 vectors for 2 inputs", SIZE_MAX);
    BAD("{\"data\":[{\"embedding\":[]}]}", 1, "the vector is empty", 0);
    BAD("{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[1,\"NaN\"]}]}", 2,
        "non-numeric value at position 1", 1);
    BAD("{\"data\":[{\"embedding\":[null,2]}]}", 1, "non-numeric", 0);
    BAD("{\"data\":[{\"embedding\":[1,2,3]},{\"embedding\":[1,2]}]}", 2,
        "2 dimensions where the reply's others have 3", 1);
    BAD("{\"data\":[{\"embedding\":[1,2,3,4,5]}]}", 1,
        "5 dimensions, more than 4", 0);
    BAD("{\"data\":[{\"index\":0,\"embedding\":[1]},"
        "{\"index\":0,\"embedding\":[2]}]}", 2, "two vectors for input 0",
        SIZE_MAX);
    BAD("{\"data\":[{\"index\":3,\"embedding\":[1]}]}", 1, "invalid \"index\"",
        SIZE_MAX);
    BAD("{\"data\":[{\"embedding\":[1e39]}]}", 1, "non-numeric", 0);

#undef BAD
}
END_TEST


START_TEST(test_checkpoint)
{
    int          stale;
    char         err[256], path[128];
    FILE        *f;
    float        a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 };
    uint64_t     keys[1];
    rs_ckpt_t   *c, *c2;
    const float *v;

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_CHECKPOINT);

    ck_assert_int_eq(rs_ckpt_open(&c, path, "m", &stale, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(rs_ckpt_dim(c), 0);
    ck_assert_ptr_null(rs_ckpt_find(c, 1));

    /* one build at a time per directory */
    ck_assert_int_eq(rs_ckpt_open(&c2, path, "m", &stale, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "another build") != NULL, "%s", err);

    ck_assert_int_eq(rs_ckpt_add(c, 11, a, 4, err, sizeof(err)), 0);
    ck_assert_int_eq(rs_ckpt_add(c, 22, b, 4, err, sizeof(err)), 0);
    ck_assert_int_eq(rs_ckpt_add(c, 33, b, 3, err, sizeof(err)), -1);
    ck_assert_int_eq(rs_ckpt_flush(c, err, sizeof(err)), 0);
    rs_ckpt_close(c);

    /* a record torn by a kill is dropped, the whole ones stay */
    f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(a, 1, 9, f), 9);
    fclose(f);

    ck_assert_int_eq(rs_ckpt_open(&c, path, "m", &stale, err, sizeof(err)),
                     0);
    ck_assert_int_eq(stale, 0);
    ck_assert_uint_eq(rs_ckpt_dim(c), 4);
    ck_assert_uint_eq(rs_ckpt_count(c), 2);
    v = rs_ckpt_find(c, 22);
    ck_assert_ptr_nonnull(v);
    ck_assert(v[0] == 5 && v[3] == 8);
    ck_assert_ptr_null(rs_ckpt_find(c, 33));

    /* appending after the repair, and compacting to what is still wanted */
    ck_assert_int_eq(rs_ckpt_add(c, 44, a, 4, err, sizeof(err)), 0);
    ck_assert_int_eq(rs_ckpt_flush(c, err, sizeof(err)), 0);
    keys[0] = 22;
    ck_assert_int_eq(rs_ckpt_compact(c, keys, b, 1, err, sizeof(err)), 0);
    rs_ckpt_close(c);

    ck_assert_int_eq(rs_ckpt_open(&c, path, "m", &stale, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(rs_ckpt_count(c), 1);
    ck_assert_ptr_nonnull(rs_ckpt_find(c, 22));
    ck_assert_ptr_null(rs_ckpt_find(c, 11));
    rs_ckpt_close(c);

    /* another model's vectors are worth nothing */
    ck_assert_int_eq(rs_ckpt_open(&c, path, "other", &stale, err,
                                  sizeof(err)), 0);
    ck_assert_int_eq(stale, 1);
    ck_assert_uint_eq(rs_ckpt_count(c), 0);
    ck_assert_int_eq(rs_ckpt_add(c, 55, a, 2, err, sizeof(err)), 0);
    rs_ckpt_close(c);

    ck_assert_int_eq(rs_ckpt_open(&c, path, "other", &stale, err,
                                  sizeof(err)), 0);
    ck_assert_uint_eq(rs_ckpt_dim(c), 2);
    ck_assert_ptr_nonnull(rs_ckpt_find(c, 55));
    rs_ckpt_close(c);

    ck_assert_uint_ne(rs_ckpt_key("a", "xy", 2), rs_ckpt_key("a", "xz", 2));
    ck_assert_uint_ne(rs_ckpt_key("a", "xy", 2), rs_ckpt_key("b", "xy", 2));
}
END_TEST


START_TEST(test_text_template)
{
    char          err[256], desc[2100], *t;
    size_t        len;
    rs_tpl_t     *tpl;
    rs_product_t  p;
    const char   *src;

    memset(&p, 0, sizeof(p));
    p.id = "x1";
    p.title = "Salt & Pepper <Mill>";
    p.brand = "Kitchenry";
    p.category = "Home > Kitchen";
    p.tags = "wood\x1fgift";
    p.extra = "{\"color\":\"Navy\"}";

    src = RS_BUILD_TEXT_TEMPLATE;
    ck_assert_int_eq(rs_tpl_parse(&tpl, src, strlen(src), "t",
                                  RS_TPL_NO_ESCAPE, NULL, NULL, err,
                                  sizeof(err)), 0);

    t = rs_build_text(tpl, &p, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "Salt & Pepper <Mill> by Kitchenry. Category: "
                     "Home > Kitchen");
    ck_assert_uint_eq(len, strlen(t));
    free(t);

    /* no brand: its section goes, with its words */
    p.brand = NULL;
    memset(desc, 'a', sizeof(desc));
    memcpy(desc + 1998, "\xc3\xa9", 2);     /* an é across the cut */
    desc[sizeof(desc) - 1] = '\0';
    p.description = desc;

    t = rs_build_text(tpl, &p, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(len, strlen("Salt & Pepper <Mill>. Category: "
                                  "Home > Kitchen. ") + 2000);
    ck_assert(strstr(t, " by ") == NULL);
    ck_assert(rs_utf8_valid((const unsigned char *) t, len));
    free(t);
    rs_tpl_free(tpl);

    /* tags, other catalogue fields */
    src = "{{id}}:{{#tags}} {{.}}{{/tags}} {{color}}";
    ck_assert_int_eq(rs_tpl_parse(&tpl, src, strlen(src), "t",
                                  RS_TPL_NO_ESCAPE, NULL, NULL, err,
                                  sizeof(err)), 0);
    t = rs_build_text(tpl, &p, &len);
    ck_assert_str_eq(t, "x1: wood gift Navy");
    free(t);
    rs_tpl_free(tpl);
}
END_TEST


START_TEST(test_build_manifest)
{
    char              err[512], path[128];
    json_t           *m, *emb, *comp;
    model_t           model;
    rs_engine_t      *e;
    rs_build_stats_t  stats;
    const rs_engine_model_t  *md;

    memset(&model, 0, sizeof(model));
    model.dim = MODEL_DIM;

    ck_assert_msg(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                        sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(stats.model_dim, MODEL_DIM);
    ck_assert_uint_eq(stats.embedded, 5);
    ck_assert_uint_eq(stats.reused, 0);

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_MANIFEST);
    m = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(m);
    emb = json_object_get(m, "embedder");
    comp = json_object_get(emb, "companion");

    ck_assert_int_eq(json_integer_value(json_object_get(m, "dim")),
                     MODEL_DIM);
    ck_assert_str_eq(json_string_value(json_object_get(emb, "type")),
                     "openai");
    ck_assert_str_eq(json_string_value(json_object_get(emb, "model")),
                     "fake-embed-1");
    ck_assert_str_eq(json_string_value(json_object_get(emb,
                                                       "endpoint_host")),
                     "models.example:8080");
    ck_assert_str_eq(json_string_value(json_object_get(emb,
                                                       "text_template")),
                     RS_BUILD_TEXT_TEMPLATE);
    ck_assert_str_eq(json_string_value(json_object_get(comp, "index")),
                     RS_FILE_LEXICAL_INDEX);
    ck_assert_str_eq(json_string_value(json_object_get(comp, "name")),
                     RS_EMBED_NAME);
    ck_assert_int_eq(json_integer_value(json_object_get(comp, "dim")),
                     LEXICAL_DIM);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(m, "files"),
                                          RS_FILE_LEXICAL_INDEX));
    json_decref(m);

    ck_assert_msg(rs_engine_open(&e, dir, err, sizeof(err)) == 0, "%s", err);
    md = rs_engine_model(e);
    ck_assert_int_eq(md->type, RS_EMBEDDER_OPENAI);
    ck_assert_str_eq(md->model, "fake-embed-1");
    ck_assert_str_eq(md->endpoint_host, "models.example:8080");
    ck_assert_uint_eq(md->dim, MODEL_DIM);
    ck_assert_uint_eq(md->lexical_dim, LEXICAL_DIM);
    ck_assert_uint_eq(rs_engine_store(e)->dim, MODEL_DIM);
    rs_engine_close(e);

    /* a built-in index says so, and serves its own dimension */
    ck_assert_msg(build(&model, RS_EMBEDDER_BUILTIN, &stats, err,
                        sizeof(err)) == 0, "%s", err);
    ck_assert_msg(rs_engine_open(&e, dir, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(rs_engine_model(e)->type, RS_EMBEDDER_BUILTIN);
    ck_assert_uint_eq(rs_engine_model(e)->dim, LEXICAL_DIM);
    rs_engine_close(e);

    m = json_load_file(path, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m,
                                                                "embedder"),
                                                       "type")),
                     "builtin");
    json_decref(m);
}
END_TEST


START_TEST(test_build_resumes)
{
    char              err[512], path[128];
    size_t            i, j;
    model_t           model;
    rs_build_stats_t  stats;

    memset(&model, 0, sizeof(model));
    model.dim = MODEL_DIM;
    model.fail_after = 2;

    ck_assert_int_eq(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                           sizeof(err)), -1);
    ck_assert_msg(strstr(err, "HTTP 500") != NULL, "%s", err);
    ck_assert_uint_eq(stats.embedded, 2);
    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_MANIFEST);
    ck_assert_int_eq(access(path, F_OK), -1);

    model.fail_after = 0;
    ck_assert_msg(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                        sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(stats.reused, 2);
    ck_assert_uint_eq(stats.embedded, 3);

    /* every product went to the model exactly once over both runs */
    ck_assert_uint_eq(model.texts, 5);

    for (i = 0; i < model.texts; i++) {
        for (j = i + 1; j < model.texts; j++) {
            ck_assert_str_ne(model.seen[i], model.seen[j]);
        }
    }

    /* nothing changed: nothing to pay for */
    model.calls = 0;
    ck_assert_msg(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                        sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(model.calls, 0);
    ck_assert_uint_eq(stats.reused, 5);
}
END_TEST


START_TEST(test_build_dimension_changes)
{
    char              err[512];
    model_t           model;
    rs_build_stats_t  stats;

    memset(&model, 0, sizeof(model));
    model.dim = MODEL_DIM;
    model.fail_after = 2;
    model.dim_after = MODEL_DIM / 2;

    ck_assert_int_eq(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                           sizeof(err)), -1);
    ck_assert_msg(strstr(err, "16 dimensions where earlier items had 32: "
                         "the model's dimension changed mid-build") != NULL,
                  "%s", err);
    ck_assert_msg(strstr(err, "item \"s3\"") != NULL, "%s", err);

    /* the next run finds 32-dimensional vectors in the checkpoint */
    model.texts = 0;
    model.fail_after = 1;
    ck_assert_int_eq(build(&model, RS_EMBEDDER_OPENAI, &stats, err,
                           sizeof(err)), -1);
    ck_assert_msg(strstr(err, "holds its earlier 32-dimensional vectors")
                  != NULL, "%s", err);
}
END_TEST


START_TEST(test_engine_refuses)
{
    char          err[512];
    rs_engine_t  *e;

    rs_engine_close(open_model_index());

    edit_manifest("embedder", "type", json_string("sentencepiece"));
    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "embedder type \"sentencepiece\", which this "
                         "module cannot reproduce") != NULL, "%s", err);

    edit_manifest("embedder", "type", json_string("openai"));
    edit_manifest("embedder", "companion", NULL);
    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "has no lexical companion index") != NULL,
                  "%s", err);

    rs_engine_close(open_model_index());
    edit_manifest("embedder", "model", json_string(""));
    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "names no valid model") != NULL, "%s", err);

    rs_engine_close(open_model_index());
    edit_manifest("embedder", "dim", json_integer(MODEL_DIM * 2));
    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "disagree on dimension") != NULL, "%s", err);
}
END_TEST


START_TEST(test_engine_companion_dim)
{
    char          err[512], path[128];
    json_t       *m;
    rs_engine_t  *e;

    rs_engine_close(open_model_index());

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_MANIFEST);
    m = json_load_file(path, 0, NULL);
    json_object_set_new(json_object_get(json_object_get(m, "embedder"),
                                        "companion"),
                        "dim", json_integer(128));
    ck_assert_int_eq(json_dump_file(m, path, JSON_INDENT(2)), 0);
    json_decref(m);

    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "lexical companion index has dimension 64, its "
                         "embedder 64 and the manifest 128") != NULL,
                  "%s", err);

    /* the companion index itself must be there and whole */
    rs_engine_close(open_model_index());
    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_LEXICAL_INDEX);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_ne(rs_engine_open(&e, dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, RS_FILE_LEXICAL_INDEX) != NULL, "%s", err);
}
END_TEST


START_TEST(test_engine_sources)
{
    float         q[MODEL_DIM];
    uint32_t      item, i;
    rs_arena_t    arena = { NULL };
    rs_engine_t  *e;
    rs_result_t   res;
    rs_request_t  req;

    e = open_model_index();

    /* no model vector: the text goes through the lexical companion */
    request(&req, &arena, "running shoes");
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_LEXICAL);
    ck_assert_str_eq(rs_embed_source_name(res.embed_source),
                     "lexical_fallback");
    ck_assert_uint_eq(res.nhits, 3);
    ck_assert(hit_id(e, &res, 0)[0] == 's' && hit_id(e, &res, 1)[0] == 's');

    /* the model's vector of the query, as the module will hand it over */
    fake_vector("chef knife kitchen", strlen("chef knife kitchen"),
                MODEL_DIM, q);
    request(&req, &arena, "chef knife kitchen");
    req.vector = q;
    req.vector_dim = MODEL_DIM;
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_MODEL);
    ck_assert_str_eq(hit_id(e, &res, 0), "k2");

    /* a vector of another dimension is not the model's: ignored */
    req.vector_dim = MODEL_DIM / 2;
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_LEXICAL);

    /* nothing to search with */
    request(&req, &arena, "");
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_POPULARITY);
    ck_assert(res.cold_start);
    ck_assert_str_eq(hit_id(e, &res, 0), "s2");

    /* more like this: the item's stored model vector */
    ck_assert_int_eq(rs_store_find(rs_engine_store(e), "s1", 2, &item), 0);
    request(&req, &arena, "");
    req.items = &item;
    req.nitems = 1;
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_MODEL);
    ck_assert_str_eq(hit_id(e, &res, 0), "s2");

    /* words and an item without a model vector: both lexical */
    request(&req, &arena, "running");
    req.items = &item;
    req.nitems = 1;
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_LEXICAL);
    ck_assert_str_eq(hit_id(e, &res, 0), "s2");

    /* a selective filter scans the companion's vectors exactly */
    request(&req, &arena, "knife");
    req.filter.category = "Home > Kitchen";
    req.filter.category_len = strlen(req.filter.category);
    req.candidates = 1;
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_LEXICAL);
    ck_assert_uint_eq(res.nhits, 2);
    ck_assert_str_eq(hit_id(e, &res, 0), "k2");

    for (i = 0; i < res.nhits; i++) {
        ck_assert(hit_id(e, &res, i)[0] == 'k');
    }

    rs_arena_reset(&arena);
    rs_engine_close(e);
}
END_TEST


START_TEST(test_engine_builtin_source)
{
    char              err[512];
    model_t           model;
    rs_arena_t        arena = { NULL };
    rs_engine_t      *e;
    rs_result_t       res;
    rs_request_t      req;
    rs_build_stats_t  stats;

    memset(&model, 0, sizeof(model));
    ck_assert_msg(build(&model, RS_EMBEDDER_BUILTIN, &stats, err,
                        sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(model.calls, 0);
    ck_assert_msg(rs_engine_open(&e, dir, err, sizeof(err)) == 0, "%s", err);

    request(&req, &arena, "running shoes");
    ck_assert_int_eq(rs_engine_recommend(e, &req, &res), 0);
    ck_assert_int_eq(res.embed_source, RS_SOURCE_BUILTIN);
    ck_assert_str_eq(rs_embed_source_name(res.embed_source), "builtin");

    rs_arena_reset(&arena);
    rs_engine_close(e);
}
END_TEST


static Suite *
embed_model_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("embed_model");

    tc = tcase_create("wire");
    tcase_add_test(tc, test_request_json);
    tcase_add_test(tc, test_query_text);
    tcase_add_test(tc, test_parse_reply);
    suite_add_tcase(s, tc);

    tc = tcase_create("build");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_checkpoint);
    tcase_add_test(tc, test_text_template);
    tcase_add_test(tc, test_build_manifest);
    tcase_add_test(tc, test_build_resumes);
    tcase_add_test(tc, test_build_dimension_changes);
    suite_add_tcase(s, tc);

    tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_engine_refuses);
    tcase_add_test(tc, test_engine_companion_dim);
    tcase_add_test(tc, test_engine_sources);
    tcase_add_test(tc, test_engine_builtin_source);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(embed_model_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
