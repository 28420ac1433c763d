/*
 * Copyright (C) ngx_recsys authors
 *
 * The template narrative: a short "why these picks" text written only
 * from catalogue facts, so it needs no model and can never claim what the
 * catalogue does not hold.  It is the answer's narrative whenever no
 * validated LLM narrative is at hand.
 */

#ifndef RS_NARRATIVE_H
#define RS_NARRATIVE_H


#include <jansson.h>

#include "rs_engine.h"


#define RS_NARRATIVE_VERSION  1


/* "$79.99", "€1,299.00", "CHF 12.50"; 0 when it does not fit */
int rs_format_price(char *buf, size_t size, double price,
    const char *currency);
json_t *rs_narrative_template(const rs_engine_t *e, const char *query,
    size_t query_len, const rs_request_t *req, const rs_result_t *res,
    json_t *items);


#endif /* RS_NARRATIVE_H */
