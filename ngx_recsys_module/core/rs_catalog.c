/*
 * Copyright (C) ngx_recsys authors
 */


#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rs_catalog.h"
#include "rs_util.h"


#define RS_CATALOG_MAX_LINE  (1024 * 1024)


typedef struct {
    uint32_t  *slots;           /* item index + 1, 0 is empty */
    size_t     size;
} rs_id_table_t;


static int rs_catalog_from_json(json_t *obj, rs_product_t *p, char *reason,
    size_t reasonlen);
static int rs_catalog_string(json_t *obj, const char *key, char **out,
    char *reason, size_t reasonlen);
static int rs_catalog_number(json_t *obj, const char *key, double *out,
    uint32_t flag, uint32_t *flags, char *reason, size_t reasonlen);
static int rs_catalog_integer(json_t *obj, const char *key, int64_t *out,
    char *reason, size_t reasonlen);
static char *rs_catalog_join(json_t *arr, const char *sep, const char *key,
    char *reason, size_t reasonlen);
static int rs_catalog_is_known(const char *key);
static int rs_catalog_add(rs_catalog_t *cat, rs_id_table_t *ids,
    rs_product_t *p, rs_catalog_report_pt report, void *data);
static int rs_id_table_grow(rs_id_table_t *t, rs_catalog_t *cat);
static uint32_t *rs_id_table_slot(rs_id_table_t *t, rs_catalog_t *cat,
    const char *id);
static int rs_catalog_accept(rs_catalog_t *cat, rs_id_table_t *ids,
    json_t *obj, size_t line, int strict, rs_catalog_report_pt report,
    void *data, char *err, size_t errlen);


static const char  *rs_catalog_known[] = {
    "id", "title", "description", "brand", "category", "price", "currency",
    "stock", "rating", "rating_count", "popularity", "margin", "created_at",
    "url", "image", "tags", NULL
};


static int
rs_catalog_is_known(const char *key)
{
    const char  **k;

    for (k = rs_catalog_known; *k; k++) {
        if (strcmp(*k, key) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
rs_catalog_string(json_t *obj, const char *key, char **out, char *reason,
    size_t reasonlen)
{
    json_t       *v;
    const char   *s;
    size_t        i, len;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_string(v)) {
        rs_errf(reason, reasonlen, "\"%s\" must be a string", key);
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    /* a NUL or control byte would break the stored strings and the tags */
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 && s[i] != '\n' && s[i] != '\t'
            && s[i] != '\r')
        {
            rs_errf(reason, reasonlen, "\"%s\" contains a control character",
                    key);
            return -1;
        }
    }

    *out = strdup(s);
    if (*out == NULL) {
        rs_errf(reason, reasonlen, "out of memory");
        return -1;
    }

    return 0;
}


static int
rs_catalog_number(json_t *obj, const char *key, double *out, uint32_t flag,
    uint32_t *flags, char *reason, size_t reasonlen)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_number(v)) {
        rs_errf(reason, reasonlen, "\"%s\" must be a number", key);
        return -1;
    }

    *out = json_number_value(v);

    if (!isfinite(*out)) {
        rs_errf(reason, reasonlen, "\"%s\" must be finite", key);
        return -1;
    }

    *flags |= flag;

    return 0;
}


static int
rs_catalog_integer(json_t *obj, const char *key, int64_t *out, char *reason,
    size_t reasonlen)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_integer(v)) {
        rs_errf(reason, reasonlen, "\"%s\" must be an integer", key);
        return -1;
    }

    *out = json_integer_value(v);

    return 1;
}


static char *
rs_catalog_join(json_t *arr, const char *sep, const char *key, char *reason,
    size_t reasonlen)
{
    char        *s, *p;
    json_t      *v;
    size_t       i, len, seplen;

    seplen = strlen(sep);
    len = 1;

    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            rs_errf(reason, reasonlen,
                    "\"%s\" must hold non-empty strings", key);
            return NULL;
        }

        for (p = (char *) json_string_value(v); *p; p++) {
            if ((unsigned char) *p < 0x20) {
                rs_errf(reason, reasonlen,
                        "\"%s\" contains a control character", key);
                return NULL;
            }
        }

        len += json_string_length(v) + seplen;
    }

    s = malloc(len);
    if (s == NULL) {
        rs_errf(reason, reasonlen, "out of memory");
        return NULL;
    }

    p = s;

    json_array_foreach(arr, i, v) {
        if (i > 0) {
            memcpy(p, sep, seplen);
            p += seplen;
        }

        memcpy(p, json_string_value(v), json_string_length(v));
        p += json_string_length(v);
    }

    *p = '\0';

    return s;
}


int
rs_parse_iso8601(const char *s, int64_t *out)
{
    int       n, year, mon, day, hour, min, sec, off, sign;
    int64_t   days, y, m;
    static const int  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    hour = min = sec = off = 0;
    n = 0;

    if (sscanf(s, "%4d-%2d-%2d%n", &year, &mon, &day, &n) != 3 || n != 10) {
        return -1;
    }

    s += n;

    if (*s == 'T' || *s == 't' || *s == ' ') {
        n = 0;
        if (sscanf(s + 1, "%2d:%2d:%2d%n", &hour, &min, &sec, &n) != 3
            || n != 8)
        {
            return -1;
        }

        s += 1 + n;

        if (*s == '.') {
            s++;
            if (!isdigit((unsigned char) *s)) {
                return -1;
            }

            while (isdigit((unsigned char) *s)) {
                s++;
            }
        }

        if (*s == 'Z' || *s == 'z') {
            s++;

        } else if (*s == '+' || *s == '-') {
            int  oh, om;

            sign = (*s == '-') ? -1 : 1;
            n = 0;
            if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5
                || oh > 23 || om > 59)
            {
                return -1;
            }

            off = sign * (oh * 3600 + om * 60);
            s += 1 + n;
        }
    }

    if (*s != '\0' || mon < 1 || mon > 12 || day < 1
        || day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60)
    {
        return -1;
    }

    /* days from civil (Howard Hinnant), valid for the proleptic calendar */
    y = year - (mon <= 2);
    m = mon;
    days = (y >= 0 ? y : y - 399) / 400;
    days = days * 146097
           + ((y - days * 400) * 365 + (y - days * 400) / 4
              - (y - days * 400) / 100
              + (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1)
           - 719468;

    *out = days * 86400 + hour * 3600 + min * 60 + sec - off;

    return 0;
}


static int
rs_catalog_from_json(json_t *obj, rs_product_t *p, char *reason,
    size_t reasonlen)
{
    json_t       *v, *extra;
    int64_t       n;
    const char   *key;
    char         *s;

    memset(p, 0, sizeof(rs_product_t));

    if (!json_is_object(obj)) {
        rs_errf(reason, reasonlen, "a product must be a JSON object");
        return -1;
    }

    v = json_object_get(obj, "id");
    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0) {
        rs_errf(reason, reasonlen, "\"id\" must be a non-empty string");
        return -1;
    }

    if (json_string_length(v) > RS_MAX_ID_LEN) {
        rs_errf(reason, reasonlen, "\"id\" is longer than %d bytes",
                RS_MAX_ID_LEN);
        return -1;
    }

    v = json_object_get(obj, "title");
    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0) {
        rs_errf(reason, reasonlen, "\"title\" must be a non-empty string");
        return -1;
    }

    if (rs_catalog_string(obj, "id", &p->id, reason, reasonlen) != 0
        || rs_catalog_string(obj, "title", &p->title, reason, reasonlen)
        || rs_catalog_string(obj, "description", &p->description, reason,
                             reasonlen)
        || rs_catalog_string(obj, "brand", &p->brand, reason, reasonlen)
        || rs_catalog_string(obj, "url", &p->url, reason, reasonlen)
        || rs_catalog_string(obj, "image", &p->image, reason, reasonlen)
        || rs_catalog_string(obj, "currency", &p->currency, reason,
                             reasonlen))
    {
        goto failed;
    }

    if (p->currency != NULL) {
        if (strlen(p->currency) != 3 || !isupper((unsigned char) p->currency[0])
            || !isupper((unsigned char) p->currency[1])
            || !isupper((unsigned char) p->currency[2]))
        {
            rs_errf(reason, reasonlen,
                    "\"currency\" must be a 3-letter ISO 4217 code");
            goto failed;
        }
    }

    v = json_object_get(obj, "category");
    if (json_is_array(v)) {
        p->category = rs_catalog_join(v, " > ", "category", reason,
                                      reasonlen);
        if (p->category == NULL) {
            goto failed;
        }

    } else if (rs_catalog_string(obj, "category", &p->category, reason,
                                 reasonlen)
               != 0)
    {
        goto failed;
    }

    v = json_object_get(obj, "tags");
    if (json_is_array(v)) {
        char  sep[2] = { RS_TAG_SEP, '\0' };

        if (json_array_size(v) > 0) {
            p->tags = rs_catalog_join(v, sep, "tags", reason, reasonlen);
            if (p->tags == NULL) {
                goto failed;
            }
        }

    } else if (rs_catalog_string(obj, "tags", &p->tags, reason, reasonlen)
               != 0)
    {
        goto failed;
    }

    if (rs_catalog_number(obj, "price", &p->price, RS_HAS_PRICE, &p->flags,
                          reason, reasonlen)
        || rs_catalog_number(obj, "rating", &p->rating, RS_HAS_RATING,
                             &p->flags, reason, reasonlen)
        || rs_catalog_number(obj, "popularity", &p->popularity,
                             RS_HAS_POPULARITY, &p->flags, reason, reasonlen)
        || rs_catalog_number(obj, "margin", &p->margin, RS_HAS_MARGIN,
                             &p->flags, reason, reasonlen))
    {
        goto failed;
    }

    if (p->price < 0) {
        rs_errf(reason, reasonlen, "\"price\" must not be negative");
        goto failed;
    }

    if ((p->flags & RS_HAS_RATING) && (p->rating < 0 || p->rating > 5)) {
        rs_errf(reason, reasonlen, "\"rating\" must be between 0 and 5");
        goto failed;
    }

    if (p->popularity < 0) {
        rs_errf(reason, reasonlen, "\"popularity\" must not be negative");
        goto failed;
    }

    switch (rs_catalog_integer(obj, "stock", &p->stock, reason, reasonlen)) {
    case -1:
        goto failed;
    case 1:
        p->flags |= RS_HAS_STOCK;
    }

    n = 0;

    switch (rs_catalog_integer(obj, "rating_count", &n, reason, reasonlen)) {
    case -1:
        goto failed;
    case 1:
        if (n < 0 || n > UINT32_MAX) {
            rs_errf(reason, reasonlen, "\"rating_count\" is out of range");
            goto failed;
        }

        p->rating_count = (uint32_t) n;
    }

    v = json_object_get(obj, "created_at");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v)
            || rs_parse_iso8601(json_string_value(v), &p->created_at) != 0)
        {
            rs_errf(reason, reasonlen,
                    "\"created_at\" must be an ISO 8601 date");
            goto failed;
        }

        p->flags |= RS_HAS_CREATED;
    }

    extra = json_object();
    if (extra == NULL) {
        rs_errf(reason, reasonlen, "out of memory");
        goto failed;
    }

    json_object_foreach(obj, key, v) {
        if (!rs_catalog_is_known(key)) {
            json_object_set(extra, key, v);
        }
    }

    if (json_object_size(extra) > 0) {
        s = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
        if (s == NULL) {
            json_decref(extra);
            rs_errf(reason, reasonlen, "out of memory");
            goto failed;
        }

        p->extra = s;
    }

    json_decref(extra);

    return 0;

failed:

    rs_product_free(p);

    return -1;
}


int
rs_catalog_parse_product(const char *buf, size_t len, rs_product_t *p,
    char *reason, size_t reasonlen)
{
    int           rc;
    json_t       *obj;
    json_error_t  jerr;

    memset(p, 0, sizeof(rs_product_t));

    obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        rs_errf(reason, reasonlen, "invalid JSON: %s", jerr.text);
        return -1;
    }

    rc = rs_catalog_from_json(obj, p, reason, reasonlen);

    json_decref(obj);

    return rc;
}


void
rs_product_free(rs_product_t *p)
{
    free(p->id);
    free(p->title);
    free(p->description);
    free(p->brand);
    free(p->category);
    free(p->currency);
    free(p->url);
    free(p->image);
    free(p->tags);
    free(p->extra);

    memset(p, 0, sizeof(rs_product_t));
}


void
rs_catalog_free(rs_catalog_t *cat)
{
    size_t  i;

    for (i = 0; i < cat->nitems; i++) {
        rs_product_free(&cat->items[i]);
    }

    free(cat->items);
    memset(cat, 0, sizeof(rs_catalog_t));
}


static int
rs_id_table_grow(rs_id_table_t *t, rs_catalog_t *cat)
{
    size_t         i, size;
    uint32_t      *old, *slot;
    rs_id_table_t  nt;

    size = t->size ? t->size * 2 : 1024;

    nt.slots = calloc(size, sizeof(uint32_t));
    if (nt.slots == NULL) {
        return -1;
    }

    nt.size = size;
    old = t->slots;

    for (i = 0; i < t->size; i++) {
        if (old[i]) {
            slot = rs_id_table_slot(&nt, cat, cat->items[old[i] - 1].id);
            *slot = old[i];
        }
    }

    free(old);
    *t = nt;

    return 0;
}


static uint32_t *
rs_id_table_slot(rs_id_table_t *t, rs_catalog_t *cat, const char *id)
{
    size_t  i;

    i = rs_hash64(id, strlen(id), 0) & (t->size - 1);

    while (t->slots[i] && strcmp(cat->items[t->slots[i] - 1].id, id) != 0) {
        i = (i + 1) & (t->size - 1);
    }

    return &t->slots[i];
}


static int
rs_catalog_add(rs_catalog_t *cat, rs_id_table_t *ids, rs_product_t *p,
    rs_catalog_report_pt report, void *data)
{
    char           msg[RS_MAX_ID_LEN + 64];
    uint32_t      *slot;
    size_t         nalloc;
    rs_product_t  *items;

    if ((cat->nitems + 1) * 2 > ids->size && rs_id_table_grow(ids, cat)) {
        return -1;
    }

    slot = rs_id_table_slot(ids, cat, p->id);

    if (*slot) {
        snprintf(msg, sizeof(msg),
                 "duplicate id \"%s\" (line %zu): the last one wins",
                 p->id, cat->items[*slot - 1].line);
        report(data, p->line, 0, msg);
        cat->duplicates++;
        rs_product_free(&cat->items[*slot - 1]);
        cat->items[*slot - 1] = *p;
        return 0;
    }

    if (cat->nitems == cat->nalloc) {
        nalloc = cat->nalloc ? cat->nalloc * 2 : 1024;
        items = realloc(cat->items, nalloc * sizeof(rs_product_t));
        if (items == NULL) {
            return -1;
        }

        cat->items = items;
        cat->nalloc = nalloc;
    }

    cat->items[cat->nitems++] = *p;
    *slot = (uint32_t) cat->nitems;

    return 0;
}


static int
rs_catalog_accept(rs_catalog_t *cat, rs_id_table_t *ids, json_t *obj,
    size_t line, int strict, rs_catalog_report_pt report, void *data,
    char *err, size_t errlen)
{
    char          reason[256];
    rs_product_t  p;

    if (rs_catalog_from_json(obj, &p, reason, sizeof(reason)) != 0) {
        report(data, line, 1, reason);
        cat->bad++;

        if (strict) {
            rs_errf(err, errlen, "line %zu: %s", line, reason);
            return -1;
        }

        return 0;
    }

    p.line = line;

    if (rs_catalog_add(cat, ids, &p, report, data) != 0) {
        rs_product_free(&p);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


int
rs_catalog_load(rs_catalog_t *cat, const char *path, int strict,
    rs_catalog_report_pt report, void *data, char *err, size_t errlen)
{
    int            c, rc;
    FILE          *f;
    char          *line, reason[256];
    json_t        *root, *obj;
    size_t         lineno, cap, i;
    ssize_t        n;
    json_error_t   jerr;
    rs_id_table_t  ids;

    memset(cat, 0, sizeof(rs_catalog_t));
    memset(&ids, 0, sizeof(rs_id_table_t));

    f = fopen(path, "rb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    do {
        c = fgetc(f);
    } while (c == ' ' || c == '\t' || c == '\r' || c == '\n');

    rc = 0;

    if (c == '[') {
        rewind(f);
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
        fclose(f);

        if (root == NULL || !json_is_array(root)) {
            rs_errf(err, errlen, "\"%s\" line %d: invalid JSON array: %s",
                    path, jerr.line, root ? "not an array" : jerr.text);
            json_decref(root);
            return -1;
        }

        /* an array has no lines of its own: report the element number */
        json_array_foreach(root, i, obj) {
            rc = rs_catalog_accept(cat, &ids, obj, i + 1, strict, report,
                                   data, err, errlen);
            if (rc != 0) {
                break;
            }
        }

        json_decref(root);
        free(ids.slots);

        if (rc != 0) {
            rs_catalog_free(cat);
        }

        return rc;
    }

    rewind(f);

    line = NULL;
    cap = 0;
    lineno = 0;

    while ((n = getline(&line, &cap, f)) != -1) {
        lineno++;

        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'
                         || line[n - 1] == ' ' || line[n - 1] == '\t'))
        {
            n--;
        }

        if (n == 0) {
            continue;
        }

        if (n > RS_CATALOG_MAX_LINE) {
            snprintf(reason, sizeof(reason), "line longer than %d bytes",
                     RS_CATALOG_MAX_LINE);
            obj = NULL;

        } else {
            obj = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
            if (obj == NULL) {
                snprintf(reason, sizeof(reason), "invalid JSON: %s",
                         jerr.text);
            }
        }

        if (obj == NULL) {
            report(data, lineno, 1, reason);
            cat->bad++;

            if (strict) {
                rs_errf(err, errlen, "line %zu: %s", lineno, reason);
                rc = -1;
                break;
            }

            continue;
        }

        rc = rs_catalog_accept(cat, &ids, obj, lineno, strict, report, data,
                               err, errlen);
        json_decref(obj);

        if (rc != 0) {
            break;
        }
    }

    if (rc == 0 && ferror(f)) {
        rs_errf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
        rc = -1;
    }

    free(line);
    free(ids.slots);
    fclose(f);

    if (rc != 0) {
        rs_catalog_free(cat);
    }

    return rc;
}
