/*
 * Copyright (C) ngx_recsys authors
 *
 * Four passes over one tokenization, each on what the earlier ones left:
 *
 *   1. price phrases, which always hold a number, so "under armour" and
 *      "over ear" can never be prices;
 *   2. exclusions ("without X"), then brands and category levels from the
 *      vocabulary, longest name first;
 *   3. "cheap"/"premium" words, after the category they are relative to;
 *   4. the text to embed: whatever no pass took out.
 */


#include <math.h>
#include <string.h>

#include <jansson.h>

#include "rs_understand.h"
#include "rs_util.h"


#define RS_UQ_MAX_TOKENS    128
#define RS_UQ_MAX_NORM      2048
#define RS_UQ_MAX_MENTIONS  4
#define RS_UQ_MAX_CHAIN     8       /* readings of one level name tried */
#define RS_UQ_MAX_PRICE     1e9

/* what became of a token */
#define RS_UQ_FREE          0       /* plain text */
#define RS_UQ_DROP          1       /* understood and taken out */
#define RS_UQ_KEEP          2       /* understood, left for the embedding */
#define RS_UQ_BRAND         3       /* out, unless brands disagree */

#define RS_CUE_MAX          1
#define RS_CUE_MIN          2
#define RS_CUE_APPROX       3
#define RS_CUE_RANGE        4
#define RS_CUE_FROM         5
#define RS_CUE_CHEAP        6
#define RS_CUE_PREMIUM      7


typedef struct {
    const char  *phrase;            /* normalised words, one space apart */
    int          kind;
} rs_uq_cue_t;


typedef struct {
    double    value;
    size_t    end;                  /* the token after the amount */
    int       currency;
} rs_uq_amount_t;


typedef struct {
    uint32_t  brand;                /* brand + 1 */
    uint32_t  level;                /* first name + 1 of the chain */
    size_t    brand_end;
    size_t    level_end;
    size_t    brand_words;
    size_t    level_words;
} rs_uq_name_t;


typedef struct {
    const rs_vocab_t  *vocab;
    const char        *text;
    rs_understood_t   *out;
    size_t             n;
    uint32_t           brand;       /* brand + 1 */
    unsigned           brands;      /* distinct brands named */
    uint32_t           node;        /* the category, node + 1 */
    size_t             ncats;
    uint32_t           cats[RS_UQ_MAX_MENTIONS];
    unsigned           cheap:1;
    unsigned           premium:1;
    rs_tokens_t        tk;
    uint8_t            state[RS_UQ_MAX_TOKENS];
    rs_token_t         tok[RS_UQ_MAX_TOKENS];
    char               norm[RS_UQ_MAX_NORM];
    char               stem[RS_UQ_MAX_NORM];
} rs_uq_t;


static int rs_uq_is_word(const rs_uq_t *u, size_t i);
static int rs_uq_eq(const rs_uq_t *u, size_t i, const char *s, size_t len);
static int rs_uq_in(const rs_uq_t *u, size_t i, const char *const *list);
static int rs_uq_in_cues(const rs_uq_t *u, size_t i,
    const rs_uq_cue_t *cues);
static int rs_uq_reserved(const rs_uq_t *u, size_t i);
static size_t rs_uq_phrase(const rs_uq_t *u, size_t i, const char *phrase);
static size_t rs_uq_cue(const rs_uq_t *u, size_t i, const rs_uq_cue_t *cues,
    int *kind);
static int rs_uq_amount(const rs_uq_t *u, size_t i, rs_uq_amount_t *a);
static int rs_uq_connector(const rs_uq_t *u, size_t i, int and);
static int rs_uq_unit_after(const rs_uq_t *u, size_t i);
static int rs_uq_veto(const rs_uq_t *u, size_t i, double value);
static void rs_uq_set(rs_uq_t *u, int kind, double a, double b);
static void rs_uq_mark(rs_uq_t *u, size_t from, size_t to, uint8_t state);
static size_t rs_uq_prefix(rs_uq_t *u, size_t i);
static size_t rs_uq_bare(rs_uq_t *u, size_t i);
static void rs_uq_prices(rs_uq_t *u);
static void rs_uq_name(const rs_uq_t *u, size_t i, rs_uq_name_t *m);
static size_t rs_uq_negation(rs_uq_t *u, size_t i);
static void rs_uq_names(rs_uq_t *u);
static void rs_uq_category(rs_uq_t *u);
static void rs_uq_hints(rs_uq_t *u);
static void rs_uq_output(rs_uq_t *u, char *buf, size_t len);
static json_t *rs_uq_json_number(double v);
static int rs_uq_json_string(json_t *o, const char *key, const char *s,
    size_t len);
static int rs_uq_json_list(json_t *o, const char *key,
    const char *const *s, const size_t *len, unsigned n);


/* longer phrases first where one starts another */
static const rs_uq_cue_t  rs_uq_prefix_cues[] = {
    { "no more than", RS_CUE_MAX },
    { "not more than", RS_CUE_MAX },
    { "no higher than", RS_CUE_MAX },
    { "not over", RS_CUE_MAX },
    { "less than", RS_CUE_MAX },
    { "lower than", RS_CUE_MAX },
    { "cheaper than", RS_CUE_MAX },
    { "up to", RS_CUE_MAX },
    { "upto", RS_CUE_MAX },
    { "at most", RS_CUE_MAX },
    { "under", RS_CUE_MAX },
    { "below", RS_CUE_MAX },
    { "max", RS_CUE_MAX },
    { "maximum", RS_CUE_MAX },
    { "budget of", RS_CUE_MAX },
    { "budget", RS_CUE_MAX },
    { "no less than", RS_CUE_MIN },
    { "not less than", RS_CUE_MIN },
    { "more than", RS_CUE_MIN },
    { "greater than", RS_CUE_MIN },
    { "higher than", RS_CUE_MIN },
    { "pricier than", RS_CUE_MIN },
    { "at least", RS_CUE_MIN },
    { "starting at", RS_CUE_MIN },
    { "starting from", RS_CUE_MIN },
    { "starts at", RS_CUE_MIN },
    { "over", RS_CUE_MIN },
    { "above", RS_CUE_MIN },
    { "min", RS_CUE_MIN },
    { "minimum", RS_CUE_MIN },
    { "around", RS_CUE_APPROX },
    { "about", RS_CUE_APPROX },
    { "approximately", RS_CUE_APPROX },
    { "approx", RS_CUE_APPROX },
    { "roughly", RS_CUE_APPROX },
    { "close to", RS_CUE_APPROX },
    { "between", RS_CUE_RANGE },
    { "from", RS_CUE_FROM },
    { NULL, 0 }
};


static const rs_uq_cue_t  rs_uq_postfix_cues[] = {
    { "or more", RS_CUE_MIN },
    { "or higher", RS_CUE_MIN },
    { "or above", RS_CUE_MIN },
    { "or over", RS_CUE_MIN },
    { "and up", RS_CUE_MIN },
    { "and above", RS_CUE_MIN },
    { "and over", RS_CUE_MIN },
    { "and higher", RS_CUE_MIN },
    { "or less", RS_CUE_MAX },
    { "or lower", RS_CUE_MAX },
    { "or under", RS_CUE_MAX },
    { "or below", RS_CUE_MAX },
    { "or cheaper", RS_CUE_MAX },
    { "and under", RS_CUE_MAX },
    { "and below", RS_CUE_MAX },
    { "and less", RS_CUE_MAX },
    { "at the most", RS_CUE_MAX },
    { "at most", RS_CUE_MAX },
    { "max", RS_CUE_MAX },
    { "maximum", RS_CUE_MAX },
    { "tops", RS_CUE_MAX },
    { "or so", RS_CUE_APPROX },
    { "ish", RS_CUE_APPROX },
    { NULL, 0 }
};


static const rs_uq_cue_t  rs_uq_hint_cues[] = {
    { "budget friendly", RS_CUE_CHEAP },
    { "low cost", RS_CUE_CHEAP },
    { "low priced", RS_CUE_CHEAP },
    { "low price", RS_CUE_CHEAP },
    { "cheap", RS_CUE_CHEAP },
    { "cheaper", RS_CUE_CHEAP },
    { "cheapest", RS_CUE_CHEAP },
    { "budget", RS_CUE_CHEAP },
    { "affordable", RS_CUE_CHEAP },
    { "inexpensive", RS_CUE_CHEAP },
    { "bargain", RS_CUE_CHEAP },
    { "high end", RS_CUE_PREMIUM },
    { "top end", RS_CUE_PREMIUM },
    { "top of the line", RS_CUE_PREMIUM },
    { "premium", RS_CUE_PREMIUM },
    { "luxury", RS_CUE_PREMIUM },
    { "luxurious", RS_CUE_PREMIUM },
    { "expensive", RS_CUE_PREMIUM },
    { "upscale", RS_CUE_PREMIUM },
    { NULL, 0 }
};


/* "pound" alone is more often a weight: "20 pound dumbbells" */
static const char *const  rs_uq_currencies[] = {
    "dollars", "dollar", "usd", "bucks", "buck", "euros", "euro", "eur",
    "pounds", "gbp", "quid", NULL
};


/* after a number, these make it a quantity, not a price */
static const char *const  rs_uq_units[] = {
    "pack", "packs", "pk", "pc", "pcs", "piece", "pieces", "count", "ct",
    "set", "sets", "pair", "pairs", "inch", "inches", "ft", "feet", "foot",
    "cm", "mm", "m", "meter", "meters", "metre", "metres", "yard", "yards",
    "oz", "ounce", "ounces", "lb", "lbs", "pound", "kg", "g", "gram",
    "grams", "mg", "l", "liter", "liters", "litre", "litres", "ml",
    "gallon", "gallons", "qt", "quart", "quarts", "cup", "cups", "gb", "tb",
    "mb", "kb", "ghz", "mhz", "hz", "mp", "w", "watt", "watts", "kw", "v",
    "volt", "volts", "mah", "amp", "amps", "star", "stars", "year", "years",
    "yr", "yrs", "month", "months", "week", "weeks", "day", "days", "hour",
    "hours", "hr", "hrs", "min", "mins", "minute", "minutes", "sec",
    "second", "seconds", "person", "people", "player", "players", "seat",
    "seats", "seater", "x", "times", "percent", "degree", "degrees", "rpm",
    "fps", "mph", "psi", "lumens", "lm", "btu", "gauge", "ply", "page",
    "pages", "sheet", "sheets", "serving", "servings", "capsules",
    "tablets", "series", "gen", "generation", "edition", "k", "p", "s",
    NULL
};


/* before a number, these make it a model, size or age, not a price */
static const char *const  rs_uq_veto_words[] = {
    "size", "sizes", "model", "models", "version", "ver", "v", "gen",
    "generation", "series", "mark", "mk", "no", "number", "num", "level",
    "grade", "season", "vol", "volume", "part",
    "chapter", "episode", "iphone", "galaxy", "pixel", "windows", "ios",
    "android", "ps", "xbox", "usb", "hdmi", "pcie", "bluetooth", "wifi",
    "class", "type", "rated", NULL
};


/* before a number that could be an age: "kids under 5", not "under 30" */
static const char *const  rs_uq_age_words[] = {
    "kids", "kid", "children", "child", "toddler", "toddlers", "baby",
    "babies", "boys", "girls", "teens", "teen", "age", "ages", "aged", NULL
};


/* before a price phrase, these leave with it: "shoes for under $30" */
static const char *const  rs_uq_leadins[] = {
    "for", "at", "priced", "costing", "costs", "cost", "price", NULL
};


static const char *const  rs_uq_negations[] = {
    "without", "no", "not", "except", "excluding", "exclude", NULL
};


static const char *const  rs_uq_stop[] = {
    "a", "an", "the", "and", "or", "for", "with", "of", "in", "on", "at",
    "to", "by", "from", "my", "me", "i", "is", "are", "it", "its", "this",
    "that", "these", "those", "some", "any", "all", "other", "others",
    "more", "most", "less", "very", "too", "so", "just", "really", "new",
    "best", "good", "great", "nice", "please", "show", "find", "get", "buy",
    "want", "need", "looking", "look", "like", "something", "thing",
    "things", "stuff", "one", "ones", "item", "items", "sale", "deal",
    "deals", "be", "as", "but", "if", "than", "then", "there", "what",
    "which", "who", "you", "your", "we", "our", "us", "can", "do", "does",
    "sure", "much", "many", "way", "up", "out", "off", "into", "over",
    "under", "about", "above", "below", "between", "s", NULL
};


static int
rs_uq_is_word(const rs_uq_t *u, size_t i)
{
    return i < u->n
           && (u->tok[i].kind == RS_TOK_WORD || u->tok[i].kind == RS_TOK_NUM);
}


static int
rs_uq_eq(const rs_uq_t *u, size_t i, const char *s, size_t len)
{
    const rs_token_t  *t;

    if (!rs_uq_is_word(u, i)) {
        return 0;
    }

    t = &u->tok[i];

    return t->norm_len == len && memcmp(u->norm + t->norm, s, len) == 0;
}


static int
rs_uq_in(const rs_uq_t *u, size_t i, const char *const *list)
{
    char  c;

    if (!rs_uq_is_word(u, i)) {
        return 0;
    }

    c = u->norm[u->tok[i].norm];

    for ( /* void */ ; *list; list++) {
        if ((*list)[0] == c && rs_uq_eq(u, i, *list, strlen(*list))) {
            return 1;
        }
    }

    return 0;
}


/* one of the single-word phrases of cues */

static int
rs_uq_in_cues(const rs_uq_t *u, size_t i, const rs_uq_cue_t *cues)
{
    for ( /* void */ ; cues->phrase; cues++) {
        if (strchr(cues->phrase, ' ') == NULL
            && rs_uq_eq(u, i, cues->phrase, strlen(cues->phrase)))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Words that mean something to a query whatever the catalogue says: a
 * brand "On" or a category "Other" must not swallow them.
 */

static int
rs_uq_reserved(const rs_uq_t *u, size_t i)
{
    return rs_uq_in(u, i, rs_uq_stop) || rs_uq_in(u, i, rs_uq_negations)
           || rs_uq_in(u, i, rs_uq_currencies)
           || rs_uq_in_cues(u, i, rs_uq_prefix_cues)
           || rs_uq_in_cues(u, i, rs_uq_hint_cues);
}


/* the token after the phrase, or 0; "high-end" spells "high end" */

static size_t
rs_uq_phrase(const rs_uq_t *u, size_t i, const char *phrase)
{
    size_t       n;
    const char  *p, *e;

    p = phrase;

    for ( ;; ) {
        e = strchr(p, ' ');
        n = e ? (size_t) (e - p) : strlen(p);

        if (i >= u->n || u->state[i] != RS_UQ_FREE || !rs_uq_eq(u, i, p, n))
        {
            return 0;
        }

        i++;

        if (e == NULL) {
            return i;
        }

        p = e + 1;

        if (i < u->n && u->tok[i].kind == RS_TOK_DASH
            && u->state[i] == RS_UQ_FREE)
        {
            i++;
        }
    }
}


static size_t
rs_uq_cue(const rs_uq_t *u, size_t i, const rs_uq_cue_t *cues, int *kind)
{
    char    c;
    size_t  j;

    if (!rs_uq_is_word(u, i) || u->state[i] != RS_UQ_FREE) {
        return 0;
    }

    c = u->norm[u->tok[i].norm];

    for ( /* void */ ; cues->phrase; cues++) {
        if (cues->phrase[0] != c) {
            continue;
        }

        j = rs_uq_phrase(u, i, cues->phrase);

        if (j) {
            *kind = cues->kind;
            return j;
        }
    }

    return 0;
}


/* [$] number [k] [$ | dollars], with a number that is not a percentage */

static int
rs_uq_amount(const rs_uq_t *u, size_t i, rs_uq_amount_t *a)
{
    const rs_token_t  *t;

    a->currency = 0;

    if (i < u->n && u->state[i] == RS_UQ_FREE
        && u->tok[i].kind == RS_TOK_CUR)
    {
        a->currency = 1;
        i++;
    }

    if (i >= u->n || u->state[i] != RS_UQ_FREE
        || u->tok[i].kind != RS_TOK_NUM)
    {
        return 0;
    }

    t = &u->tok[i];
    a->value = (t->flags & RS_TOK_KILO) ? t->value * 1000 : t->value;
    i++;

    if (i < u->n && u->tok[i].kind == RS_TOK_PCT) {
        return 0;
    }

    if (i < u->n && u->state[i] == RS_UQ_FREE) {

        if (!a->currency && u->tok[i].kind == RS_TOK_CUR) {
            a->currency = 1;
            i++;

        } else if (rs_uq_in(u, i, rs_uq_currencies)) {
            a->currency = 1;
            i++;
        }
    }

    if (!(a->value <= RS_UQ_MAX_PRICE)) {
        return 0;
    }

    a->end = i;

    return 1;
}


static int
rs_uq_connector(const rs_uq_t *u, size_t i, int and)
{
    if (i >= u->n || u->state[i] != RS_UQ_FREE) {
        return 0;
    }

    return u->tok[i].kind == RS_TOK_DASH || rs_uq_eq(u, i, "to", 2)
           || (and && rs_uq_eq(u, i, "and", 3));
}


/* "12 inch", "2-pack", "12\"": a quantity */

static int
rs_uq_unit_after(const rs_uq_t *u, size_t i)
{
    if (i < u->n && u->tok[i].kind == RS_TOK_DASH
        && !(u->tok[i].flags & RS_TOK_SPACE))
    {
        i++;
    }

    if (i >= u->n) {
        return 0;
    }

    if (u->tok[i].kind == RS_TOK_BREAK && u->text[u->tok[i].start] == '"'
        && !(u->tok[i].flags & RS_TOK_SPACE))
    {
        return 1;
    }

    return rs_uq_in(u, i, rs_uq_units);
}


/* "size 8-10", "ages 3+", "kids under 5" */

static int
rs_uq_veto(const rs_uq_t *u, size_t i, double value)
{
    if (i == 0 || u->tok[i - 1].kind != RS_TOK_WORD) {
        return 0;
    }

    return rs_uq_in(u, i - 1, rs_uq_veto_words)
           || (value <= 18 && rs_uq_in(u, i - 1, rs_uq_age_words));
}


static void
rs_uq_set(rs_uq_t *u, int kind, double a, double b)
{
    rs_understood_t  *o;

    o = u->out;

    switch (kind) {

    case RS_CUE_MAX:
        o->max_price = a;
        o->has_max_price = 1;
        break;

    case RS_CUE_MIN:
        o->min_price = a;
        o->has_min_price = 1;
        break;

    case RS_CUE_APPROX:
        o->min_price = round(a * (1 - RS_UNDERSTAND_APPROX) * 100) / 100;
        o->max_price = round(a * (1 + RS_UNDERSTAND_APPROX) * 100) / 100;
        o->has_min_price = 1;
        o->has_max_price = 1;
        break;

    default: /* RS_CUE_RANGE */
        o->min_price = a < b ? a : b;
        o->max_price = a < b ? b : a;
        o->has_min_price = 1;
        o->has_max_price = 1;
    }
}


static void
rs_uq_mark(rs_uq_t *u, size_t from, size_t to, uint8_t state)
{
    for ( /* void */ ; from < to; from++) {
        u->state[from] = state;
    }
}


/*
 * "under $100", "between 20 and 40", "from 20 to 40", "< 50".  Without
 * a currency the number must not be a quantity or a model: "under 10
 * inch", "kids under 5".
 */

static size_t
rs_uq_prefix(rs_uq_t *u, size_t i)
{
    int             kind, cur;
    size_t          j, k;
    rs_uq_amount_t  a, b;

    kind = 0;
    j = i + 1;

    switch (u->tok[i].kind) {

    case RS_TOK_LT:
        kind = RS_CUE_MAX;
        break;

    case RS_TOK_GT:
        kind = RS_CUE_MIN;
        break;

    case RS_TOK_TILDE:
        kind = RS_CUE_APPROX;
        break;

    case RS_TOK_WORD:
        j = rs_uq_cue(u, i, rs_uq_prefix_cues, &kind);
        break;
    }

    if (kind == 0) {
        return 0;
    }

    /* "<= 50", "budget: 100" */
    if (j < u->n && u->state[j] == RS_UQ_FREE
        && (u->text[u->tok[j].start] == '='
            || u->text[u->tok[j].start] == ':'))
    {
        j++;
    }

    if (!rs_uq_amount(u, j, &a)) {
        return 0;
    }

    cur = a.currency;
    k = a.end;

    if (kind == RS_CUE_RANGE || kind == RS_CUE_FROM) {

        if (rs_uq_connector(u, k, kind == RS_CUE_RANGE)
            && rs_uq_amount(u, k + 1, &b))
        {
            if (!cur && !b.currency
                && (rs_uq_veto(u, i, b.value)
                    || rs_uq_unit_after(u, b.end)))
            {
                return 0;
            }

            rs_uq_set(u, RS_CUE_RANGE, a.value, b.value);
            k = b.end;

        } else if (kind == RS_CUE_FROM && cur) {
            /* "from $20" */
            rs_uq_set(u, RS_CUE_MIN, a.value, 0);

        } else {
            return 0;
        }

    } else {
        if (!cur && (rs_uq_veto(u, i, a.value) || rs_uq_unit_after(u, k))) {
            return 0;
        }

        rs_uq_set(u, kind, a.value, 0);
    }

    rs_uq_mark(u, i, k, RS_UQ_DROP);

    return k;
}


/*
 * "50-100", "50 to 100", "100+", "100 or less", "$50".  A bare number
 * with none of these is never a price: "iphone 15", "size 10".
 */

static size_t
rs_uq_bare(rs_uq_t *u, size_t i)
{
    int             kind;
    size_t          j, k;
    rs_uq_amount_t  a, b;

    if (!rs_uq_amount(u, i, &a)) {
        return 0;
    }

    k = a.end;

    if (rs_uq_connector(u, k, 0) && rs_uq_amount(u, k + 1, &b)) {

        /* "2 to 4 people", "size 8-10", "10-2" */
        if (!a.currency && !b.currency
            && (a.value >= b.value || rs_uq_veto(u, i, b.value)
                || rs_uq_unit_after(u, b.end)))
        {
            return 0;
        }

        rs_uq_set(u, RS_CUE_RANGE, a.value, b.value);
        k = b.end;

    } else if (k < u->n && u->state[k] == RS_UQ_FREE
               && u->tok[k].kind == RS_TOK_PLUS
               && !(u->tok[k].flags & RS_TOK_SPACE))
    {
        if (!a.currency
            && (rs_uq_veto(u, i, a.value) || rs_uq_unit_after(u, k + 1)))
        {
            return 0;
        }

        rs_uq_set(u, RS_CUE_MIN, a.value, 0);
        k++;

    } else {
        j = k;

        /* "50-ish" */
        if (j < u->n && u->tok[j].kind == RS_TOK_DASH
            && u->state[j] == RS_UQ_FREE
            && !(u->tok[j].flags & RS_TOK_SPACE))
        {
            j++;
        }

        j = rs_uq_cue(u, j, rs_uq_postfix_cues, &kind);

        if (j) {
            if (!a.currency
                && (rs_uq_veto(u, i, a.value) || rs_uq_unit_after(u, j)))
            {
                return 0;
            }

            rs_uq_set(u, kind, a.value, 0);
            k = j;

        } else if (a.currency) {
            /* "running shoes $80": a budget */
            rs_uq_set(u, RS_CUE_MAX, a.value, 0);

        } else {
            return 0;
        }
    }

    rs_uq_mark(u, i, k, RS_UQ_DROP);

    return k;
}


static void
rs_uq_prices(rs_uq_t *u)
{
    size_t  i, j, k;

    for (i = 0; i < u->n; i++) {
        if (u->tok[i].kind == RS_TOK_NUM) {
            break;
        }
    }

    /* every price phrase holds a number */
    if (i == u->n) {
        return;
    }

    for (i = 0; i < u->n; i++) {
        if (u->state[i] != RS_UQ_FREE) {
            continue;
        }

        j = rs_uq_prefix(u, i);

        if (j == 0) {
            j = rs_uq_bare(u, i);
        }

        if (j == 0) {
            continue;
        }

        /* "priced at": two at most */
        for (k = i; k > 0 && i - k < 2; k--) {
            if (u->state[k - 1] != RS_UQ_FREE
                || !rs_uq_in(u, k - 1, rs_uq_leadins))
            {
                break;
            }

            u->state[k - 1] = RS_UQ_DROP;
        }

        i = j - 1;
    }

    if (u->out->has_min_price && u->out->has_max_price
        && u->out->min_price > u->out->max_price)
    {
        rs_uq_set(u, RS_CUE_RANGE, u->out->min_price, u->out->max_price);
    }
}


/* the longest brand and the longest category level starting at i */

static void
rs_uq_name(const rs_uq_t *u, size_t i, rs_uq_name_t *m)
{
    size_t             w[RS_VOCAB_MAX_WORDS], nw, max, k, j, off, end;
    uint32_t           s;
    const rs_vocab_t  *v;

    memset(m, 0, sizeof(rs_uq_name_t));
    v = u->vocab;

    max = v->max_brand_words > v->max_level_words ? v->max_brand_words
                                                  : v->max_level_words;
    nw = 0;
    j = i;

    while (nw < max && rs_uq_is_word(u, j) && u->state[j] == RS_UQ_FREE) {
        w[nw++] = j++;

        /* "dolce & gabbana", "t-shirts" */
        while (j < u->n && u->state[j] == RS_UQ_FREE
               && (u->tok[j].kind == RS_TOK_JOIN
                   || u->tok[j].kind == RS_TOK_DASH))
        {
            j++;
        }
    }

    for (k = nw < v->max_brand_words ? nw : v->max_brand_words;
         k > 0;
         k--)
    {
        off = u->tok[w[0]].norm;
        end = u->tok[w[k - 1]].norm + u->tok[w[k - 1]].norm_len;
        s = rs_vocab_brand(v, u->norm + off, end - off);

        if (s && (k > 1 || !rs_uq_reserved(u, w[0]))) {
            m->brand = s;
            m->brand_end = w[k - 1] + 1;
            m->brand_words = k;
            break;
        }
    }

    for (k = nw < v->max_level_words ? nw : v->max_level_words;
         k > 0;
         k--)
    {
        off = u->tok[w[0]].stem;
        end = u->tok[w[k - 1]].stem + u->tok[w[k - 1]].stem_len;
        s = rs_vocab_level(v, u->stem + off, end - off);

        if (s && (k > 1 || !rs_uq_reserved(u, w[0]))) {
            m->level = s;
            m->level_end = w[k - 1] + 1;
            m->level_words = k;
            break;
        }
    }
}


/*
 * "without acme", "no mesh", "not expensive".  A word is excluded only
 * when it is plainly the whole object: "no show socks" is a kind of sock.
 */

static size_t
rs_uq_negation(rs_uq_t *u, size_t i)
{
    int                kind;
    size_t             j, k;
    unsigned           n;
    rs_uq_name_t       m;
    rs_understood_t   *o;
    const rs_token_t  *t;
    const char        *name;

    j = i + 1;
    o = u->out;

    /* "no-show", "non-stick" are words, not negations */
    if (!rs_uq_in(u, i, rs_uq_negations) || !rs_uq_is_word(u, j)
        || u->state[j] != RS_UQ_FREE || !(u->tok[j].flags & RS_TOK_SPACE))
    {
        return 0;
    }

    if (u->vocab != NULL) {
        rs_uq_name(u, j, &m);

        if (m.brand) {
            name = rs_vocab_str(u->vocab,
                                u->vocab->brands[m.brand - 1].name);

            for (n = 0; n < o->nexclude_brands; n++) {
                if (o->exclude_brands[n] == name) {
                    break;
                }
            }

            if (n == o->nexclude_brands
                && n < RS_UNDERSTAND_MAX_EXCLUDES)
            {
                o->exclude_brands[n] = name;
                o->exclude_brand_lens[n] =
                                u->vocab->brands[m.brand - 1].name_len;
                o->nexclude_brands++;
            }

            rs_uq_mark(u, i, m.brand_end, RS_UQ_DROP);

            return m.brand_end;
        }
    }

    k = rs_uq_cue(u, j, rs_uq_hint_cues, &kind);

    if (k) {
        /* "not expensive" is cheap; "not cheap" says no price at all */
        if (kind == RS_CUE_PREMIUM) {
            u->cheap = 1;
        }

        rs_uq_mark(u, i, k, RS_UQ_DROP);

        return k;
    }

    t = &u->tok[j];

    if (t->kind != RS_TOK_WORD || (t->flags & RS_TOK_DIGIT)
        || t->norm_len < 2 || rs_uq_reserved(u, j)
        || rs_uq_in(u, j, rs_uq_units)
        || o->nexclude_terms == RS_UNDERSTAND_MAX_EXCLUDES)
    {
        return 0;
    }

    k = j + 1;

    if (k < u->n && u->state[k] == RS_UQ_FREE
        && u->tok[k].kind != RS_TOK_BREAK
        && !(rs_uq_is_word(u, k)
             && (rs_uq_in(u, k, rs_uq_stop)
                 || rs_uq_in(u, k, rs_uq_negations))))
    {
        return 0;
    }

    o->exclude_terms[o->nexclude_terms] = u->text + t->start;
    o->exclude_term_lens[o->nexclude_terms] = t->end - t->start;
    o->nexclude_terms++;

    rs_uq_mark(u, i, k, RS_UQ_DROP);

    return k;
}


static void
rs_uq_names(rs_uq_t *u)
{
    size_t           i, j;
    uint8_t          state;
    rs_uq_name_t     m;
    rs_understood_t *o;

    o = u->out;

    for (i = 0; i < u->n; i++) {
        if (u->state[i] != RS_UQ_FREE || !rs_uq_is_word(u, i)) {
            continue;
        }

        j = rs_uq_negation(u, i);

        if (j) {
            i = j - 1;
            continue;
        }

        if (u->vocab == NULL) {
            continue;
        }

        rs_uq_name(u, i, &m);

        /* a tie goes to the brand: it is the narrower filter */
        if (m.brand && m.brand_words >= m.level_words) {
            if (u->brand != m.brand) {
                u->brands++;
                u->brand = u->brand ? u->brand : m.brand;
            }

            rs_uq_mark(u, i, m.brand_end, RS_UQ_BRAND);
            i = m.brand_end - 1;

        } else if (m.level && u->ncats < RS_UQ_MAX_MENTIONS) {
            u->cats[u->ncats++] = m.level;

            /* the category words stay: they tell the embedding much */
            rs_uq_mark(u, i, m.level_end, RS_UQ_KEEP);
            i = m.level_end - 1;
        }
    }

    /* "acme or stridewell": one filter cannot say that; embed the names */
    state = u->brands > 1 ? RS_UQ_KEEP : RS_UQ_DROP;

    for (i = 0; i < u->n; i++) {
        if (u->state[i] == RS_UQ_BRAND) {
            u->state[i] = state;
        }
    }

    if (u->brands == 1) {
        o->brand = rs_vocab_str(u->vocab, u->vocab->brands[u->brand - 1].name);
        o->brand_len = u->vocab->brands[u->brand - 1].name_len;
    }
}


/*
 * The category that accounts for most of the level names mentioned:
 * "men's running shoes" is "Shoes > Running" (two names) rather than
 * "Clothing > Men" (one).  Between readings of the same names the one
 * with the most items wins; between different names of equal weight the
 * last one, usually the head noun: "laptop bag" is a bag.
 */

static void
rs_uq_category(rs_uq_t *u)
{
    size_t                  m, k, c, d, a, nanc;
    uint32_t                name, node, x, y, anc[RS_VOCAB_MAX_DEPTH];
    uint32_t                mask, best, best_mask;
    const rs_vocab_t       *v;
    const rs_vocab_node_t  *nd, *bn;

    v = u->vocab;
    best = 0;
    best_mask = 0;

    /* chains are of names, name + 1; nodes here are node + 1 */
    for (m = 0; m < u->ncats; m++) {
        for (name = u->cats[m], c = 0;
             name && c < RS_UQ_MAX_CHAIN;
             name = v->level_next[name - 1], c++)
        {
            node = v->names[name - 1].node + 1;
            nanc = 0;

            for (x = node; x && nanc < RS_VOCAB_MAX_DEPTH;
                 x = v->nodes[x - 1].parent)
            {
                anc[nanc++] = x;
            }

            mask = 0;

            for (k = 0; k < u->ncats; k++) {
                for (y = u->cats[k], d = 0;
                     y && d < RS_UQ_MAX_CHAIN && !(mask & (1u << k));
                     y = v->level_next[y - 1], d++)
                {
                    for (a = 0; a < nanc; a++) {
                        if (anc[a] == v->names[y - 1].node + 1) {
                            mask |= 1u << k;
                            break;
                        }
                    }
                }
            }

            if (best) {
                nd = &v->nodes[node - 1];
                bn = &v->nodes[best - 1];

                if (__builtin_popcount(mask)
                    != __builtin_popcount(best_mask))
                {
                    if (__builtin_popcount(mask)
                        < __builtin_popcount(best_mask))
                    {
                        continue;
                    }

                } else if (mask != best_mask) {
                    if (__builtin_clz(mask) >= __builtin_clz(best_mask)) {
                        continue;
                    }

                } else if (nd->items != bn->items) {
                    if (nd->items < bn->items) {
                        continue;
                    }

                } else if (nd->depth <= bn->depth) {
                    continue;
                }
            }

            best = node;
            best_mask = mask;
        }
    }

    if (best) {
        u->node = best;
        u->out->category = rs_vocab_str(v, v->nodes[best - 1].path);
        u->out->category_len = v->nodes[best - 1].path_len;
    }
}


/* "cheap" is the cheaper third of the category, "premium" the dearest */

static void
rs_uq_hints(rs_uq_t *u)
{
    int                     kind;
    size_t                  i, j;
    uint32_t                x;
    rs_understood_t        *o;
    const rs_vocab_node_t  *nd;
    const double           *p33, *p67;

    o = u->out;

    for (i = 0; i < u->n; i++) {
        j = rs_uq_cue(u, i, rs_uq_hint_cues, &kind);

        if (j == 0) {
            continue;
        }

        if (kind == RS_CUE_CHEAP) {
            u->cheap = 1;

        } else {
            u->premium = 1;
        }

        rs_uq_mark(u, i, j, RS_UQ_DROP);
        i = j - 1;
    }

    /* "cheap luxury": no telling */
    if (u->cheap && u->premium) {
        return;
    }

    o->cheap = u->cheap;
    o->premium = u->premium;

    if ((!u->cheap && !u->premium) || u->vocab == NULL) {
        return;
    }

    p33 = NULL;
    p67 = NULL;

    for (x = u->node; x; x = nd->parent) {
        nd = &u->vocab->nodes[x - 1];

        if (nd->nprices) {
            p33 = &nd->p33;
            p67 = &nd->p67;
            break;
        }
    }

    if (p33 == NULL && u->vocab->header->nprices) {
        p33 = &u->vocab->header->p33;
        p67 = &u->vocab->header->p67;
    }

    if (p33 == NULL) {
        return;
    }

    /* an explicit price says more than a word */
    if (u->cheap && !o->has_max_price
        && (!o->has_min_price || *p33 >= o->min_price))
    {
        o->max_price = *p33;
        o->has_max_price = 1;
    }

    if (u->premium && !o->has_min_price
        && (!o->has_max_price || *p67 <= o->max_price))
    {
        o->min_price = *p67;
        o->has_min_price = 1;
    }
}


/*
 * The kept tokens in order, one space wherever the query had space or
 * lost a token.  Punctuation stays only next to the words it belongs to,
 * so "shoes, under $50, black" becomes "shoes, black".  Never longer than
 * the query.
 */

static void
rs_uq_output(rs_uq_t *u, char *buf, size_t len)
{
    int                emit, prev, next, space;
    size_t             k, o;
    const rs_token_t  *t;

    o = 0;
    prev = 0;
    space = 0;

    for (k = 0; k < u->n; k++) {
        t = &u->tok[k];

        if (t->flags & RS_TOK_SPACE) {
            space = 1;
        }

        emit = 0;

        if (u->state[k] == RS_UQ_FREE || u->state[k] == RS_UQ_KEEP) {
            next = rs_uq_is_word(u, k + 1)
                   && (u->state[k + 1] == RS_UQ_FREE
                       || u->state[k + 1] == RS_UQ_KEEP);

            switch (t->kind) {

            case RS_TOK_WORD:
            case RS_TOK_NUM:
                emit = 1;
                break;

            case RS_TOK_JOIN:
            case RS_TOK_DASH:
                emit = prev && next;
                break;

            case RS_TOK_CUR:
            case RS_TOK_LT:
            case RS_TOK_GT:
            case RS_TOK_TILDE:
                emit = next;
                break;

            case RS_TOK_BREAK:
                if (u->text[t->start] == '(' || u->text[t->start] == '['
                    || u->text[t->start] == '{')
                {
                    emit = next;

                } else {
                    emit = prev;
                }

                break;

            default:
                emit = prev;
            }
        }

        prev = emit;

        if (!emit) {
            space = 1;
            continue;
        }

        if (space && o) {
            buf[o++] = ' ';
        }

        space = 0;
        memcpy(buf + o, u->text + t->start, t->end - t->start);
        o += t->end - t->start;
    }

    /* what did not fit the token table goes through as it is */
    for (k = u->tk.done; k < len; k++) {
        if ((unsigned char) u->text[k] <= 0x20 || u->text[k] == 0x7f) {
            space = 1;
            continue;
        }

        if (space && o) {
            buf[o++] = ' ';
        }

        space = 0;
        buf[o++] = u->text[k];
    }

    buf[o] = '\0';
    u->out->text = buf;
    u->out->text_len = o;
}


int
rs_understand(const rs_vocab_t *v, const char *text, size_t len, char *buf,
    rs_understood_t *out)
{
    rs_uq_t  u;

    memset(out, 0, sizeof(rs_understood_t));
    out->text = buf;
    buf[0] = '\0';

    if (text == NULL || len == 0) {
        return 0;
    }

    u.vocab = v;
    u.text = text;
    u.out = out;
    u.brand = 0;
    u.brands = 0;
    u.node = 0;
    u.ncats = 0;
    u.cheap = 0;
    u.premium = 0;

    u.tk.tok = u.tok;
    u.tk.max = RS_UQ_MAX_TOKENS;
    u.tk.norm = u.norm;
    u.tk.stem = u.stem;
    u.tk.size = RS_UQ_MAX_NORM;

    rs_tokenize(&u.tk, text, len);

    u.n = u.tk.n;
    memset(u.state, RS_UQ_FREE, u.n);

    rs_uq_prices(&u);
    rs_uq_names(&u);

    if (v != NULL) {
        rs_uq_category(&u);
    }

    rs_uq_hints(&u);
    rs_uq_output(&u, buf, len);

    return 0;
}


/* 100, not 100.0: whole prices read as typed */

static json_t *
rs_uq_json_number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        return json_integer((json_int_t) v);
    }

    return json_real(v);
}


/* text that is not UTF-8 is left out rather than failing the response */

static int
rs_uq_json_string(json_t *o, const char *key, const char *s, size_t len)
{
    json_t  *j;

    if (!rs_utf8_valid((const unsigned char *) s, len)) {
        return 0;
    }

    j = json_stringn(s, len);

    return j ? json_object_set_new(o, key, j) : -1;
}


static int
rs_uq_json_list(json_t *o, const char *key, const char *const *s,
    const size_t *len, unsigned n)
{
    json_t    *a, *j;
    unsigned   i;

    if (n == 0) {
        return 0;
    }

    a = json_array();
    if (a == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!rs_utf8_valid((const unsigned char *) s[i], len[i])) {
            continue;
        }

        j = json_stringn(s[i], len[i]);

        if (j == NULL || json_array_append_new(a, j) != 0) {
            json_decref(a);
            return -1;
        }
    }

    if (json_array_size(a) == 0) {
        json_decref(a);
        return 0;
    }

    return json_object_set_new(o, key, a);
}


int
rs_understood_to_json(const rs_understood_t *u, void *json_object)
{
    json_t  *o;

    o = json_object;

    if (u->has_min_price
        && json_object_set_new(o, "min_price",
                               rs_uq_json_number(u->min_price))
           != 0)
    {
        return -1;
    }

    if (u->has_max_price
        && json_object_set_new(o, "max_price",
                               rs_uq_json_number(u->max_price))
           != 0)
    {
        return -1;
    }

    if ((u->brand_len
         && rs_uq_json_string(o, "brand", u->brand, u->brand_len) != 0)
        || (u->category_len
            && rs_uq_json_string(o, "category", u->category,
                                 u->category_len)
               != 0)
        || rs_uq_json_list(o, "exclude_brands", u->exclude_brands,
                           u->exclude_brand_lens, u->nexclude_brands)
           != 0
        || rs_uq_json_list(o, "exclude_terms", u->exclude_terms,
                           u->exclude_term_lens, u->nexclude_terms)
           != 0)
    {
        return -1;
    }

    if (u->cheap || u->premium) {
        if (json_object_set_new(o, "price_hint",
                                json_string(u->cheap ? "cheap" : "premium"))
            != 0)
        {
            return -1;
        }
    }

    return 0;
}
