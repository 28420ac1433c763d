/*
 * Copyright (C) ngx_recsys authors
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rs_tpl.h"
#include "rs_util.h"


#define RS_TPL_NONE        UINT32_MAX
#define RS_TPL_DELIM_MAX   32
#define RS_TPL_NAME_SHOW   64       /* of a name quoted in an error */
#define RS_TPL_OUT_SIZE    4096
#define RS_TPL_NUM_SIZE    32

#define rs_tpl_space(c)    ((c) == ' ' || (c) == '\t' || (c) == '\r'       \
                            || (c) == '\n' || (c) == '\f' || (c) == '\v')
#define rs_tpl_blank(c)    ((c) == ' ' || (c) == '\t')
#define rs_tpl_show(n)     (int) ((n) < RS_TPL_NAME_SHOW ? (n)             \
                                                      : RS_TPL_NAME_SHOW)


enum {
    RS_TPL_OP_TEXT = 0,
    RS_TPL_OP_VAR,
    RS_TPL_OP_SECTION,
    RS_TPL_OP_INVERTED,
    RS_TPL_OP_END,
    RS_TPL_OP_PARTIAL,
    RS_TPL_OP_INDENT,
    RS_TPL_OP_HALT
};


/*
 * TEXT      a, b: the text in the pool
 * VAR       a: the name in the pool as NUL-terminated parts, b: the number
 *           of parts (0 for "."), flag: escape
 * SECTION,
 * INVERTED  a, b: the name as for VAR, c: the matching END
 * END       c: the matching SECTION or INVERTED, flag: ends an INVERTED
 * PARTIAL   a: the partial, b, c: its indentation in the pool, flag:
 *           standalone
 * INDENT    a line of a partial starts: write the indentation in effect
 * HALT      the end of the root template or of a partial
 */

typedef struct {
    uint32_t            a;
    uint32_t            b;
    uint32_t            c;
    uint8_t             code;
    uint8_t             flag;
} rs_tpl_op_t;


typedef struct {
    uint32_t            name;       /* in the pool, NUL-terminated */
    uint32_t            name_len;
    uint32_t            start;      /* first op, RS_TPL_NONE when missing */
    uint32_t            from;       /* the partial that first included it */
    uint32_t            line;       /* where it did */
} rs_tpl_partial_t;


struct rs_tpl_s {
    rs_tpl_op_t        *ops;
    uint32_t            nops;
    uint32_t            ops_cap;
    char               *pool;
    uint32_t            npool;
    uint32_t            pool_cap;
    rs_tpl_partial_t   *partials;
    uint32_t            npartials;
    uint32_t            partials_cap;
    uint32_t            missing;
};


typedef struct {
    uint32_t            op;
    uint32_t            line;
    const char         *name;
    size_t              name_len;
} rs_tpl_open_t;


typedef struct {
    rs_tpl_t           *t;
    const char         *filename;
    char               *err;
    size_t              errlen;
    uint32_t            unit;       /* partial compiled, RS_TPL_NONE: root */

    const char         *src;
    size_t              len;
    size_t              counted;    /* newlines are counted up to here */
    uint32_t            line;
    const char         *otag;
    size_t              olen;
    const char         *ctag;
    size_t              clen;
    unsigned            indent:1;   /* emit INDENT ops */
    unsigned            bol:1;      /* at the start of an output line */

    uint32_t            nopen;
    rs_tpl_open_t       open[RS_TPL_MAX_DEPTH];
} rs_tpl_parser_t;


typedef struct {
    json_t             *ctx;        /* NULL for a partial call */
    json_t             *list;
    size_t              i;
    size_t              n;
    uint32_t            pc;         /* the SECTION, or where to return */
    uint32_t            indent;
    uint32_t            indent_len;
    uint8_t             partial;
    uint8_t             standalone;
} rs_tpl_frame_t;


typedef struct {
    const rs_tpl_t     *t;
    json_t             *root;
    rs_write_pt         write;
    void               *data;
    uint32_t            nframes;
    size_t              len;
    rs_tpl_frame_t      frames[RS_TPL_MAX_DEPTH];
    char                buf[RS_TPL_OUT_SIZE];
} rs_tpl_run_t;


static void rs_tpl_error(rs_tpl_parser_t *p, uint32_t line,
    const char *fmt, ...);
static void *rs_tpl_grow(void *items, uint32_t *cap, uint32_t need,
    size_t size);
static uint32_t rs_tpl_pool_add(rs_tpl_t *t, const char *s, size_t n,
    int nul);
static rs_tpl_op_t *rs_tpl_op_add(rs_tpl_parser_t *p, int code);
static size_t rs_tpl_find(const char *src, size_t len, size_t from,
    const char *s, size_t n);
static uint32_t rs_tpl_line(rs_tpl_parser_t *p, size_t off);
static int rs_tpl_text_op(rs_tpl_parser_t *p, const char *s, size_t n);
static int rs_tpl_text(rs_tpl_parser_t *p, size_t from, size_t to);
static int rs_tpl_name(rs_tpl_parser_t *p, rs_tpl_op_t *op, const char *s,
    size_t n);
static int rs_tpl_delimiters(rs_tpl_parser_t *p, const char *s, size_t n);
static int rs_tpl_partial(rs_tpl_parser_t *p, const char *s, size_t n,
    uint32_t standalone, size_t ind, size_t ind_len);
static int rs_tpl_tag(rs_tpl_parser_t *p, int sigil, const char *s,
    size_t n, uint32_t standalone, size_t ind, size_t ind_len);
static int rs_tpl_standalone(rs_tpl_parser_t *p, size_t pos, size_t *ls,
    size_t *le);
static int rs_tpl_compile(rs_tpl_parser_t *p, const char *src, size_t len);
static int rs_tpl_load(rs_tpl_parser_t *p, uint32_t k, unsigned flags,
    rs_tpl_loader_pt loader, void *loader_data);

static int rs_tpl_flush(rs_tpl_run_t *r);
static int rs_tpl_put(rs_tpl_run_t *r, const char *s, size_t n);
static int rs_tpl_put_escaped(rs_tpl_run_t *r, const char *s, size_t n);
static char *rs_tpl_digits(char *p, uint64_t u);
static int rs_tpl_put_real(rs_tpl_run_t *r, double d);
static int rs_tpl_put_value(rs_tpl_run_t *r, json_t *v, int escape);
static int rs_tpl_put_indent(rs_tpl_run_t *r);
static json_t *rs_tpl_lookup(const rs_tpl_run_t *r, const rs_tpl_op_t *op);
static int rs_tpl_falsey(json_t *v);


/* escaping the quote too keeps values safe in single-quoted attributes */
static const char *const  rs_tpl_entities[256] = {
    ['&'] = "&amp;",
    ['<'] = "&lt;",
    ['>'] = "&gt;",
    ['"'] = "&quot;",
    ['\''] = "&#39;",
};


static void
rs_tpl_error(rs_tpl_parser_t *p, uint32_t line, const char *fmt, ...)
{
    char                     msg[256];
    va_list                  args;
    const char              *from;
    const rs_tpl_partial_t  *pt;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    if (p->unit == RS_TPL_NONE) {
        rs_errf(p->err, p->errlen, "%s:%u: %s", p->filename, line, msg);
        return;
    }

    pt = &p->t->partials[p->unit];
    from = (pt->from == RS_TPL_NONE)
           ? p->filename : p->t->pool + p->t->partials[pt->from].name;

    rs_errf(p->err, p->errlen, "%s:%u: %s (partial included from %s:%u)",
            p->t->pool + pt->name, line, msg, from, pt->line);
}


static void *
rs_tpl_grow(void *items, uint32_t *cap, uint32_t need, size_t size)
{
    void      *n;
    uint64_t   c;

    if (need <= *cap) {
        return items;
    }

    for (c = *cap ? *cap : 64; c < need; c *= 2) { /* void */ }

    if (c > UINT32_MAX) {
        c = UINT32_MAX;
    }

    if (c > SIZE_MAX / size) {
        return NULL;
    }

    n = realloc(items, (size_t) c * size);
    if (n == NULL) {
        return NULL;
    }

    *cap = (uint32_t) c;

    return n;
}


/* offsets, not pointers, into the pool: it moves while it grows */

static uint32_t
rs_tpl_pool_add(rs_tpl_t *t, const char *s, size_t n, int nul)
{
    char      *pool;
    uint32_t   off;

    if (n + nul >= (size_t) UINT32_MAX - t->npool) {
        return RS_TPL_NONE;
    }

    pool = rs_tpl_grow(t->pool, &t->pool_cap, t->npool + n + nul, 1);
    if (pool == NULL) {
        return RS_TPL_NONE;
    }

    t->pool = pool;

    off = t->npool;

    if (n) {
        memcpy(t->pool + off, s, n);
    }

    if (nul) {
        t->pool[off + n] = '\0';
    }

    t->npool += n + nul;

    return off;
}


static rs_tpl_op_t *
rs_tpl_op_add(rs_tpl_parser_t *p, int code)
{
    rs_tpl_t     *t;
    rs_tpl_op_t  *op, *ops;

    t = p->t;
    ops = NULL;

    if (t->nops < UINT32_MAX - 1) {
        ops = rs_tpl_grow(t->ops, &t->ops_cap, t->nops + 1,
                          sizeof(rs_tpl_op_t));
    }

    if (ops == NULL) {
        rs_tpl_error(p, p->line, "out of memory");
        return NULL;
    }

    t->ops = ops;

    op = &t->ops[t->nops++];
    memset(op, 0, sizeof(rs_tpl_op_t));
    op->code = code;

    return op;
}


static size_t
rs_tpl_find(const char *src, size_t len, size_t from, const char *s,
    size_t n)
{
    const char  *q;

    while (from + n <= len) {
        q = memchr(src + from, s[0], len - from - n + 1);
        if (q == NULL) {
            break;
        }

        from = q - src;

        if (memcmp(q, s, n) == 0) {
            return from;
        }

        from++;
    }

    return len;
}


static uint32_t
rs_tpl_line(rs_tpl_parser_t *p, size_t off)
{
    const char  *q;

    while (p->counted < off) {
        q = memchr(p->src + p->counted, '\n', off - p->counted);
        if (q == NULL) {
            p->counted = off;
            break;
        }

        p->line++;
        p->counted = q - p->src + 1;
    }

    return p->line;
}


static int
rs_tpl_text_op(rs_tpl_parser_t *p, const char *s, size_t n)
{
    rs_tpl_t     *t;
    uint32_t      off;
    rs_tpl_op_t  *op;

    t = p->t;
    op = t->nops ? &t->ops[t->nops - 1] : NULL;

    off = rs_tpl_pool_add(t, s, n, 0);
    if (off == RS_TPL_NONE) {
        rs_tpl_error(p, p->line, "out of memory");
        return -1;
    }

    /* text around a comment or a standalone line stays one write */
    if (op != NULL && op->code == RS_TPL_OP_TEXT && op->a + op->b == off) {
        op->b += n;
        return 0;
    }

    op = rs_tpl_op_add(p, RS_TPL_OP_TEXT);
    if (op == NULL) {
        return -1;
    }

    op->a = off;
    op->b = n;

    return 0;
}


/*
 * Partials are compiled once, but a standalone partial tag indents every
 * line of the partial by its own indentation: each line start of a
 * partial gets an INDENT op, which writes whatever indentation the
 * renderer has in effect (often none).
 */

static int
rs_tpl_text(rs_tpl_parser_t *p, size_t from, size_t to)
{
    size_t       n;
    const char  *s, *nl;

    s = p->src + from;
    n = to - from;

    if (!p->indent) {
        return n ? rs_tpl_text_op(p, s, n) : 0;
    }

    while (n) {
        if (p->bol && rs_tpl_op_add(p, RS_TPL_OP_INDENT) == NULL) {
            return -1;
        }

        nl = memchr(s, '\n', n);
        p->bol = (nl != NULL);
        from = nl ? (size_t) (nl - s) + 1 : n;

        if (rs_tpl_text_op(p, s, from) != 0) {
            return -1;
        }

        s += from;
        n -= from;
    }

    return 0;
}


static int
rs_tpl_name(rs_tpl_parser_t *p, rs_tpl_op_t *op, const char *s, size_t n)
{
    size_t    i;
    uint32_t  off, parts;

    if (n == 1 && s[0] == '.') {
        op->a = 0;
        op->b = 0;
        return 0;
    }

    parts = 1;

    for (i = 0; i < n; i++) {
        if (s[i] != '.') {
            continue;
        }

        if (i == 0 || i == n - 1 || s[i + 1] == '.') {
            rs_tpl_error(p, p->line, "invalid name \"%.*s\"",
                         rs_tpl_show(n), s);
            return -1;
        }

        parts++;
    }

    off = rs_tpl_pool_add(p->t, s, n, 1);
    if (off == RS_TPL_NONE) {
        rs_tpl_error(p, p->line, "out of memory");
        return -1;
    }

    /* split once here so that a lookup is only json_object_get() calls */
    for (i = 0; i < n; i++) {
        if (p->t->pool[off + i] == '.') {
            p->t->pool[off + i] = '\0';
        }
    }

    op->a = off;
    op->b = parts;

    return 0;
}


static int
rs_tpl_delimiters(rs_tpl_parser_t *p, const char *s, size_t n)
{
    size_t       i, o, olen, c, clen;

    for (i = 0; i < n && rs_tpl_space(s[i]); i++) { /* void */ }
    for (o = i; i < n && !rs_tpl_space(s[i]); i++) { /* void */ }
    olen = i - o;

    for ( /* void */ ; i < n && rs_tpl_space(s[i]); i++) { /* void */ }
    for (c = i; i < n && !rs_tpl_space(s[i]); i++) { /* void */ }
    clen = i - c;

    for ( /* void */ ; i < n && rs_tpl_space(s[i]); i++) { /* void */ }

    if (i != n || olen == 0 || clen == 0
        || olen > RS_TPL_DELIM_MAX || clen > RS_TPL_DELIM_MAX
        || memchr(s + o, '=', olen) != NULL
        || memchr(s + c, '=', clen) != NULL)
    {
        rs_tpl_error(p, p->line, "invalid set-delimiter tag \"%.*s\"",
                     rs_tpl_show(n), s);
        return -1;
    }

    p->otag = s + o;
    p->olen = olen;
    p->ctag = s + c;
    p->clen = clen;

    return 0;
}


static int
rs_tpl_partial(rs_tpl_parser_t *p, const char *s, size_t n,
    uint32_t standalone, size_t ind, size_t ind_len)
{
    uint32_t           k;
    rs_tpl_t          *t;
    rs_tpl_op_t       *op;
    rs_tpl_partial_t  *pt;

    t = p->t;

    if (s[0] == '*') {
        rs_tpl_error(p, p->line, "dynamic partial names are not supported");
        return -1;
    }

    /* each name is compiled once, which is also what ends recursion */
    for (k = 0; k < t->npartials; k++) {
        pt = &t->partials[k];

        if (pt->name_len == n && memcmp(t->pool + pt->name, s, n) == 0) {
            break;
        }
    }

    if (k == t->npartials) {
        pt = rs_tpl_grow(t->partials, &t->partials_cap, t->npartials + 1,
                         sizeof(rs_tpl_partial_t));
        if (pt == NULL) {
            rs_tpl_error(p, p->line, "out of memory");
            return -1;
        }

        t->partials = pt;

        pt = &t->partials[k];
        pt->name = rs_tpl_pool_add(t, s, n, 1);
        pt->name_len = n;
        pt->start = RS_TPL_NONE;
        pt->from = p->unit;
        pt->line = p->line;

        if (pt->name == RS_TPL_NONE) {
            rs_tpl_error(p, p->line, "out of memory");
            return -1;
        }

        t->npartials++;
    }

    op = rs_tpl_op_add(p, RS_TPL_OP_PARTIAL);
    if (op == NULL) {
        return -1;
    }

    op->a = k;
    op->flag = standalone;

    if (standalone && ind_len) {
        op->b = rs_tpl_pool_add(t, p->src + ind, ind_len, 0);
        op->c = ind_len;

        if (op->b == RS_TPL_NONE) {
            rs_tpl_error(p, p->line, "out of memory");
            return -1;
        }
    }

    return 0;
}


static int
rs_tpl_tag(rs_tpl_parser_t *p, int sigil, const char *s, size_t n,
    uint32_t standalone, size_t ind, size_t ind_len)
{
    size_t          i;
    rs_tpl_op_t    *op;
    rs_tpl_open_t  *o;

    if (sigil == '!') {
        return 0;
    }

    if (sigil == '=') {
        return rs_tpl_delimiters(p, s, n);
    }

    if (n == 0) {
        rs_tpl_error(p, p->line, "empty tag");
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (rs_tpl_space(s[i])) {
            rs_tpl_error(p, p->line, "invalid tag name \"%.*s\"",
                         rs_tpl_show(n), s);
            return -1;
        }
    }

    switch (sigil) {

    case '>':
        return rs_tpl_partial(p, s, n, standalone, ind, ind_len);

    case '#':
    case '^':
        if (p->nopen == RS_TPL_MAX_DEPTH) {
            rs_tpl_error(p, p->line, "sections nested deeper than %d",
                         RS_TPL_MAX_DEPTH);
            return -1;
        }

        op = rs_tpl_op_add(p, sigil == '#' ? RS_TPL_OP_SECTION
                                           : RS_TPL_OP_INVERTED);
        if (op == NULL || rs_tpl_name(p, op, s, n) != 0) {
            return -1;
        }

        o = &p->open[p->nopen++];
        o->op = p->t->nops - 1;
        o->line = p->line;
        o->name = s;
        o->name_len = n;

        return 0;

    case '/':
        if (p->nopen == 0) {
            rs_tpl_error(p, p->line, "unexpected closing tag \"%.*s\"",
                         rs_tpl_show(n), s);
            return -1;
        }

        o = &p->open[p->nopen - 1];

        if (o->name_len != n || memcmp(o->name, s, n) != 0) {
            rs_tpl_error(p, p->line, "closing tag \"%.*s\" does not match "
                         "section \"%.*s\" opened at line %u",
                         rs_tpl_show(n), s, rs_tpl_show(o->name_len),
                         o->name, o->line);
            return -1;
        }

        op = rs_tpl_op_add(p, RS_TPL_OP_END);
        if (op == NULL) {
            return -1;
        }

        op->c = o->op;
        op->flag = (p->t->ops[o->op].code == RS_TPL_OP_INVERTED);
        p->t->ops[o->op].c = p->t->nops - 1;
        p->nopen--;

        return 0;

    default:
        op = rs_tpl_op_add(p, RS_TPL_OP_VAR);
        if (op == NULL) {
            return -1;
        }

        op->flag = (sigil == 0);

        return rs_tpl_name(p, op, s, n);
    }
}


/*
 * A section, comment, partial or delimiter tag alone on its line takes
 * the whole line with it: the blanks before, the blanks and the newline
 * after.  On success *ls and *le are moved to the ends of that line.
 */

static int
rs_tpl_standalone(rs_tpl_parser_t *p, size_t pos, size_t *ls, size_t *le)
{
    size_t       b, e;
    const char  *src;

    src = p->src;

    for (b = *ls; b > pos && rs_tpl_blank(src[b - 1]); b--) { /* void */ }

    if (b != 0 && src[b - 1] != '\n') {
        return 0;
    }

    for (e = *le; e < p->len && rs_tpl_blank(src[e]); e++) { /* void */ }

    if (e < p->len) {
        if (src[e] == '\n') {
            e++;

        } else if (src[e] == '\r' && e + 1 < p->len && src[e + 1] == '\n') {
            e += 2;

        } else {
            return 0;
        }
    }

    *ls = b;
    *le = e;

    return 1;
}


static int
rs_tpl_compile(rs_tpl_parser_t *p, const char *src, size_t len)
{
    int             sigil;
    char            close[RS_TPL_DELIM_MAX + 1];
    size_t          pos, tag, q, ce, end, ls, le, cs, clen;
    uint32_t        standalone;
    rs_tpl_op_t    *op;
    rs_tpl_open_t  *o;

    p->src = src;
    p->len = len;
    p->counted = 0;
    p->line = 1;
    p->otag = "{{";
    p->olen = 2;
    p->ctag = "}}";
    p->clen = 2;
    p->bol = 1;
    p->nopen = 0;

    pos = 0;

    for ( ;; ) {
        tag = rs_tpl_find(src, len, pos, p->otag, p->olen);

        if (tag == len) {
            if (rs_tpl_text(p, pos, len) != 0) {
                return -1;
            }

            break;
        }

        rs_tpl_line(p, tag);

        for (q = tag + p->olen; q < len && rs_tpl_space(src[q]); q++) {
            /* void */
        }

        sigil = (q < len) ? src[q] : 0;

        switch (sigil) {

        case '#':
        case '^':
        case '/':
        case '!':
        case '>':
        case '=':
        case '{':
        case '&':
            q++;
            break;

        case '<':
        case '$':
            rs_tpl_error(p, p->line, "template inheritance is not supported");
            return -1;

        default:
            sigil = 0;
        }

        clen = 0;

        if (sigil == '{' || sigil == '=') {
            close[clen++] = (sigil == '{') ? '}' : '=';
        }

        memcpy(close + clen, p->ctag, p->clen);
        clen += p->clen;

        ce = rs_tpl_find(src, len, q, close, clen);
        if (ce == len) {
            rs_tpl_error(p, p->line, "unclosed tag \"%.*s%s\"",
                         (int) p->olen, p->otag, sigil == '{' ? "{" : "");
            return -1;
        }

        end = ce + clen;

        ls = tag;
        le = end;
        standalone = (sigil != 0 && sigil != '{' && sigil != '&'
                      && rs_tpl_standalone(p, pos, &ls, &le));

        if (standalone) {
            if (rs_tpl_text(p, pos, ls) != 0) {
                return -1;
            }

            p->bol = 1;
            pos = le;

        } else {
            if (rs_tpl_text(p, pos, tag) != 0) {
                return -1;
            }

            if (p->indent && p->bol
                && rs_tpl_op_add(p, RS_TPL_OP_INDENT) == NULL)
            {
                return -1;
            }

            p->bol = 0;
            pos = end;
        }

        for (cs = q; cs < ce && rs_tpl_space(src[cs]); cs++) { /* void */ }
        while (ce > cs && rs_tpl_space(src[ce - 1])) {
            ce--;
        }

        if (rs_tpl_tag(p, sigil, src + cs, ce - cs, standalone, ls,
                       tag - ls)
            != 0)
        {
            return -1;
        }
    }

    if (p->nopen) {
        o = &p->open[p->nopen - 1];

        rs_tpl_error(p, o->line, "unclosed section \"%.*s\"",
                     rs_tpl_show(o->name_len), o->name);
        return -1;
    }

    op = rs_tpl_op_add(p, RS_TPL_OP_HALT);

    return op ? 0 : -1;
}


static int
rs_tpl_load(rs_tpl_parser_t *p, uint32_t k, unsigned flags,
    rs_tpl_loader_pt loader, void *loader_data)
{
    int                rc;
    size_t             len;
    const char        *src, *name;
    rs_tpl_partial_t  *pt;

    pt = &p->t->partials[k];
    name = p->t->pool + pt->name;
    src = NULL;
    len = 0;

    rc = loader ? loader(loader_data, name, pt->name_len, &src, &len)
                : RS_TPL_NOT_FOUND;

    if (rc == RS_TPL_NOT_FOUND) {
        if (flags & RS_TPL_STRICT_PARTIALS) {
            p->unit = pt->from;
            rs_tpl_error(p, pt->line, "partial \"%s\" not found", name);
            return -1;
        }

        if (p->t->missing == RS_TPL_NONE) {
            p->t->missing = k;
        }

        return 0;
    }

    if (rc != 0 || (src == NULL && len)) {
        p->unit = pt->from;
        rs_tpl_error(p, pt->line, "cannot load partial \"%s\"", name);
        return -1;
    }

    pt->start = p->t->nops;
    p->unit = k;
    p->indent = 1;

    return rs_tpl_compile(p, src ? src : "", len);
}


int
rs_tpl_parse(rs_tpl_t **out, const char *src, size_t len,
    const char *filename, unsigned flags, rs_tpl_loader_pt loader,
    void *loader_data, char *err, size_t errlen)
{
    uint32_t          k;
    rs_tpl_t         *t;
    rs_tpl_parser_t  *p;

    p = calloc(1, sizeof(rs_tpl_parser_t));
    t = calloc(1, sizeof(rs_tpl_t));

    if (p == NULL || t == NULL) {
        rs_errf(err, errlen, "%s: out of memory",
                filename ? filename : "template");
        free(p);
        free(t);
        return -1;
    }

    t->missing = RS_TPL_NONE;

    p->t = t;
    p->filename = filename ? filename : "template";
    p->err = err;
    p->errlen = errlen;
    p->unit = RS_TPL_NONE;

    if (rs_tpl_compile(p, src ? src : "", src ? len : 0) != 0) {
        goto failed;
    }

    /* partials queue up behind the root as they are met: no recursion */
    for (k = 0; k < t->npartials; k++) {
        if (rs_tpl_load(p, k, flags, loader, loader_data) != 0) {
            goto failed;
        }
    }

    /* text for an embedding model: "&" must reach it as "&", not "&amp;" */
    for (k = 0; (flags & RS_TPL_NO_ESCAPE) && k < t->nops; k++) {
        if (t->ops[k].code == RS_TPL_OP_VAR) {
            t->ops[k].flag = 0;
        }
    }

    free(p);
    *out = t;

    return 0;

failed:

    free(p);
    rs_tpl_free(t);

    return -1;
}


void
rs_tpl_free(rs_tpl_t *t)
{
    if (t == NULL) {
        return;
    }

    free(t->ops);
    free(t->pool);
    free(t->partials);
    free(t);
}


const char *
rs_tpl_missing_partial(const rs_tpl_t *t)
{
    if (t == NULL || t->missing == RS_TPL_NONE) {
        return NULL;
    }

    return t->pool + t->partials[t->missing].name;
}


static int
rs_tpl_flush(rs_tpl_run_t *r)
{
    size_t  n;

    n = r->len;
    r->len = 0;

    if (n && r->write(r->buf, n, r->data) != 0) {
        return -1;
    }

    return 0;
}


/* output is gathered so the callback sees a few large writes */

static int
rs_tpl_put(rs_tpl_run_t *r, const char *s, size_t n)
{
    if (n > sizeof(r->buf) - r->len) {
        if (rs_tpl_flush(r) != 0) {
            return -1;
        }

        if (n >= sizeof(r->buf)) {
            return r->write(s, n, r->data) == 0 ? 0 : -1;
        }
    }

    if (n) {
        memcpy(r->buf + r->len, s, n);
        r->len += n;
    }

    return 0;
}


static int
rs_tpl_put_escaped(rs_tpl_run_t *r, const char *s, size_t n)
{
    size_t       i, run;
    const char  *e;

    run = 0;

    for (i = 0; i < n; i++) {
        e = rs_tpl_entities[(unsigned char) s[i]];
        if (e == NULL) {
            continue;
        }

        if (rs_tpl_put(r, s + run, i - run) != 0
            || rs_tpl_put(r, e, strlen(e)) != 0)
        {
            return -1;
        }

        run = i + 1;
    }

    return rs_tpl_put(r, s + run, n - run);
}


static char *
rs_tpl_digits(char *p, uint64_t u)
{
    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    return p;
}


/*
 * Reals as the Mustache spec expects: the shortest form that reads back
 * the same (1.21, not 1.2100000000000000).  Prices, the common case, skip
 * printf(), whose float path costs more than the rest of a render: when
 * k / 100 reads back as d, "k / 100" with at most two decimals is that
 * shortest form, since below 1e13 no two such forms share a double.
 */

static int
rs_tpl_put_real(rs_tpl_run_t *r, double d)
{
    int       n, prec;
    char      num[RS_TPL_NUM_SIZE], *p, *end;
    int64_t   k;
    uint64_t  u;

    if (d != 0 && d > -1e13 && d < 1e13) {
        k = (int64_t) (d * 100 + (d < 0 ? -0.5 : 0.5));

        if ((double) k / 100 == d) {
            u = (k < 0) ? 0 - (uint64_t) k : (uint64_t) k;
            end = num + sizeof(num);
            p = end;

            if (u % 100) {
                if (u % 10) {
                    *--p = (char) ('0' + u % 10);
                }

                *--p = (char) ('0' + u / 10 % 10);
                *--p = '.';
            }

            p = rs_tpl_digits(p, u / 100);

            if (k < 0) {
                *--p = '-';
            }

            return rs_tpl_put(r, p, end - p);
        }
    }

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(num, sizeof(num), "%.*g", prec, d);
        if (strtod(num, NULL) == d) {
            break;
        }
    }

    return rs_tpl_put(r, num, n);
}


static int
rs_tpl_put_value(rs_tpl_run_t *r, json_t *v, int escape)
{
    char        num[RS_TPL_NUM_SIZE], *p, *end;
    json_int_t  i;

    switch (json_typeof(v)) {

    case JSON_STRING:
        return escape ? rs_tpl_put_escaped(r, json_string_value(v),
                                           json_string_length(v))
                      : rs_tpl_put(r, json_string_value(v),
                                   json_string_length(v));

    case JSON_INTEGER:
        i = json_integer_value(v);
        end = num + sizeof(num);
        p = rs_tpl_digits(end, i < 0 ? 0 - (uint64_t) i : (uint64_t) i);

        if (i < 0) {
            *--p = '-';
        }

        return rs_tpl_put(r, p, end - p);

    case JSON_REAL:
        return rs_tpl_put_real(r, json_real_value(v));

    case JSON_TRUE:
        return rs_tpl_put(r, "true", 4);

    case JSON_FALSE:
        return rs_tpl_put(r, "false", 5);

    default:
        /* null, and objects and arrays, which have no text form */
        return 0;
    }
}


static int
rs_tpl_put_indent(rs_tpl_run_t *r)
{
    uint32_t               lo, k;
    const rs_tpl_frame_t  *f;

    /* a partial included inline starts afresh, without indentation */
    for (lo = r->nframes; lo > 0; lo--) {
        f = &r->frames[lo - 1];

        if (f->partial && !f->standalone) {
            break;
        }
    }

    for (k = lo; k < r->nframes; k++) {
        f = &r->frames[k];

        if (f->partial && f->indent_len
            && rs_tpl_put(r, r->t->pool + f->indent, f->indent_len) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static json_t *
rs_tpl_lookup(const rs_tpl_run_t *r, const rs_tpl_op_t *op)
{
    json_t      *v, *ctx;
    uint32_t     k, i;
    const char  *part;

    ctx = r->root;
    v = NULL;

    for (k = r->nframes; k > 0; k--) {
        if (r->frames[k - 1].ctx != NULL) {
            ctx = r->frames[k - 1].ctx;
            break;
        }
    }

    if (op->b == 0) {
        return ctx;
    }

    part = r->t->pool + op->a;

    for (k = r->nframes; k > 0; k--) {
        ctx = r->frames[k - 1].ctx;

        if (json_is_object(ctx)) {
            v = json_object_get(ctx, part);
            if (v != NULL) {
                break;
            }
        }
    }

    if (v == NULL) {
        if (!json_is_object(r->root)) {
            return NULL;
        }

        v = json_object_get(r->root, part);
    }

    /* the rest of a dotted name resolves against the first part only */
    for (i = 1; v != NULL && i < op->b; i++) {
        part += strlen(part) + 1;
        v = json_is_object(v) ? json_object_get(v, part) : NULL;
    }

    return v;
}


/* "" and 0 are truthy, as in the reference implementation */

static int
rs_tpl_falsey(json_t *v)
{
    return v == NULL || json_is_null(v) || json_is_false(v)
           || (json_is_array(v) && json_array_size(v) == 0);
}


int
rs_tpl_render(const rs_tpl_t *t, json_t *context, rs_write_pt write,
    void *data)
{
    json_t             *v;
    uint32_t            pc, start;
    rs_tpl_run_t        r;
    rs_tpl_frame_t     *f;
    const rs_tpl_op_t  *op;

    if (t == NULL || write == NULL) {
        return RS_TPL_WRITE_ERROR;
    }

    r.t = t;
    r.root = context;
    r.write = write;
    r.data = data;
    r.nframes = 0;
    r.len = 0;

    pc = 0;

    for ( ;; ) {
        op = &t->ops[pc];

        switch (op->code) {

        case RS_TPL_OP_TEXT:
            if (rs_tpl_put(&r, t->pool + op->a, op->b) != 0) {
                return RS_TPL_WRITE_ERROR;
            }

            pc++;
            break;

        case RS_TPL_OP_VAR:
            v = rs_tpl_lookup(&r, op);

            if (v != NULL && rs_tpl_put_value(&r, v, op->flag) != 0) {
                return RS_TPL_WRITE_ERROR;
            }

            pc++;
            break;

        case RS_TPL_OP_SECTION:
            v = rs_tpl_lookup(&r, op);

            if (rs_tpl_falsey(v)) {
                pc = op->c + 1;
                break;
            }

            if (r.nframes == RS_TPL_MAX_DEPTH) {
                return RS_TPL_TOO_DEEP;
            }

            f = &r.frames[r.nframes++];
            f->pc = pc;
            f->i = 0;
            f->partial = 0;

            if (json_is_array(v)) {
                f->list = v;
                f->n = json_array_size(v);
                f->ctx = json_array_get(v, 0);

            } else {
                f->list = NULL;
                f->n = 1;
                f->ctx = v;
            }

            pc++;
            break;

        case RS_TPL_OP_INVERTED:
            v = rs_tpl_lookup(&r, op);
            pc = rs_tpl_falsey(v) ? pc + 1 : op->c + 1;
            break;

        case RS_TPL_OP_END:
            if (op->flag) {
                pc++;
                break;
            }

            f = &r.frames[r.nframes - 1];

            if (++f->i < f->n) {
                f->ctx = json_array_get(f->list, f->i);
                pc = f->pc + 1;

            } else {
                r.nframes--;
                pc++;
            }

            break;

        case RS_TPL_OP_PARTIAL:
            start = t->partials[op->a].start;

            if (start == RS_TPL_NONE) {
                pc++;
                break;
            }

            if (r.nframes == RS_TPL_MAX_DEPTH) {
                return RS_TPL_TOO_DEEP;
            }

            f = &r.frames[r.nframes++];
            f->ctx = NULL;
            f->list = NULL;
            f->pc = pc + 1;
            f->indent = op->b;
            f->indent_len = op->c;
            f->partial = 1;
            f->standalone = op->flag;

            pc = start;
            break;

        case RS_TPL_OP_INDENT:
            if (rs_tpl_put_indent(&r) != 0) {
                return RS_TPL_WRITE_ERROR;
            }

            pc++;
            break;

        default: /* RS_TPL_OP_HALT */
            if (r.nframes == 0) {
                return rs_tpl_flush(&r) == 0 ? 0 : RS_TPL_WRITE_ERROR;
            }

            pc = r.frames[--r.nframes].pc;
            break;
        }
    }
}
