/*
 * Copyright (C) ngx_recsys authors
 *
 * Catalogue reading for the index build: JSON Lines or one JSON array of
 * products, validated field by field.
 */

#ifndef RS_CATALOG_H
#define RS_CATALOG_H


#include <stddef.h>
#include <stdint.h>


#define RS_HAS_PRICE       0x0001
#define RS_HAS_STOCK       0x0002
#define RS_HAS_RATING      0x0004
#define RS_HAS_CREATED     0x0008
#define RS_HAS_POPULARITY  0x0010
#define RS_HAS_MARGIN      0x0020

#define RS_MAX_ID_LEN      256

/* separates tags inside one stored string; control bytes never reach it */
#define RS_TAG_SEP         '\x1f'


typedef struct {
    char       *id;
    char       *title;
    char       *description;
    char       *brand;
    char       *category;       /* "A > B > C" */
    char       *currency;
    char       *url;
    char       *image;
    char       *tags;           /* RS_TAG_SEP-joined */
    char       *extra;          /* JSON object of pass-through fields */
    double      price;
    double      rating;
    double      popularity;
    double      margin;
    int64_t     stock;
    int64_t     created_at;     /* seconds since the epoch, UTC */
    uint32_t    rating_count;
    uint32_t    flags;
    size_t      line;
} rs_product_t;


typedef struct {
    rs_product_t  *items;
    size_t         nitems;
    size_t         nalloc;
    size_t         bad;
    size_t         duplicates;
} rs_catalog_t;


/* is_error: 1 for a rejected product, 0 for a warning */
typedef void (*rs_catalog_report_pt)(void *data, size_t line, int is_error,
    const char *reason);


int rs_catalog_load(rs_catalog_t *cat, const char *path, int strict,
    rs_catalog_report_pt report, void *data, char *err, size_t errlen);
int rs_catalog_parse_product(const char *buf, size_t len, rs_product_t *p,
    char *reason, size_t reasonlen);
void rs_product_free(rs_product_t *p);
void rs_catalog_free(rs_catalog_t *cat);
int rs_parse_iso8601(const char *s, int64_t *out);


#endif /* RS_CATALOG_H */
