
/*
 * ngx_recsys: synthetic product catalog generator.
 *
 * Plain C99, libc only: shared by recsys-index (demo, benchmarks) and the
 * unit tests, never linked into the nginx module itself.
 */


#ifndef _RS_GEN_H_INCLUDED_
#define _RS_GEN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * created_at values fall in the ~3 years before this instant; it is fixed
 * rather than "now" so that a seed always yields the same bytes.
 */
#define RS_GEN_REF_TIME        1748736000      /* 2025-06-01T00:00:00Z */
#define RS_GEN_REF_TIME_STR    "2025-06-01T00:00:00Z"

#define RS_GEN_URL_PREFIX      "https://shop.example.com/p/"
#define RS_GEN_IMAGE_PREFIX    "https://shop.example.com/img/"


/*
 * Receives whole lines only: every chunk ends with '\n', so a consumer
 * may parse each chunk on its own.  Returns 0 on success, anything else
 * aborts generation.
 */
typedef int (*rs_gen_write_pt)(void *data, const char *buf, size_t len);


/*
 * Writes n products as JSON Lines through write().  The output depends
 * only on (n, seed): integer arithmetic and an own PRNG make it identical
 * on every platform, and each item is derived from (seed, index) alone,
 * so the output for n is a prefix of the output for any larger n.
 *
 * Returns 0 on success, -1 if write() failed or a line did not fit the
 * internal buffer (a bug in the phrase banks).
 */
int rs_gen_catalog(uint64_t n, uint64_t seed, rs_gen_write_pt write,
    void *data);


#endif /* _RS_GEN_H_INCLUDED_ */
