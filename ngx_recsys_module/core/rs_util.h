/*
 * Copyright (C) ngx_recsys authors
 *
 * Small helpers shared by the core: hashing, UTF-8 checks, error text.
 */

#ifndef RS_UTIL_H
#define RS_UTIL_H


#include <stddef.h>
#include <stdint.h>


#define rs_errf(err, errlen, ...)                                           \
    do {                                                                     \
        if ((err) != NULL && (errlen) > 0) {                                 \
            snprintf((err), (errlen), __VA_ARGS__);                          \
        }                                                                    \
    } while (0)


/* caller-supplied memory, so the module can hand out its request pool */
typedef void *(*rs_alloc_pt)(void *data, size_t size);


/* a growable heap buffer, for the offline tools; max 0 is unbounded */
typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t   max;
} rs_buf_t;


uint64_t rs_hash64(const void *data, size_t len, uint64_t seed);
int rs_utf8_valid(const unsigned char *p, size_t len);
int rs_file_checksum(const char *path, uint64_t *sum, char *err,
    size_t errlen);

/* appends, keeping data NUL-terminated; 0, or -1 (no memory, over max) */
int rs_buf_add(rs_buf_t *b, const void *data, size_t len);

/* rs_buf_add() in the shape of jansson's json_dump_callback_t */
int rs_buf_write(const char *buf, size_t size, void *data);


#endif /* RS_UTIL_H */
