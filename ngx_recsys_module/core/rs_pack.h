/*
 * Copyright (C) ngx_recsys authors
 *
 * A ranked result as bytes, so it can be cached in shared memory and in
 * Redis and served again without running the engine: a versioned,
 * little-endian format with every length and count checked on the way
 * back, since the bytes come from outside the process.
 */

#ifndef RS_PACK_H
#define RS_PACK_H


#include <stddef.h>
#include <stdint.h>

#include "rs_engine.h"


#define RS_PACK_MAGIC        "RSRP"
#define RS_PACK_VERSION      2

/* a filter's exclusions beyond this are not a result the engine makes */
#define RS_PACK_MAX_EXCLUDES 64


/*
 * Returns the packed size and writes it only when size is at least that,
 * touching nothing of buf otherwise (buf may be NULL with size 0 to
 * measure).  Returns 0 for a result that cannot be packed: no profile,
 * more than RS_MAX_K hits, too many exclusions.  The embed source is
 * kept, so a cached answer tells what it was searched with; the stage
 * timings are not: a cached answer spent none.
 */
size_t rs_result_pack(const rs_result_t *res, void *buf, size_t size);

/*
 * 0, or -1 for anything that is not a packed result made for this
 * profile (its fingerprint is in the bytes) and an index of nitems items:
 * every hit names an item below nitems, a promotion and boosts of the
 * profile, finite numbers.  res->profile is set to profile; the strings
 * (NUL-terminated, valid UTF-8) and arrays are copied into alloc's memory,
 * nothing points into buf.
 */
int rs_result_unpack(const void *buf, size_t len, const rs_profile_t *profile,
    uint32_t nitems, rs_result_t *res, rs_alloc_pt alloc, void *alloc_data);


#endif /* RS_PACK_H */
