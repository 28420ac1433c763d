/*
 * Copyright (C) ngx_recsys authors
 *
 * Runs the official Mustache spec tests (github.com/mustache/spec, the
 * JSON files) against rs_tpl.  The spec is not part of the project: the
 * directory comes from RS_MUSTACHE_SPEC, or ../shared/conformance/
 * mustache-spec next to the project root, and the run is skipped when it
 * is not there.  Optional parts of the spec that rs_tpl does not support
 * (lambdas, dynamic names, inheritance) are skipped.
 */


#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "rs_tpl.h"


#define SPEC_DEFAULT  "../shared/conformance/mustache-spec"


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
} out_t;


typedef struct {
    size_t   passed;
    size_t   failed;
} tally_t;


static const char  *supported[] = {
    "comments.json",
    "delimiters.json",
    "interpolation.json",
    "inverted.json",
    "partials.json",
    "sections.json",
    NULL
};


static int
collect(const char *buf, size_t size, void *data)
{
    char   *n;
    out_t  *o;
    size_t  cap;

    o = data;

    if (o->len + size + 1 > o->cap) {
        for (cap = o->cap ? o->cap : 256; cap < o->len + size + 1; cap *= 2) {
            /* void */
        }

        n = realloc(o->data, cap);
        if (n == NULL) {
            return -1;
        }

        o->data = n;
        o->cap = cap;
    }

    memcpy(o->data + o->len, buf, size);
    o->len += size;
    o->data[o->len] = '\0';

    return 0;
}


static int
loader(void *data, const char *name, size_t len, const char **src,
    size_t *srclen)
{
    json_t  *partials, *p;

    partials = data;
    p = json_is_object(partials) ? json_object_getn(partials, name, len)
                                 : NULL;

    if (!json_is_string(p)) {
        return RS_TPL_NOT_FOUND;
    }

    *src = json_string_value(p);
    *srclen = json_string_length(p);

    return 0;
}


static void
show(const char *label, const char *s, size_t len)
{
    char    *dump;
    json_t  *str;

    str = json_stringn(s, len);
    dump = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;

    printf("      %-9s %s\n", label, dump ? dump : "?");

    free(dump);
    json_decref(str);
}


static int
run_test(const char *file, json_t *test)
{
    int          rc;
    char         err[512];
    out_t        out;
    json_t      *tpl, *expected;
    rs_tpl_t    *t;
    const char  *name;

    name = json_string_value(json_object_get(test, "name"));
    tpl = json_object_get(test, "template");
    expected = json_object_get(test, "expected");

    if (!json_is_string(tpl) || !json_is_string(expected)) {
        printf("    FAIL %s: %s: malformed test\n", file, name);
        return -1;
    }

    memset(&out, 0, sizeof(out));
    err[0] = '\0';

    rc = rs_tpl_parse(&t, json_string_value(tpl), json_string_length(tpl),
                      "template", 0, loader,
                      json_object_get(test, "partials"), err, sizeof(err));

    if (rc != 0) {
        printf("    FAIL %s: %s: parse: %s\n", file, name, err);
        show("template", json_string_value(tpl), json_string_length(tpl));
        return -1;
    }

    rc = rs_tpl_render(t, json_object_get(test, "data"), collect, &out);
    rs_tpl_free(t);

    if (rc != 0
        || out.len != json_string_length(expected)
        || (out.len && memcmp(out.data, json_string_value(expected),
                              out.len) != 0))
    {
        printf("    FAIL %s: %s (render %d)\n", file, name, rc);
        show("template", json_string_value(tpl), json_string_length(tpl));
        show("expected", json_string_value(expected),
             json_string_length(expected));
        show("got", out.data ? out.data : "", out.len);
        free(out.data);
        return -1;
    }

    free(out.data);

    return 0;
}


static void
run_file(const char *dir, const char *file, tally_t *total)
{
    char          path[4096 + 256 + 2];
    size_t        i;
    json_t       *root, *tests;
    tally_t       t;
    json_error_t  jerr;

    snprintf(path, sizeof(path), "%s/%s", dir, file);

    root = json_load_file(path, 0, &jerr);
    tests = json_object_get(root, "tests");

    if (!json_is_array(tests)) {
        printf("  %s: unreadable: %s\n", file, jerr.text);
        json_decref(root);
        total->failed++;
        return;
    }

    t.passed = 0;
    t.failed = 0;

    for (i = 0; i < json_array_size(tests); i++) {
        if (run_test(file, json_array_get(tests, i)) == 0) {
            t.passed++;

        } else {
            t.failed++;
        }
    }

    printf("  %s: %zu passed, %zu failed\n", file, t.passed, t.failed);

    total->passed += t.passed;
    total->failed += t.failed;

    json_decref(root);
}


static int
is_supported(const char *name)
{
    size_t  i;

    for (i = 0; supported[i] != NULL; i++) {
        if (strcmp(name, supported[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
json_file(const struct dirent *d)
{
    size_t  n;

    n = strlen(d->d_name);

    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}


int
main(void)
{
    int              i, n;
    char             dir[4096], real[PATH_MAX];
    const char      *env;
    tally_t          total;
    struct stat      st;
    struct dirent  **files;

    env = getenv("RS_MUSTACHE_SPEC");

    if (env != NULL && env[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s", env);

    } else if ((env = getenv("RS_TEST_DATA")) != NULL && env[0] != '\0') {
        /* RS_TEST_DATA is <root>/t/data */
        snprintf(dir, sizeof(dir), "%s/../../%s", env, SPEC_DEFAULT);

    } else {
        snprintf(dir, sizeof(dir), "%s", SPEC_DEFAULT);
    }

    if (realpath(dir, real) != NULL) {
        snprintf(dir, sizeof(dir), "%s", real);
    }

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("mustache spec: skipped, %s not found "
               "(set RS_MUSTACHE_SPEC)\n", dir);
        return EXIT_SUCCESS;
    }

    n = scandir(dir, &files, json_file, alphasort);
    if (n < 0) {
        printf("mustache spec: cannot read %s\n", dir);
        return EXIT_FAILURE;
    }

    total.passed = 0;
    total.failed = 0;

    printf("mustache spec from %s\n", dir);

    for (i = 0; i < n; i++) {
        if (is_supported(files[i]->d_name)) {
            run_file(dir, files[i]->d_name, &total);

        } else {
            printf("  %s: skipped, not supported\n", files[i]->d_name);
        }

        free(files[i]);
    }

    free(files);

    printf("mustache spec: %zu passed, %zu failed\n", total.passed,
           total.failed);

    return total.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
