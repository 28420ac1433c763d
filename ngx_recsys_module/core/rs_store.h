/*
 * Copyright (C) ngx_recsys authors
 *
 * The item store: one file with fixed-size item records, the item vectors,
 * an id hash table, the popularity order and a string arena.  It is mapped
 * read-only, so the master maps it once and every worker shares its pages.
 */

#ifndef RS_STORE_H
#define RS_STORE_H


#include <stddef.h>
#include <stdint.h>

#include "rs_catalog.h"


#define RS_STORE_MAGIC    "RSITEMS1"
#define RS_STORE_VERSION  2


typedef struct {
    char      magic[8];
    uint32_t  version;
    uint32_t  count;
    uint32_t  dim;
    uint32_t  id_slots;
    uint64_t  items_off;
    uint64_t  vectors_off;
    uint64_t  ids_off;
    uint64_t  popular_off;
    uint64_t  strings_off;
    uint64_t  strings_len;
    double    max_popularity;
    uint64_t  reserved[4];
} rs_store_header_t;


/* string fields are offsets into the arena; 0 means absent */
typedef struct {
    uint32_t  id;
    uint32_t  title;
    uint32_t  description;
    uint32_t  brand;
    uint32_t  category;
    uint32_t  currency;
    uint32_t  url;
    uint32_t  image;
    uint32_t  tags;
    uint32_t  extra;
    uint32_t  flags;
    uint32_t  rating_count;
    double    price;
    int64_t   stock;
    int64_t   created_at;
    float     rating;
    float     popularity;
    float     margin;
    float     reserved;
} rs_item_t;


typedef struct {
    void                     *map;
    size_t                    map_len;
    const rs_store_header_t  *header;
    const rs_item_t          *items;
    const float              *vectors;
    const uint32_t           *ids;
    const uint32_t           *popular;
    const char               *strings;
    uint32_t                  count;
    uint32_t                  dim;
} rs_store_t;


int rs_store_write(const char *path, const rs_catalog_t *cat,
    const float *vectors, uint32_t dim, char *err, size_t errlen);
int rs_store_open(rs_store_t *st, const char *path, char *err,
    size_t errlen);
void rs_store_close(rs_store_t *st);
int rs_store_find(const rs_store_t *st, const char *id, size_t len,
    uint32_t *index);


static inline const char *
rs_store_str(const rs_store_t *st, uint32_t off)
{
    return off ? st->strings + off : NULL;
}


static inline const float *
rs_store_vector(const rs_store_t *st, uint32_t index)
{
    return st->vectors + (size_t) index * st->dim;
}


#endif /* RS_STORE_H */
