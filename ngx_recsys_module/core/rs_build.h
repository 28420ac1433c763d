/*
 * Copyright (C) ngx_recsys authors
 *
 * Building an index directory from a catalogue: learn the embedder's IDF,
 * embed every product, build the faiss index, write the item store and
 * the manifest.  Used by "recsys-index build" and the unit tests.
 */

#ifndef RS_BUILD_H
#define RS_BUILD_H


#include <stddef.h>
#include <stdint.h>

#include "rs_catalog.h"
#include "rs_index.h"


typedef void (*rs_progress_pt)(void *data, const char *stage, size_t done,
    size_t total);


typedef struct {
    const char            *catalog;
    const char            *out;
    rs_index_type_e        index_type;
    uint32_t               dim;
    int                    strict;
    rs_catalog_report_pt   report;
    void                  *report_data;
    rs_progress_pt         progress;
    void                  *progress_data;
} rs_build_conf_t;


typedef struct {
    size_t           items;
    size_t           bad;
    size_t           duplicates;
    rs_index_type_e  index_type;
    char             version[32];
} rs_build_stats_t;


int rs_build(const rs_build_conf_t *conf, rs_build_stats_t *stats, char *err,
    size_t errlen);


#endif /* RS_BUILD_H */
