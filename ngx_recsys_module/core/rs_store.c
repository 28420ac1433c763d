/*
 * Copyright (C) ngx_recsys authors
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_store.h"
#include "rs_util.h"


#define RS_STORE_ALIGN  64


/*
 * Repeated strings (brands, category paths, currencies) are stored once,
 * so equal values share an offset: the ranker compares brands and
 * categories for its caps by offset, without touching the strings.
 */
typedef struct {
    char      *data;
    size_t     len;
    size_t     cap;
    uint32_t  *slots;               /* interned offsets, 0 is empty */
    size_t     nslots;
    size_t     used;
} rs_arena_buf_t;


typedef struct {
    double    popularity;
    uint32_t  index;
} rs_popular_t;


static int rs_store_add_string(rs_arena_buf_t *a, const char *s,
    uint32_t *off);
static int rs_store_cmp_popular(const void *a, const void *b);
static int rs_store_write_all(FILE *f, const void *buf, size_t len,
    uint64_t *pos);
static int rs_store_pad(FILE *f, uint64_t *pos);
static int rs_store_check(rs_store_t *st, char *err, size_t errlen);


static int
rs_store_add_string(rs_arena_buf_t *a, const char *s, uint32_t *off)
{
    char      *p;
    size_t     len, cap, i, j;
    uint32_t  *slots, o;

    if (s == NULL || *s == '\0') {
        *off = 0;
        return 0;
    }

    len = strlen(s) + 1;

    if ((a->used + 1) * 2 > a->nslots) {
        cap = a->nslots ? a->nslots * 2 : 4096;

        slots = calloc(cap, sizeof(uint32_t));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i < a->nslots; i++) {
            o = a->slots[i];

            if (o == 0) {
                continue;
            }

            j = rs_hash64(a->data + o, strlen(a->data + o), 0) & (cap - 1);

            while (slots[j]) {
                j = (j + 1) & (cap - 1);
            }

            slots[j] = o;
        }

        free(a->slots);
        a->slots = slots;
        a->nslots = cap;
    }

    j = rs_hash64(s, len - 1, 0) & (a->nslots - 1);

    while (a->slots[j]) {
        if (strcmp(a->data + a->slots[j], s) == 0) {
            *off = a->slots[j];
            return 0;
        }

        j = (j + 1) & (a->nslots - 1);
    }

    if (a->len + len > UINT32_MAX) {
        return -1;
    }

    if (a->len + len > a->cap) {
        cap = a->cap ? a->cap : 65536;

        while (cap < a->len + len) {
            cap *= 2;
        }

        p = realloc(a->data, cap);
        if (p == NULL) {
            return -1;
        }

        a->data = p;
        a->cap = cap;
    }

    memcpy(a->data + a->len, s, len);
    *off = (uint32_t) a->len;
    a->slots[j] = *off;
    a->used++;
    a->len += len;

    return 0;
}


static int
rs_store_cmp_popular(const void *a, const void *b)
{
    const rs_popular_t  *x, *y;

    x = a;
    y = b;

    if (x->popularity != y->popularity) {
        return x->popularity > y->popularity ? -1 : 1;
    }

    /* ties by catalogue order keep the cold-start answer stable */
    return x->index < y->index ? -1 : 1;
}


static int
rs_store_write_all(FILE *f, const void *buf, size_t len, uint64_t *pos)
{
    if (len && fwrite(buf, 1, len, f) != len) {
        return -1;
    }

    *pos += len;

    return 0;
}


static int
rs_store_pad(FILE *f, uint64_t *pos)
{
    static const char  zero[RS_STORE_ALIGN];

    return rs_store_write_all(f, zero,
                              (RS_STORE_ALIGN - *pos % RS_STORE_ALIGN)
                              % RS_STORE_ALIGN, pos);
}


int
rs_store_write(const char *path, const rs_catalog_t *cat,
    const float *vectors, uint32_t dim, char *err, size_t errlen)
{
    FILE               *f;
    size_t              i, j, n, slots;
    uint32_t           *ids, *popular, *slot;
    rs_popular_t       *order;
    uint64_t            pos;
    rs_item_t          *items, *it;
    rs_arena_buf_t      arena;
    rs_store_header_t   hdr;
    const rs_product_t *p;

    n = cat->nitems;

    if (n == 0 || n > UINT32_MAX / 2) {
        rs_errf(err, errlen, "a catalogue needs 1 to %u products",
                UINT32_MAX / 2);
        return -1;
    }

    for (slots = 16; slots < n * 2; slots *= 2) { /* void */ }

    memset(&arena, 0, sizeof(rs_arena_buf_t));
    f = NULL;
    order = NULL;

    items = calloc(n, sizeof(rs_item_t));
    ids = calloc(slots, sizeof(uint32_t));
    popular = malloc(n * sizeof(uint32_t));
    order = malloc(n * sizeof(rs_popular_t));

    if (items == NULL || ids == NULL || popular == NULL || order == NULL) {
        rs_errf(err, errlen, "out of memory");
        goto failed;
    }

    /* offset 0 is the empty string that marks an absent field */
    arena.cap = 65536;
    arena.data = malloc(arena.cap);
    if (arena.data == NULL) {
        goto oom;
    }

    arena.data[0] = '\0';
    arena.len = 1;

    memset(&hdr, 0, sizeof(rs_store_header_t));

    for (i = 0; i < n; i++) {
        p = &cat->items[i];
        it = &items[i];

        if (rs_store_add_string(&arena, p->id, &it->id)
            || rs_store_add_string(&arena, p->title, &it->title)
            || rs_store_add_string(&arena, p->description, &it->description)
            || rs_store_add_string(&arena, p->brand, &it->brand)
            || rs_store_add_string(&arena, p->category, &it->category)
            || rs_store_add_string(&arena,
                                   p->currency ? p->currency : "USD",
                                   &it->currency)
            || rs_store_add_string(&arena, p->url, &it->url)
            || rs_store_add_string(&arena, p->image, &it->image)
            || rs_store_add_string(&arena, p->tags, &it->tags)
            || rs_store_add_string(&arena, p->extra, &it->extra))
        {
            goto oom;
        }

        it->flags = p->flags;
        it->rating_count = p->rating_count;
        it->price = p->price;
        it->stock = p->stock;
        it->created_at = p->created_at;
        it->rating = (float) p->rating;
        it->popularity = (float) p->popularity;
        it->margin = (float) p->margin;

        if (p->popularity > hdr.max_popularity) {
            hdr.max_popularity = p->popularity;
        }

        j = rs_hash64(p->id, strlen(p->id), 0) & (slots - 1);
        slot = &ids[j];

        while (*slot) {
            j = (j + 1) & (slots - 1);
            slot = &ids[j];
        }

        *slot = (uint32_t) i + 1;
        order[i].popularity = p->popularity;
        order[i].index = (uint32_t) i;
    }

    qsort(order, n, sizeof(rs_popular_t), rs_store_cmp_popular);

    for (i = 0; i < n; i++) {
        popular[i] = order[i].index;
    }

    memcpy(hdr.magic, RS_STORE_MAGIC, 8);
    hdr.version = RS_STORE_VERSION;
    hdr.count = (uint32_t) n;
    hdr.dim = dim;
    hdr.id_slots = (uint32_t) slots;
    hdr.strings_len = arena.len;

    f = fopen(path, "wb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot create \"%s\": %s", path,
                strerror(errno));
        goto failed;
    }

    pos = 0;

    /* the header is rewritten at the end, once the offsets are known */
    if (rs_store_write_all(f, &hdr, sizeof(hdr), &pos) || rs_store_pad(f, &pos))
    {
        goto io;
    }

    hdr.items_off = pos;
    if (rs_store_write_all(f, items, n * sizeof(rs_item_t), &pos)
        || rs_store_pad(f, &pos))
    {
        goto io;
    }

    hdr.vectors_off = pos;
    if (rs_store_write_all(f, vectors, n * dim * sizeof(float), &pos)
        || rs_store_pad(f, &pos))
    {
        goto io;
    }

    hdr.ids_off = pos;
    if (rs_store_write_all(f, ids, slots * sizeof(uint32_t), &pos)
        || rs_store_pad(f, &pos))
    {
        goto io;
    }

    hdr.popular_off = pos;
    if (rs_store_write_all(f, popular, n * sizeof(uint32_t), &pos)
        || rs_store_pad(f, &pos))
    {
        goto io;
    }

    hdr.strings_off = pos;
    if (rs_store_write_all(f, arena.data, arena.len, &pos)) {
        goto io;
    }

    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(&hdr, sizeof(hdr), 1, f) != 1
        || fclose(f) != 0)
    {
        f = NULL;
        goto io;
    }

    free(items);
    free(ids);
    free(popular);
    free(order);
    free(arena.data);
    free(arena.slots);

    return 0;

io:

    rs_errf(err, errlen, "cannot write \"%s\": %s", path, strerror(errno));
    goto failed;

oom:

    rs_errf(err, errlen, "out of memory");

failed:

    if (f != NULL) {
        fclose(f);
    }

    free(items);
    free(ids);
    free(popular);
    free(order);
    free(arena.data);
    free(arena.slots);

    return -1;
}


/*
 * Everything the module reads later is bounds-checked here once, so a
 * truncated or tampered file fails "nginx -t" instead of a worker.
 */

static int
rs_store_check(rs_store_t *st, char *err, size_t errlen)
{
    size_t                    i, k, size;
    uint32_t                  offs[10];
    const rs_item_t          *it;
    const rs_store_header_t  *h;

    h = st->header;
    size = st->map_len;

    if (size < sizeof(rs_store_header_t)
        || memcmp(h->magic, RS_STORE_MAGIC, 8) != 0)
    {
        rs_errf(err, errlen, "not an item store");
        return -1;
    }

    if (h->version != RS_STORE_VERSION) {
        rs_errf(err, errlen, "item store version %u, expected %u",
                h->version, RS_STORE_VERSION);
        return -1;
    }

    if (h->count == 0 || h->dim == 0 || h->dim > 65536
        || h->id_slots < h->count || (h->id_slots & (h->id_slots - 1)))
    {
        rs_errf(err, errlen, "item store header is corrupt");
        return -1;
    }

    if (h->items_off > size
        || (uint64_t) h->count * sizeof(rs_item_t) > size - h->items_off
        || h->vectors_off > size
        || (uint64_t) h->count * h->dim * sizeof(float)
           > size - h->vectors_off
        || h->ids_off > size
        || (uint64_t) h->id_slots * sizeof(uint32_t) > size - h->ids_off
        || h->popular_off > size
        || (uint64_t) h->count * sizeof(uint32_t) > size - h->popular_off
        || h->strings_off > size || h->strings_len > size - h->strings_off
        || h->strings_len == 0 || h->strings_len > UINT32_MAX
        || (h->items_off | h->vectors_off | h->ids_off | h->popular_off)
           % sizeof(uint64_t))
    {
        rs_errf(err, errlen, "item store is truncated or corrupt");
        return -1;
    }

    st->count = h->count;
    st->dim = h->dim;
    st->items = (const rs_item_t *) ((const char *) st->map + h->items_off);
    st->vectors = (const float *) ((const char *) st->map + h->vectors_off);
    st->ids = (const uint32_t *) ((const char *) st->map + h->ids_off);
    st->popular = (const uint32_t *) ((const char *) st->map
                                      + h->popular_off);
    st->strings = (const char *) st->map + h->strings_off;

    if (st->strings[0] != '\0' || st->strings[h->strings_len - 1] != '\0') {
        rs_errf(err, errlen, "item store strings are corrupt");
        return -1;
    }

    for (i = 0; i < st->count; i++) {
        it = &st->items[i];

        offs[0] = it->id; offs[1] = it->title; offs[2] = it->description;
        offs[3] = it->brand; offs[4] = it->category; offs[5] = it->currency;
        offs[6] = it->url; offs[7] = it->image; offs[8] = it->tags;
        offs[9] = it->extra;

        for (k = 0; k < 10; k++) {
            if (offs[k] >= h->strings_len) {
                rs_errf(err, errlen, "item %zu has a corrupt string", i);
                return -1;
            }
        }

        if (it->id == 0 || it->title == 0 || st->popular[i] >= st->count) {
            rs_errf(err, errlen, "item %zu is corrupt", i);
            return -1;
        }
    }

    for (i = 0; i < h->id_slots; i++) {
        if (st->ids[i] > st->count) {
            rs_errf(err, errlen, "item store id table is corrupt");
            return -1;
        }
    }

    return 0;
}


int
rs_store_open(rs_store_t *st, const char *path, char *err, size_t errlen)
{
    int          fd;
    char         msg[256];
    struct stat  sb;

    memset(st, 0, sizeof(rs_store_t));

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &sb) == -1) {
        rs_errf(err, errlen, "cannot stat \"%s\": %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    if ((size_t) sb.st_size < sizeof(rs_store_header_t)) {
        rs_errf(err, errlen, "\"%s\" is not an item store", path);
        close(fd);
        return -1;
    }

    st->map_len = (size_t) sb.st_size;
    /* populated now, so no request pays a page fault for its vectors */
    st->map = mmap(NULL, st->map_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
                   fd, 0);
    close(fd);

    if (st->map == MAP_FAILED) {
        st->map = NULL;
        rs_errf(err, errlen, "cannot map \"%s\": %s", path, strerror(errno));
        return -1;
    }

    st->header = st->map;

    if (rs_store_check(st, msg, sizeof(msg)) != 0) {
        rs_errf(err, errlen, "\"%s\": %s", path, msg);
        rs_store_close(st);
        return -1;
    }

    return 0;
}


void
rs_store_close(rs_store_t *st)
{
    if (st->map != NULL) {
        munmap(st->map, st->map_len);
    }

    memset(st, 0, sizeof(rs_store_t));
}


int
rs_store_find(const rs_store_t *st, const char *id, size_t len,
    uint32_t *index)
{
    size_t       i, mask;
    uint32_t     slot;
    const char  *s;

    mask = st->header->id_slots - 1;
    i = rs_hash64(id, len, 0) & mask;

    while ((slot = st->ids[i]) != 0) {
        s = st->strings + st->items[slot - 1].id;

        if (strncmp(s, id, len) == 0 && s[len] == '\0') {
            *index = slot - 1;
            return 0;
        }

        i = (i + 1) & mask;
    }

    return -1;
}
