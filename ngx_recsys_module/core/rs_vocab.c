/*
 * Copyright (C) ngx_recsys authors
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rs_util.h"
#include "rs_vocab.h"


#define RS_VOCAB_MAX_FILE     ((size_t) 1 << 30)
#define RS_VOCAB_NAME_MAX     1024
#define RS_VOCAB_NAME_TOKENS  64
#define RS_VOCAB_MAX_PARTS    8       /* of "Sports & Outdoors" */

/* internal kinds of rs_tok_special(), never stored in a token */
#define RS_TOK_SPACECHAR      100
#define RS_TOK_APOS           101


typedef struct {
    char      *data;
    size_t     len;
    size_t     cap;
} rs_vocab_buf_t;


typedef struct {
    rs_vocab_buf_t     strings;
    rs_vocab_brand_t  *brands;
    size_t             nbrands;
    size_t             brands_cap;
    rs_vocab_node_t   *nodes;
    uint32_t          *level_at;        /* per node: its level in its path */
    size_t             nnodes;
    size_t             nodes_cap;
    rs_vocab_name_t   *names;
    size_t             nnames;
    size_t             names_cap;
    uint32_t          *brand_map;       /* brand index + 1 */
    size_t             brand_map_size;
    uint32_t          *node_map;        /* node index + 1 */
    size_t             node_map_size;
    rs_tokens_t        tk;
    rs_token_t         tok[RS_VOCAB_NAME_TOKENS];
    char               norm[RS_VOCAB_NAME_MAX];
    char               stem[RS_VOCAB_NAME_MAX];
} rs_vocab_builder_t;


typedef struct {
    uint32_t  items;
    uint32_t  index;
} rs_vocab_order_t;


static int rs_isdigit(int c);
static int rs_isalpha(int c);
static size_t rs_tok_special(const unsigned char *p, size_t n, int *kind);
static size_t rs_tok_wordchar(const unsigned char *p, size_t n);
static size_t rs_tok_word_end(const unsigned char *p, size_t len, size_t i);
static size_t rs_tok_number(const unsigned char *p, size_t len, size_t i,
    double *value, uint8_t *flags);
static int rs_tok_put(rs_tokens_t *t, rs_token_t *tk,
    const unsigned char *p);
static size_t rs_stem(char *w, size_t n);
static int rs_vocab_buf_add(rs_vocab_buf_t *b, const char *s, size_t len,
    uint32_t *off);
static int rs_vocab_key(rs_vocab_builder_t *b, const char *s, size_t len,
    const char **key, size_t *key_len, uint32_t *nwords);
static int rs_vocab_map_grow(uint32_t **map, size_t *size, size_t count,
    rs_vocab_builder_t *b, int nodes);
static uint64_t rs_vocab_level_hash(const char *s, size_t len,
    uint32_t parent);
static int rs_vocab_add_brand(rs_vocab_builder_t *b, const char *name);
static int rs_vocab_add_name(rs_vocab_builder_t *b, const char *key,
    size_t len, uint32_t nwords, uint32_t node);
static int rs_vocab_add_names(rs_vocab_builder_t *b, const char *s,
    size_t len, uint32_t node);
static int rs_vocab_add_node(rs_vocab_builder_t *b, const char *cat,
    size_t ls, size_t le, uint32_t parent, uint32_t *node);
static int rs_vocab_add_path(rs_vocab_builder_t *b, const char *cat,
    uint32_t *leaf);
static int rs_vocab_cmp_double(const void *a, const void *b);
static int rs_vocab_cmp_order(const void *a, const void *b);
static double rs_vocab_percentile(const double *a, size_t n, double p);
static int rs_vocab_prices(rs_vocab_builder_t *b, const rs_catalog_t *cat,
    const uint32_t *leaf, rs_vocab_header_t *h);
static void rs_vocab_builder_free(rs_vocab_builder_t *b);
static int rs_vocab_check_str(const char *strings, uint64_t slen,
    uint32_t off, uint32_t len, int may_be_empty);
static int rs_vocab_check_key(const char *k, uint32_t len, uint32_t nwords);
static int rs_vocab_check(rs_vocab_t *v, char *err, size_t errlen);
static int rs_vocab_tables(rs_vocab_t *v);
static int rs_vocab_open_blob(rs_vocab_t **out, void *blob, size_t len,
    char *err, size_t errlen);


/* U+00C0 .. U+00FF folded to ASCII; 0 keeps the character as it is */
static const char  rs_fold[64] = {
    'a', 'a', 'a', 'a', 'a', 'a',  0,  'c', 'e', 'e', 'e', 'e',
    'i', 'i', 'i', 'i', 'd', 'n', 'o', 'o', 'o', 'o', 'o',  0,
    'o', 'u', 'u', 'u', 'u', 'y',  0,   0,
    'a', 'a', 'a', 'a', 'a', 'a',  0,  'c', 'e', 'e', 'e', 'e',
    'i', 'i', 'i', 'i', 'd', 'n', 'o', 'o', 'o', 'o', 'o',  0,
    'o', 'u', 'u', 'u', 'u', 'y',  0,  'y'
};


/* the C library's versions follow the locale; these never do */

static int
rs_isdigit(int c)
{
    return c >= '0' && c <= '9';
}


static int
rs_isalpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


/*
 * The few non-ASCII characters with a meaning of their own: currency
 * signs, dashes, typographic apostrophes and quotes, and Unicode spaces.
 * Any other non-ASCII byte is part of a word.
 */

static size_t
rs_tok_special(const unsigned char *p, size_t n, int *kind)
{
    if (n >= 2 && p[0] == 0xc2) {

        if (p[1] == 0xa0) {
            *kind = RS_TOK_SPACECHAR;
            return 2;
        }

        if (p[1] == 0xa3) {
            *kind = RS_TOK_CUR;
            return 2;
        }

        return 0;
    }

    if (n < 3 || p[0] != 0xe2 || p[2] < 0x80 || p[2] > 0xbf) {
        return 0;
    }

    if (p[1] == 0x82 && p[2] == 0xac) {
        *kind = RS_TOK_CUR;
        return 3;
    }

    if (p[1] != 0x80) {
        return 0;
    }

    if (p[2] <= 0x8a || p[2] == 0xaf) {
        *kind = RS_TOK_SPACECHAR;

    } else if (p[2] == 0x93 || p[2] == 0x94) {
        *kind = RS_TOK_DASH;

    } else if (p[2] == 0x98 || p[2] == 0x99) {
        *kind = RS_TOK_APOS;

    } else if (p[2] == 0x9c || p[2] == 0x9d) {
        *kind = RS_TOK_BREAK;

    } else {
        return 0;
    }

    return 3;
}


static size_t
rs_tok_wordchar(const unsigned char *p, size_t n)
{
    int  kind;

    if (p[0] < 0x80) {
        return rs_isdigit(p[0]) || rs_isalpha(p[0]);
    }

    return rs_tok_special(p, n, &kind) == 0;
}


static size_t
rs_tok_word_end(const unsigned char *p, size_t len, size_t i)
{
    int     kind;
    size_t  n;

    while (i < len) {

        if (rs_tok_wordchar(p + i, len - i)) {
            i++;
            continue;
        }

        /* an apostrophe between letters stays in the word: "men's" */
        n = 0;

        if (p[i] == '\'') {
            n = 1;

        } else if (rs_tok_special(p + i, len - i, &kind) == 3
                   && kind == RS_TOK_APOS)
        {
            n = 3;
        }

        if (n == 0 || i + n >= len
            || !rs_tok_wordchar(p + i + n, len - i - n))
        {
            break;
        }

        i += n;
    }

    return i;
}


/*
 * A number is only a number when no letter follows it: "32gb", "1080p"
 * and "90's" are words.  Thousands separators come in groups of three, so
 * "1,299" is one number and "1,2" two.
 */

static size_t
rs_tok_number(const unsigned char *p, size_t len, size_t i, double *value,
    uint8_t *flags)
{
    size_t  digits, decimals;
    double  v;

    v = 0;
    digits = 0;
    decimals = 0;

    while (i < len && rs_isdigit(p[i])) {
        v = v * 10 + (p[i] - '0');
        digits++;
        i++;
    }

    if (digits <= 3) {
        while (i + 3 < len && p[i] == ',' && rs_isdigit(p[i + 1])
               && rs_isdigit(p[i + 2]) && rs_isdigit(p[i + 3])
               && (i + 4 == len || !rs_isdigit(p[i + 4])))
        {
            v = v * 1000 + (p[i + 1] - '0') * 100 + (p[i + 2] - '0') * 10
                + (p[i + 3] - '0');
            i += 4;
        }
    }

    if (i + 1 < len && p[i] == '.' && rs_isdigit(p[i + 1])) {
        i++;

        while (i < len && rs_isdigit(p[i])) {
            /* digits past what a double holds exactly change nothing */
            if (decimals < 15) {
                v = v * 10 + (p[i] - '0');
                decimals++;
            }

            i++;
        }

        v /= pow(10, (double) decimals);
    }

    if (i < len && (p[i] == 'k' || p[i] == 'K')
        && rs_tok_word_end(p, len, i + 1) == i + 1)
    {
        *flags |= RS_TOK_KILO;
        i++;
    }

    if (rs_tok_word_end(p, len, i) != i) {
        *flags &= ~RS_TOK_KILO;
        return 0;
    }

    *value = v;

    return i;
}


/*
 * Singular forms, enough for "shoe"/"shoes", "box"/"boxes",
 * "dress"/"dresses", "battery"/"batteries" and "knife"/"knives" to meet;
 * both sides go
 * through it, so the forms only need to agree, not to be English.
 * w has room for one more byte.
 */

static size_t
rs_stem(char *w, size_t n)
{
    char  c;

    if (n > 4 && memcmp(w + n - 4, "sses", 4) == 0) {
        n -= 2;

    } else if (n > 4 && (memcmp(w + n - 3, "xes", 3) == 0
                         || memcmp(w + n - 4, "ches", 4) == 0
                         || memcmp(w + n - 4, "shes", 4) == 0))
    {
        n -= 2;

    } else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's'
               && w[n - 2] != 'u' && w[n - 2] != 'i')
    {
        n--;
    }

    if (n > 2 && w[n - 1] == 'y') {
        c = w[n - 2];

        if (rs_isalpha(c) && c != 'a' && c != 'e' && c != 'i' && c != 'o'
            && c != 'u')
        {
            w[n - 1] = 'i';
            w[n] = 'e';
            n++;
        }

    /* "knife" and "knives" meet at "knive", "shelf" and "shelves" too */
    } else if (n > 3 && memcmp(w + n - 3, "ife", 3) == 0) {
        w[n - 2] = 'v';

    } else if (n > 3 && w[n - 1] == 'f'
               && (w[n - 2] == 'l' || w[n - 2] == 'r' || w[n - 2] == 'a'))
    {
        w[n - 1] = 'v';
        w[n] = 'e';
        n++;
    }

    return n;
}


static int
rs_tok_put(rs_tokens_t *t, rs_token_t *tk, const unsigned char *p)
{
    size_t  i, o, start, n, alen;

    n = tk->end - tk->start;

    /* the stem may grow a byte: "battery" becomes "batterie" */
    if (t->norm_len + 1 + n > t->size || t->stem_len + 2 + n > t->size) {
        return -1;
    }

    o = t->norm_len;

    if (o) {
        t->norm[o++] = ' ';
    }

    start = o;

    for (i = tk->start; i < tk->end; /* void */ ) {

        alen = 0;

        if (p[i] == '\'') {
            alen = 1;

        } else if (p[i] == 0xe2 && i + 2 < tk->end && p[i + 1] == 0x80
                   && (p[i + 2] == 0x98 || p[i + 2] == 0x99))
        {
            alen = 3;
        }

        if (alen) {
            /* a possessive ends the word: "men's" is "men" */
            if (i + alen + 1 == tk->end && (p[i + alen] | 0x20) == 's') {
                break;
            }

            i += alen;
            continue;
        }

        if (p[i] >= 'A' && p[i] <= 'Z') {
            t->norm[o++] = (char) (p[i] | 0x20);
            i++;
            continue;
        }

        if (p[i] == 0xc3 && i + 1 < tk->end && p[i + 1] >= 0x80
            && p[i + 1] <= 0xbf && rs_fold[p[i + 1] - 0x80])
        {
            t->norm[o++] = rs_fold[p[i + 1] - 0x80];
            i += 2;
            continue;
        }

        t->norm[o++] = (char) p[i++];
    }

    tk->norm = (uint32_t) start;
    tk->norm_len = (uint32_t) (o - start);
    t->norm_len = o;

    o = t->stem_len;

    if (o) {
        t->stem[o++] = ' ';
    }

    memcpy(t->stem + o, t->norm + start, tk->norm_len);

    tk->stem = (uint32_t) o;
    tk->stem_len = tk->kind == RS_TOK_WORD
                   ? (uint32_t) rs_stem(t->stem + o, tk->norm_len)
                   : tk->norm_len;
    t->stem_len = o + tk->stem_len;

    return 0;
}


void
rs_tokenize(rs_tokens_t *t, const char *text, size_t len)
{
    int                   kind;
    size_t                i, n, last;
    uint8_t               space;
    rs_token_t           *tk;
    const unsigned char  *p;

    p = (const unsigned char *) text;
    t->n = 0;
    t->norm_len = 0;
    t->stem_len = 0;
    i = 0;
    last = 0;
    space = 0;

    while (i < len) {

        if (p[i] <= 0x20 || p[i] == 0x7f) {
            space = RS_TOK_SPACE;
            i++;
            continue;
        }

        kind = 0;
        n = p[i] >= 0x80 ? rs_tok_special(p + i, len - i, &kind) : 0;

        if (n && kind == RS_TOK_SPACECHAR) {
            space = RS_TOK_SPACE;
            i += n;
            continue;
        }

        if (t->n == t->max) {
            break;
        }

        tk = &t->tok[t->n];
        memset(tk, 0, sizeof(rs_token_t));
        tk->start = i;
        tk->flags = space;

        if (rs_isdigit(p[i])) {
            tk->end = rs_tok_number(p, len, i, &tk->value, &tk->flags);
            tk->kind = RS_TOK_NUM;

            if (tk->end == 0) {
                tk->end = rs_tok_word_end(p, len, i);
                tk->kind = RS_TOK_WORD;
                tk->flags |= RS_TOK_DIGIT;
            }

        } else if (rs_isalpha(p[i]) || (p[i] >= 0x80 && n == 0)) {
            tk->end = rs_tok_word_end(p, len, i);
            tk->kind = RS_TOK_WORD;

        } else if (n) {
            tk->end = i + n;
            tk->kind = kind == RS_TOK_APOS ? RS_TOK_JOIN : (uint8_t) kind;

        } else {
            tk->end = i + 1;

            switch (p[i]) {
            case '$':
                tk->kind = RS_TOK_CUR;
                break;
            case '-':
                tk->kind = RS_TOK_DASH;
                break;
            case '+':
                tk->kind = RS_TOK_PLUS;
                break;
            case '%':
                tk->kind = RS_TOK_PCT;
                break;
            case '<':
                tk->kind = RS_TOK_LT;
                break;
            case '>':
                tk->kind = RS_TOK_GT;
                break;
            case '~':
                tk->kind = RS_TOK_TILDE;
                break;
            case '&': case '/': case '.': case '\'': case '=': case '_':
                tk->kind = RS_TOK_JOIN;
                break;
            default:
                tk->kind = RS_TOK_BREAK;
            }
        }

        if ((tk->kind == RS_TOK_WORD || tk->kind == RS_TOK_NUM)
            && rs_tok_put(t, tk, p) != 0)
        {
            break;
        }

        t->n++;
        i = tk->end;
        last = i;
        space = 0;
    }

    t->done = i < len ? last : len;
}


static int
rs_vocab_buf_add(rs_vocab_buf_t *b, const char *s, size_t len, uint32_t *off)
{
    char    *p;
    size_t   cap;

    if (len + 1 > UINT32_MAX - b->len) {
        return -1;
    }

    if (b->len + len + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }

        p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->cap = cap;
    }

    memcpy(b->data + b->len, s, len);
    b->data[b->len + len] = '\0';
    *off = (uint32_t) b->len;
    b->len += len + 1;

    return 0;
}


/* a brand's words; -1: nothing a query could match, or too long */

static int
rs_vocab_key(rs_vocab_builder_t *b, const char *s, size_t len,
    const char **key, size_t *key_len, uint32_t *nwords)
{
    size_t       i, n, first, last, off, end;
    rs_token_t  *t;

    rs_tokenize(&b->tk, s, len);

    if (b->tk.done != len) {
        return -1;
    }

    n = 0;
    first = 0;
    last = 0;

    for (i = 0; i < b->tk.n; i++) {
        t = &b->tok[i];

        if (t->kind == RS_TOK_WORD || t->kind == RS_TOK_NUM) {
            if (n == 0) {
                first = i;
            }

            last = i;
            n++;
        }
    }

    if (n == 0 || n > RS_VOCAB_MAX_WORDS) {
        return -1;
    }

    off = b->tok[first].norm;
    end = b->tok[last].norm + b->tok[last].norm_len;
    *key = b->norm + off;
    *key_len = end - off;
    *nwords = (uint32_t) n;

    return 0;
}


/* the case-blind identity of a category level under its parent */

static uint64_t
rs_vocab_level_hash(const char *s, size_t len, uint32_t parent)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL ^ ((uint64_t) parent * 0x9e3779b97f4a7c15ULL);

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) (s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20
                                                          : s[i]);
        h *= 0x100000001b3ULL;
    }

    return h;
}


static int
rs_vocab_map_grow(uint32_t **map, size_t *size, size_t count,
    rs_vocab_builder_t *b, int nodes)
{
    size_t                   i, j, n, mask;
    uint32_t                *m;
    uint64_t                 h;
    const rs_vocab_node_t   *nd;
    const rs_vocab_brand_t  *br;

    if ((count + 1) * 2 <= *size) {
        return 0;
    }

    n = *size ? *size * 2 : 1024;

    m = calloc(n, sizeof(uint32_t));
    if (m == NULL) {
        return -1;
    }

    mask = n - 1;

    for (i = 0; i < count; i++) {
        if (nodes) {
            nd = &b->nodes[i];
            h = rs_vocab_level_hash(b->strings.data + nd->path
                                    + b->level_at[i],
                                    nd->path_len - b->level_at[i],
                                    nd->parent);

        } else {
            br = &b->brands[i];
            h = rs_hash64(b->strings.data + br->key, br->key_len, 0);
        }

        for (j = h & mask; m[j]; j = (j + 1) & mask) { /* void */ }

        m[j] = (uint32_t) i + 1;
    }

    free(*map);
    *map = m;
    *size = n;

    return 0;
}


static int
rs_vocab_add_brand(rs_vocab_builder_t *b, const char *name)
{
    void              *p;
    size_t             j, mask, klen;
    uint32_t           s, nwords;
    const char        *key;
    rs_vocab_brand_t  *br;

    if (rs_vocab_key(b, name, strlen(name), &key, &klen, &nwords) != 0) {
        return 0;
    }

    if (rs_vocab_map_grow(&b->brand_map, &b->brand_map_size, b->nbrands, b,
                          0)
        != 0)
    {
        return -1;
    }

    mask = b->brand_map_size - 1;

    for (j = rs_hash64(key, klen, 0) & mask;
         (s = b->brand_map[j]) != 0;
         j = (j + 1) & mask)
    {
        br = &b->brands[s - 1];

        if (br->key_len == klen
            && memcmp(b->strings.data + br->key, key, klen) == 0)
        {
            br->items++;
            return 0;
        }
    }

    if (b->nbrands >= UINT32_MAX / 2) {
        return -1;
    }

    if (b->nbrands == b->brands_cap) {
        b->brands_cap = b->brands_cap ? b->brands_cap * 2 : 256;
        p = realloc(b->brands, b->brands_cap * sizeof(rs_vocab_brand_t));
        if (p == NULL) {
            return -1;
        }

        b->brands = p;
    }

    br = &b->brands[b->nbrands];
    memset(br, 0, sizeof(rs_vocab_brand_t));

    /* the catalogue's spelling, verbatim: the brand filter compares it */
    if (rs_vocab_buf_add(&b->strings, name, strlen(name), &br->name) != 0
        || rs_vocab_buf_add(&b->strings, key, klen, &br->key) != 0)
    {
        return -1;
    }

    br->name_len = (uint32_t) strlen(name);
    br->key_len = (uint32_t) klen;
    br->nwords = nwords;
    br->items = 1;
    b->brand_map[j] = (uint32_t) ++b->nbrands;

    return 0;
}


static int
rs_vocab_add_name(rs_vocab_builder_t *b, const char *key, size_t len,
    uint32_t nwords, uint32_t node)
{
    void             *p;
    rs_vocab_name_t  *nm;

    if (b->nnames >= UINT32_MAX / 2) {
        return -1;
    }

    if (b->nnames == b->names_cap) {
        b->names_cap = b->names_cap ? b->names_cap * 2 : 256;

        p = realloc(b->names, b->names_cap * sizeof(rs_vocab_name_t));
        if (p == NULL) {
            return -1;
        }

        b->names = p;
    }

    nm = &b->names[b->nnames];

    if (rs_vocab_buf_add(&b->strings, key, len, &nm->key) != 0) {
        return -1;
    }

    nm->key_len = (uint32_t) len;
    nm->nwords = nwords;
    nm->node = node;
    b->nnames++;

    return 0;
}


/*
 * A level that joins several things, "Sports & Outdoors", "Bed and Bath",
 * is also named by each of them: shoppers ask for "outdoors".
 */

static int
rs_vocab_add_names(rs_vocab_builder_t *b, const char *s, size_t len,
    uint32_t node)
{
    size_t       i, k, n, nparts, first[RS_VOCAB_MAX_PARTS];
    size_t       last[RS_VOCAB_MAX_PARTS], words[RS_VOCAB_MAX_PARTS];
    size_t       off, end, full_off, full_len;
    rs_token_t  *t;

    rs_tokenize(&b->tk, s, len);

    if (b->tk.done != len) {
        return 0;
    }

    nparts = 0;
    n = 0;

    for (i = 0; i <= b->tk.n; i++) {
        t = i < b->tk.n ? &b->tok[i] : NULL;

        if (t && (t->kind == RS_TOK_WORD || t->kind == RS_TOK_NUM)
            && !(t->norm_len == 3 && memcmp(b->norm + t->norm, "and", 3)
                                     == 0))
        {
            if (n == 0) {
                if (nparts == RS_VOCAB_MAX_PARTS) {
                    return 0;
                }

                first[nparts] = i;
            }

            last[nparts] = i;
            n++;
            continue;
        }

        if (t && t->kind != RS_TOK_BREAK && t->kind != RS_TOK_PLUS
            && !(t->kind == RS_TOK_JOIN
                 && (s[t->start] == '&' || s[t->start] == '/'))
            && t->kind != RS_TOK_WORD)
        {
            continue;
        }

        if (n) {
            words[nparts++] = n;
            n = 0;
        }
    }

    if (nparts == 0) {
        return 0;
    }

    /* the whole name, "and" and all: the words are one run in stem */
    n = 0;
    full_off = 0;
    end = 0;

    for (i = 0; i < b->tk.n; i++) {
        t = &b->tok[i];

        if (t->kind == RS_TOK_WORD || t->kind == RS_TOK_NUM) {
            if (n++ == 0) {
                full_off = t->stem;
            }

            end = t->stem + t->stem_len;
        }
    }

    full_len = end - full_off;

    if (n <= RS_VOCAB_MAX_WORDS
        && rs_vocab_add_name(b, b->stem + full_off, full_len, (uint32_t) n,
                             node)
           != 0)
    {
        return -1;
    }

    if (nparts == 1) {
        return 0;
    }

    for (i = 0; i < nparts; i++) {
        off = b->tok[first[i]].stem;
        end = b->tok[last[i]].stem + b->tok[last[i]].stem_len;

        if (words[i] > RS_VOCAB_MAX_WORDS
            || (end - off == full_len
                && memcmp(b->stem + off, b->stem + full_off, full_len) == 0))
        {
            continue;
        }

        /* "Tea & Tea" */
        for (k = 0; k < i; k++) {
            if (b->tok[last[k]].stem + b->tok[last[k]].stem_len
                - b->tok[first[k]].stem == end - off
                && memcmp(b->stem + b->tok[first[k]].stem, b->stem + off,
                          end - off) == 0)
            {
                break;
            }
        }

        if (k == i
            && rs_vocab_add_name(b, b->stem + off, end - off,
                                 (uint32_t) words[i], node)
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
rs_vocab_add_node(rs_vocab_builder_t *b, const char *cat, size_t ls,
    size_t le, uint32_t parent, uint32_t *node)
{
    void             *p;
    size_t            j, mask;
    uint32_t          s;
    rs_vocab_node_t  *nd;

    if (rs_vocab_map_grow(&b->node_map, &b->node_map_size, b->nnodes, b, 1)
        != 0)
    {
        return -1;
    }

    mask = b->node_map_size - 1;

    for (j = rs_vocab_level_hash(cat + ls, le - ls, parent) & mask;
         (s = b->node_map[j]) != 0;
         j = (j + 1) & mask)
    {
        nd = &b->nodes[s - 1];

        if (nd->parent == parent
            && nd->path_len - b->level_at[s - 1] == le - ls
            && strncasecmp(b->strings.data + nd->path + b->level_at[s - 1],
                           cat + ls, le - ls)
               == 0)
        {
            *node = s;
            return 0;
        }
    }

    if (b->nnodes >= UINT32_MAX / 2) {
        return -1;
    }

    if (b->nnodes == b->nodes_cap) {
        b->nodes_cap = b->nodes_cap ? b->nodes_cap * 2 : 256;

        p = realloc(b->nodes, b->nodes_cap * sizeof(rs_vocab_node_t));
        if (p == NULL) {
            return -1;
        }

        b->nodes = p;

        p = realloc(b->level_at, b->nodes_cap * sizeof(uint32_t));
        if (p == NULL) {
            return -1;
        }

        b->level_at = p;
    }

    nd = &b->nodes[b->nnodes];
    memset(nd, 0, sizeof(rs_vocab_node_t));

    /*
     * The path is the product's own prefix, so the engine's prefix filter
     * matches it byte for byte (case aside).
     */
    if (rs_vocab_buf_add(&b->strings, cat, le, &nd->path) != 0) {
        return -1;
    }

    nd->path_len = (uint32_t) le;
    nd->parent = parent;
    nd->depth = parent ? b->nodes[parent - 1].depth + 1 : 1;
    b->level_at[b->nnodes] = (uint32_t) ls;

    if (rs_vocab_add_names(b, cat + ls, le - ls, (uint32_t) b->nnodes) != 0)
    {
        return -1;
    }

    b->node_map[j] = (uint32_t) ++b->nnodes;
    *node = (uint32_t) b->nnodes;

    return 0;
}


static int
rs_vocab_add_path(rs_vocab_builder_t *b, const char *cat, uint32_t *leaf)
{
    size_t    i, len, ls, le, depth;
    uint32_t  parent;

    len = strlen(cat);
    parent = 0;
    depth = 0;
    i = 0;

    while (i < len && depth < RS_VOCAB_MAX_DEPTH) {

        while (i < len && (cat[i] == ' ' || cat[i] == '\t')) {
            i++;
        }

        ls = i;

        while (i < len && cat[i] != '>') {
            i++;
        }

        le = i;

        while (le > ls && (cat[le - 1] == ' ' || cat[le - 1] == '\t')) {
            le--;
        }

        /* "A >  > B": the path ends where a level is missing */
        if (le == ls) {
            break;
        }

        if (rs_vocab_add_node(b, cat, ls, le, parent, &parent) != 0) {
            return -1;
        }

        depth++;

        if (i < len) {
            i++;
        }
    }

    *leaf = parent;

    return 0;
}


static int
rs_vocab_cmp_double(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return x < y ? -1 : (x > y);
}


static int
rs_vocab_cmp_order(const void *a, const void *b)
{
    const rs_vocab_order_t  *x, *y;

    x = a;
    y = b;

    if (x->items != y->items) {
        return x->items > y->items ? -1 : 1;
    }

    return x->index < y->index ? -1 : (x->index > y->index);
}


/* linear interpolation between the closest ranks, rounded to cents */

static double
rs_vocab_percentile(const double *a, size_t n, double p)
{
    size_t  lo, hi;
    double  pos, v;

    if (n == 0) {
        return 0;
    }

    pos = p * (double) (n - 1);
    lo = (size_t) pos;
    hi = lo + 1 < n ? lo + 1 : lo;
    v = a[lo] + (a[hi] - a[lo]) * (pos - (double) lo);

    return round(v * 100) / 100;
}


static int
rs_vocab_prices(rs_vocab_builder_t *b, const rs_catalog_t *cat,
    const uint32_t *leaf, rs_vocab_header_t *h)
{
    size_t              i, total, nall;
    double             *prices, *all;
    size_t             *off, *fill;
    uint32_t            k;
    rs_vocab_node_t    *nd;
    const rs_product_t *p;

    total = 0;
    nall = 0;

    for (i = 0; i < cat->nitems; i++) {
        p = &cat->items[i];

        if (p->flags & RS_HAS_PRICE) {
            nall++;
        }

        for (k = leaf[i]; k; k = b->nodes[k - 1].parent) {
            nd = &b->nodes[k - 1];
            nd->items++;

            if (p->flags & RS_HAS_PRICE) {
                nd->nprices++;
                total++;
            }
        }
    }

    prices = malloc((total ? total : 1) * sizeof(double));
    all = malloc((nall ? nall : 1) * sizeof(double));
    off = malloc((b->nnodes + 1) * sizeof(size_t));
    fill = malloc((b->nnodes + 1) * sizeof(size_t));

    if (prices == NULL || all == NULL || off == NULL || fill == NULL) {
        free(prices);
        free(all);
        free(off);
        free(fill);
        return -1;
    }

    off[0] = 0;

    for (i = 0; i < b->nnodes; i++) {
        off[i + 1] = off[i] + b->nodes[i].nprices;
        fill[i] = off[i];
    }

    nall = 0;

    for (i = 0; i < cat->nitems; i++) {
        p = &cat->items[i];

        if (!(p->flags & RS_HAS_PRICE)) {
            continue;
        }

        all[nall++] = p->price;

        for (k = leaf[i]; k; k = b->nodes[k - 1].parent) {
            prices[fill[k - 1]++] = p->price;
        }
    }

    for (i = 0; i < b->nnodes; i++) {
        nd = &b->nodes[i];
        qsort(prices + off[i], nd->nprices, sizeof(double),
              rs_vocab_cmp_double);
        nd->p33 = rs_vocab_percentile(prices + off[i], nd->nprices, 0.33);
        nd->p67 = rs_vocab_percentile(prices + off[i], nd->nprices, 0.67);
    }

    qsort(all, nall, sizeof(double), rs_vocab_cmp_double);
    h->nprices = nall;
    h->p33 = rs_vocab_percentile(all, nall, 0.33);
    h->p67 = rs_vocab_percentile(all, nall, 0.67);

    free(prices);
    free(all);
    free(off);
    free(fill);

    return 0;
}


static void
rs_vocab_builder_free(rs_vocab_builder_t *b)
{
    free(b->strings.data);
    free(b->brands);
    free(b->nodes);
    free(b->level_at);
    free(b->names);
    free(b->brand_map);
    free(b->node_map);
    free(b);
}


int
rs_vocab_build(rs_vocab_t **out, const rs_catalog_t *cat, char *err,
    size_t errlen)
{
    char                *blob;
    size_t               i, len;
    uint32_t            *leaf, off;
    rs_vocab_header_t    h;
    rs_vocab_builder_t  *b;
    const rs_product_t  *p;

    *out = NULL;
    leaf = NULL;
    blob = NULL;

    b = calloc(1, sizeof(rs_vocab_builder_t));
    if (b == NULL) {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    b->tk.tok = b->tok;
    b->tk.max = RS_VOCAB_NAME_TOKENS;
    b->tk.norm = b->norm;
    b->tk.stem = b->stem;
    b->tk.size = RS_VOCAB_NAME_MAX;

    /* offset 0 is the empty string */
    leaf = malloc((cat->nitems ? cat->nitems : 1) * sizeof(uint32_t));

    if (leaf == NULL || rs_vocab_buf_add(&b->strings, "", 0, &off) != 0) {
        goto oom;
    }

    for (i = 0; i < cat->nitems; i++) {
        p = &cat->items[i];
        leaf[i] = 0;

        if (p->brand != NULL && p->brand[0] != '\0'
            && rs_vocab_add_brand(b, p->brand) != 0)
        {
            goto oom;
        }

        if (p->category != NULL && p->category[0] != '\0'
            && rs_vocab_add_path(b, p->category, &leaf[i]) != 0)
        {
            goto oom;
        }
    }

    memset(&h, 0, sizeof(rs_vocab_header_t));

    if (rs_vocab_prices(b, cat, leaf, &h) != 0) {
        goto oom;
    }

    memcpy(h.magic, RS_VOCAB_MAGIC, 8);
    h.version = RS_VOCAB_VERSION;
    h.nbrands = (uint32_t) b->nbrands;
    h.nnodes = (uint32_t) b->nnodes;
    h.nnames = (uint32_t) b->nnames;
    h.strings_len = b->strings.len;

    len = sizeof(rs_vocab_header_t)
          + b->nbrands * sizeof(rs_vocab_brand_t)
          + b->nnodes * sizeof(rs_vocab_node_t)
          + b->nnames * sizeof(rs_vocab_name_t) + b->strings.len;

    blob = malloc(len);
    if (blob == NULL) {
        goto oom;
    }

    i = sizeof(rs_vocab_header_t);

    if (b->nbrands) {
        memcpy(blob + i, b->brands, b->nbrands * sizeof(rs_vocab_brand_t));
        i += b->nbrands * sizeof(rs_vocab_brand_t);
    }

    if (b->nnodes) {
        memcpy(blob + i, b->nodes, b->nnodes * sizeof(rs_vocab_node_t));
        i += b->nnodes * sizeof(rs_vocab_node_t);
    }

    if (b->nnames) {
        memcpy(blob + i, b->names, b->nnames * sizeof(rs_vocab_name_t));
        i += b->nnames * sizeof(rs_vocab_name_t);
    }

    memcpy(blob + i, b->strings.data, b->strings.len);

    h.checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                           len - sizeof(rs_vocab_header_t), 0);
    memcpy(blob, &h, sizeof(rs_vocab_header_t));

    free(leaf);
    rs_vocab_builder_free(b);

    /* the same checks and tables as a loaded file: one code path */
    return rs_vocab_open_blob(out, blob, len, err, errlen);

oom:

    rs_errf(err, errlen, "out of memory");
    free(leaf);
    free(blob);
    rs_vocab_builder_free(b);

    return -1;
}


int
rs_vocab_write(const rs_vocab_t *v, const char *path, char *err,
    size_t errlen)
{
    FILE  *f;

    f = fopen(path, "wb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot create \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    if (fwrite(v->blob, 1, v->blob_len, f) != v->blob_len) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", path,
                strerror(errno));
        fclose(f);
        return -1;
    }

    if (fclose(f) != 0) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    return 0;
}


static int
rs_vocab_check_str(const char *strings, uint64_t slen, uint32_t off,
    uint32_t len, int may_be_empty)
{
    if (off >= slen || len >= slen - off || strings[off + len] != '\0'
        || memchr(strings + off, '\0', len) != NULL
        || (len == 0 && !may_be_empty)
        || !rs_utf8_valid((const unsigned char *) strings + off, len))
    {
        return -1;
    }

    return 0;
}


/* words one space apart, as the tokenizer lays them out */

static int
rs_vocab_check_key(const char *k, uint32_t len, uint32_t nwords)
{
    uint32_t  i, n;

    if (len == 0) {
        return nwords == 0 ? 0 : -1;
    }

    if (nwords == 0 || nwords > RS_VOCAB_MAX_WORDS || k[0] == ' '
        || k[len - 1] == ' ')
    {
        return -1;
    }

    n = 1;

    for (i = 1; i < len; i++) {
        if (k[i] == ' ') {
            if (k[i - 1] == ' ') {
                return -1;
            }

            n++;
        }
    }

    return n == nwords ? 0 : -1;
}


/*
 * Everything a worker reads later is checked here once, so a truncated
 * or tampered file fails at load time instead of in a request.
 */

static int
rs_vocab_check(rs_vocab_t *v, char *err, size_t errlen)
{
    size_t                    i, size;
    uint64_t                  need;
    const char               *s;
    const rs_vocab_node_t    *nd, *up;
    const rs_vocab_name_t    *nm;
    const rs_vocab_brand_t   *br;
    const rs_vocab_header_t  *h;

    h = v->blob;
    size = v->blob_len;

    if (size < sizeof(rs_vocab_header_t)
        || memcmp(h->magic, RS_VOCAB_MAGIC, 8) != 0)
    {
        rs_errf(err, errlen, "not a vocabulary file");
        return -1;
    }

    if (h->version != RS_VOCAB_VERSION) {
        rs_errf(err, errlen, "vocabulary version %u, expected %u",
                h->version, RS_VOCAB_VERSION);
        return -1;
    }

    need = sizeof(rs_vocab_header_t)
           + (uint64_t) h->nbrands * sizeof(rs_vocab_brand_t)
           + (uint64_t) h->nnodes * sizeof(rs_vocab_node_t)
           + (uint64_t) h->nnames * sizeof(rs_vocab_name_t);

    if (h->strings_len == 0 || h->strings_len > UINT32_MAX
        || need + h->strings_len != size)
    {
        rs_errf(err, errlen, "vocabulary is truncated or corrupt");
        return -1;
    }

    if (rs_hash64((const char *) v->blob + sizeof(rs_vocab_header_t),
                  size - sizeof(rs_vocab_header_t), 0)
        != h->checksum)
    {
        rs_errf(err, errlen, "vocabulary checksum mismatch");
        return -1;
    }

    v->header = h;
    v->nbrands = h->nbrands;
    v->nnodes = h->nnodes;
    v->nnames = h->nnames;
    v->brands = (const rs_vocab_brand_t *)
                    ((const char *) v->blob + sizeof(rs_vocab_header_t));
    v->nodes = (const rs_vocab_node_t *) (v->brands + h->nbrands);
    v->names = (const rs_vocab_name_t *) (v->nodes + h->nnodes);
    v->strings = (const char *) (v->names + h->nnames);
    s = v->strings;

    if (s[0] != '\0' || s[h->strings_len - 1] != '\0'
        || !isfinite(h->p33) || !isfinite(h->p67) || h->p33 > h->p67)
    {
        rs_errf(err, errlen, "vocabulary header is corrupt");
        return -1;
    }

    for (i = 0; i < v->nbrands; i++) {
        br = &v->brands[i];

        if (rs_vocab_check_str(s, h->strings_len, br->name, br->name_len, 0)
            || rs_vocab_check_str(s, h->strings_len, br->key, br->key_len,
                                  0)
            || rs_vocab_check_key(s + br->key, br->key_len, br->nwords))
        {
            rs_errf(err, errlen, "vocabulary brand %zu is corrupt", i);
            return -1;
        }
    }

    for (i = 0; i < v->nnodes; i++) {
        nd = &v->nodes[i];
        up = nd->parent ? &v->nodes[nd->parent - 1] : NULL;

        /* parents come first, so walking up always ends */
        if (rs_vocab_check_str(s, h->strings_len, nd->path, nd->path_len, 0)
            || nd->parent > i
            || nd->depth != (up ? up->depth + 1 : 1)
            || nd->depth > RS_VOCAB_MAX_DEPTH
            || nd->nprices > nd->items
            || !isfinite(nd->p33) || !isfinite(nd->p67) || nd->p33 > nd->p67)
        {
            rs_errf(err, errlen, "vocabulary category %zu is corrupt", i);
            return -1;
        }
    }

    for (i = 0; i < v->nnames; i++) {
        nm = &v->names[i];

        if (rs_vocab_check_str(s, h->strings_len, nm->key, nm->key_len, 0)
            || rs_vocab_check_key(s + nm->key, nm->key_len, nm->nwords)
            || nm->node >= v->nnodes)
        {
            rs_errf(err, errlen, "vocabulary category name %zu is corrupt",
                    i);
            return -1;
        }
    }

    return 0;
}


/*
 * The hash tables are rebuilt here rather than stored: nothing in the
 * file can then make a probe loop forever.
 */

static int
rs_vocab_tables(rs_vocab_t *v)
{
    size_t                   i, j, n;
    uint32_t                 s, x, *tail;
    rs_vocab_order_t        *order;
    const rs_vocab_name_t   *nm;
    const rs_vocab_brand_t  *br;

    for (n = 16; n < (size_t) v->nbrands * 2; n *= 2) { /* void */ }

    v->brand_slots = calloc(n, sizeof(uint32_t));
    if (v->brand_slots == NULL) {
        return -1;
    }

    v->brand_mask = (uint32_t) (n - 1);

    for (i = 0; i < v->nbrands; i++) {
        br = &v->brands[i];

        /* a duplicate key in a crafted file: the first one wins */
        if (rs_vocab_brand(v, v->strings + br->key, br->key_len) != 0) {
            continue;
        }

        j = rs_hash64(v->strings + br->key, br->key_len, 0) & v->brand_mask;

        while (v->brand_slots[j]) {
            j = (j + 1) & v->brand_mask;
        }

        v->brand_slots[j] = (uint32_t) i + 1;

        if (br->nwords > v->max_brand_words) {
            v->max_brand_words = br->nwords;
        }
    }

    for (n = 16; n < (size_t) v->nnames * 2; n *= 2) { /* void */ }

    v->level_slots = calloc(n, sizeof(uint32_t));
    v->level_next = calloc(v->nnames + 1, sizeof(uint32_t));
    tail = calloc(v->nnames + 1, sizeof(uint32_t));
    order = malloc((v->nnames + 1) * sizeof(rs_vocab_order_t));

    if (v->level_slots == NULL || v->level_next == NULL || tail == NULL
        || order == NULL)
    {
        free(tail);
        free(order);
        return -1;
    }

    v->level_mask = (uint32_t) (n - 1);

    for (i = 0; i < v->nnames; i++) {
        order[i].items = v->nodes[v->names[i].node].items;
        order[i].index = (uint32_t) i;
    }

    /* chains run from the most stocked reading of a name to the least */
    qsort(order, v->nnames, sizeof(rs_vocab_order_t), rs_vocab_cmp_order);

    for (i = 0; i < v->nnames; i++) {
        x = order[i].index;
        nm = &v->names[x];
        s = rs_vocab_level(v, v->strings + nm->key, nm->key_len);

        if (s) {
            v->level_next[tail[s - 1] - 1] = x + 1;
            tail[s - 1] = x + 1;
            continue;
        }

        j = rs_hash64(v->strings + nm->key, nm->key_len, 0) & v->level_mask;

        while (v->level_slots[j]) {
            j = (j + 1) & v->level_mask;
        }

        v->level_slots[j] = x + 1;
        tail[x] = x + 1;

        if (nm->nwords > v->max_level_words) {
            v->max_level_words = nm->nwords;
        }
    }

    free(tail);
    free(order);

    return 0;
}


/* takes blob over, freed on failure too */

static int
rs_vocab_open_blob(rs_vocab_t **out, void *blob, size_t len, char *err,
    size_t errlen)
{
    rs_vocab_t  *v;

    v = calloc(1, sizeof(rs_vocab_t));
    if (v == NULL) {
        free(blob);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    v->blob = blob;
    v->blob_len = len;

    if (rs_vocab_check(v, err, errlen) != 0) {
        rs_vocab_free(v);
        return -1;
    }

    if (rs_vocab_tables(v) != 0) {
        rs_errf(err, errlen, "out of memory");
        rs_vocab_free(v);
        return -1;
    }

    *out = v;

    return 0;
}


int
rs_vocab_load(rs_vocab_t **out, const char *path, char *err, size_t errlen)
{
    FILE         *f;
    char          msg[256];
    void         *blob;
    size_t        len;
    struct stat   sb;

    *out = NULL;

    f = fopen(path, "rb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fileno(f), &sb) != 0) {
        rs_errf(err, errlen, "cannot stat \"%s\": %s", path, strerror(errno));
        fclose(f);
        return -1;
    }

    if (sb.st_size < (off_t) sizeof(rs_vocab_header_t)
        || (uint64_t) sb.st_size > RS_VOCAB_MAX_FILE)
    {
        rs_errf(err, errlen, "\"%s\" is not a vocabulary file", path);
        fclose(f);
        return -1;
    }

    len = (size_t) sb.st_size;

    blob = malloc(len);
    if (blob == NULL) {
        rs_errf(err, errlen, "out of memory");
        fclose(f);
        return -1;
    }

    if (fread(blob, 1, len, f) != len) {
        rs_errf(err, errlen, "cannot read \"%s\": %s", path,
                ferror(f) ? strerror(errno) : "file shrank");
        free(blob);
        fclose(f);
        return -1;
    }

    fclose(f);

    if (rs_vocab_open_blob(out, blob, len, msg, sizeof(msg)) != 0) {
        rs_errf(err, errlen, "\"%s\": %s", path, msg);
        return -1;
    }

    return 0;
}


void
rs_vocab_free(rs_vocab_t *v)
{
    if (v == NULL) {
        return;
    }

    free(v->blob);
    free(v->brand_slots);
    free(v->level_slots);
    free(v->level_next);
    free(v);
}


uint32_t
rs_vocab_brand(const rs_vocab_t *v, const char *key, size_t len)
{
    size_t                   i;
    uint32_t                 s;
    const rs_vocab_brand_t  *br;

    i = rs_hash64(key, len, 0) & v->brand_mask;

    while ((s = v->brand_slots[i]) != 0) {
        br = &v->brands[s - 1];

        if (br->key_len == len
            && memcmp(v->strings + br->key, key, len) == 0)
        {
            return s;
        }

        i = (i + 1) & v->brand_mask;
    }

    return 0;
}


uint32_t
rs_vocab_level(const rs_vocab_t *v, const char *key, size_t len)
{
    size_t                  i;
    uint32_t                s;
    const rs_vocab_name_t  *nm;

    i = rs_hash64(key, len, 0) & v->level_mask;

    while ((s = v->level_slots[i]) != 0) {
        nm = &v->names[s - 1];

        if (nm->key_len == len
            && memcmp(v->strings + nm->key, key, len) == 0)
        {
            return s;
        }

        i = (i + 1) & v->level_mask;
    }

    return 0;
}
