/*
 * Copyright (C) ngx_recsys authors
 */


#include <stdlib.h>

#include "rs_arena.h"


#define RS_ARENA_BLOCK  (256 * 1024)
#define RS_ARENA_ALIGN  16


struct rs_arena_block_s {
    rs_arena_block_t  *next;
    size_t             used;
    size_t             size;
    size_t             pad;         /* keeps data 16-byte aligned */
    double             data[];
};


void *
rs_arena_alloc(void *data, size_t size)
{
    size_t             bsize;
    rs_arena_t        *arena;
    rs_arena_block_t  *b;

    arena = data;
    size = (size + RS_ARENA_ALIGN - 1) & ~(RS_ARENA_ALIGN - 1);
    b = arena->blocks;

    if (b == NULL || b->size - b->used < size) {
        bsize = size > RS_ARENA_BLOCK ? size : RS_ARENA_BLOCK;

        b = malloc(sizeof(rs_arena_block_t) + bsize);
        if (b == NULL) {
            return NULL;
        }

        b->next = arena->blocks;
        b->used = 0;
        b->size = bsize;
        arena->blocks = b;
    }

    b->used += size;

    return (char *) b->data + b->used - size;
}


void
rs_arena_reset(rs_arena_t *arena)
{
    rs_arena_block_t  *b, *next;

    for (b = arena->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    arena->blocks = NULL;
}
