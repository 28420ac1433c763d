/*
 * Copyright (C) ngx_recsys authors
 *
 * Logic-less templates, a subset of Mustache (interpolation, sections,
 * inverted sections, comments, partials, set-delimiter), for the HTML
 * carousel fragments.  A template and all the partials it reaches are
 * compiled once, at configuration time, into one flat program; rendering
 * walks that program against the JSON answer without allocating and
 * without recursing on the C stack.
 */

#ifndef RS_TPL_H
#define RS_TPL_H


#include <stddef.h>

#include <jansson.h>

#include "rs_render.h"


/* rs_tpl_parse() flags */
#define RS_TPL_STRICT_PARTIALS  0x01    /* a missing partial is an error */
#define RS_TPL_NO_ESCAPE        0x02    /* plain text: {{x}} as {{{x}}} */

/* rs_tpl_loader_pt() results besides 0 (found) */
#define RS_TPL_NOT_FOUND        -1
#define RS_TPL_LOAD_ERROR       -2

/* rs_tpl_render() results besides 0 */
#define RS_TPL_WRITE_ERROR      -1
#define RS_TPL_TOO_DEEP         -2

/*
 * Sections open at once in one template, and sections plus partial calls
 * open at once while rendering: templates come from the configuration,
 * but recursive partials follow the data, so both are bounded.
 */
#define RS_TPL_MAX_DEPTH        64


typedef struct rs_tpl_s  rs_tpl_t;


/*
 * Finds the source of a partial; "name" is also NUL-terminated.  The
 * loader keeps ownership of *src, which must stay valid until
 * rs_tpl_parse() returns.  Returns 0, RS_TPL_NOT_FOUND (the partial
 * renders as nothing unless RS_TPL_STRICT_PARTIALS) or RS_TPL_LOAD_ERROR
 * (the parse fails; the loader reports the details itself).
 */
typedef int (*rs_tpl_loader_pt)(void *data, const char *name, size_t len,
    const char **src, size_t *srclen);


/*
 * Returns 0, or -1 with a message such as
 * "carousel.mustache:12: unclosed section \"items\"" in err.  Errors in a
 * partial name the partial and where it was first included from.
 */
int rs_tpl_parse(rs_tpl_t **out, const char *src, size_t len,
    const char *filename, unsigned flags, rs_tpl_loader_pt loader,
    void *loader_data, char *err, size_t errlen);

/*
 * Returns 0, RS_TPL_WRITE_ERROR when write() failed or RS_TPL_TOO_DEEP
 * when the data nests deeper than RS_TPL_MAX_DEPTH; on error part of the
 * output may already have been written.
 */
int rs_tpl_render(const rs_tpl_t *t, json_t *context, rs_write_pt write,
    void *data);

/* the first partial that was not found, or NULL: for a warning */
const char *rs_tpl_missing_partial(const rs_tpl_t *t);

void rs_tpl_free(rs_tpl_t *t);


#endif /* RS_TPL_H */
