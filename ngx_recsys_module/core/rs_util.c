/*
 * Copyright (C) ngx_recsys authors
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_util.h"


#define RS_HASH_M1  0x9e3779b97f4a7c15ULL
#define RS_HASH_M2  0xbf58476d1ce4e5b9ULL
#define RS_HASH_M3  0x94d049bb133111ebULL


static uint64_t rs_hash_mix(uint64_t x);


static uint64_t
rs_hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= RS_HASH_M2;
    x ^= x >> 27;
    x *= RS_HASH_M3;
    x ^= x >> 31;

    return x;
}


/*
 * The hash feeds the embedder's feature buckets and the index checksums,
 * so it must be identical on every build and platform: 8 bytes at a time,
 * little-endian assembly, splitmix finaliser.
 */

uint64_t
rs_hash64(const void *data, size_t len, uint64_t seed)
{
    size_t               i;
    uint64_t             h, w;
    const unsigned char *p;

    p = data;
    h = seed ^ (len * RS_HASH_M1);

    for (i = 0; i + 8 <= len; i += 8) {
        w = (uint64_t) p[i] | (uint64_t) p[i + 1] << 8
            | (uint64_t) p[i + 2] << 16 | (uint64_t) p[i + 3] << 24
            | (uint64_t) p[i + 4] << 32 | (uint64_t) p[i + 5] << 40
            | (uint64_t) p[i + 6] << 48 | (uint64_t) p[i + 7] << 56;
        h = rs_hash_mix(h ^ rs_hash_mix(w + RS_HASH_M1));
    }

    w = 0;

    for ( /* void */ ; i < len; i++) {
        w = (w << 8) | p[i];
    }

    return rs_hash_mix(h ^ rs_hash_mix(w + RS_HASH_M1 + len));
}


/* rejects overlong forms, surrogates and code points above U+10FFFF */

int
rs_utf8_valid(const unsigned char *p, size_t len)
{
    size_t    i, n;
    uint32_t  cp, min;

    i = 0;

    while (i < len) {

        if (p[i] < 0x80) {
            i++;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 1; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 2; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 3; cp = p[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i <= n) {
            return 0;
        }

        for (i++; n > 0; n--, i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


int
rs_file_checksum(const char *path, uint64_t *sum, char *err, size_t errlen)
{
    FILE          *f;
    size_t         n;
    uint64_t       h;
    unsigned char  buf[65536];

    f = fopen(path, "rb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    h = 0;

    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        h = rs_hash64(buf, n, h);
    }

    if (ferror(f)) {
        rs_errf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
        fclose(f);
        return -1;
    }

    fclose(f);
    *sum = h;

    return 0;
}


int
rs_buf_add(rs_buf_t *b, const void *data, size_t len)
{
    char    *p;
    size_t   cap;

    if (b->max && b->len + len > b->max) {
        return -1;
    }

    if (b->len + len + 1 > b->cap) {
        for (cap = b->cap ? b->cap : 256; cap < b->len + len + 1; cap *= 2) {
            /* void */
        }

        p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->cap = cap;
    }

    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';

    return 0;
}


int
rs_buf_write(const char *buf, size_t size, void *data)
{
    return rs_buf_add(data, buf, size);
}
