/*
 * Copyright (C) ngx_recsys authors
 *
 * A bump allocator for the CLI and the tests: the module hands the engine
 * its request pool instead, and this is the same contract outside nginx.
 */

#ifndef RS_ARENA_H
#define RS_ARENA_H


#include <stddef.h>


typedef struct rs_arena_block_s  rs_arena_block_t;

typedef struct {
    rs_arena_block_t  *blocks;
} rs_arena_t;


void *rs_arena_alloc(void *arena, size_t size);
void rs_arena_reset(rs_arena_t *arena);


#endif /* RS_ARENA_H */
