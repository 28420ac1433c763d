/*
 * Copyright (C) ngx_recsys authors
 */


#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rs_catalog.h"
#include "rs_narrative.h"


#define RS_NARRATIVE_BRANDS  3


static const char *rs_narrative_leaf(const char *category);
static json_t *rs_narrative_reason(const rs_store_t *st, const rs_hit_t *hit);
static size_t rs_narrative_brands(const rs_store_t *st, const rs_result_t *res,
    const char **brands);


int
rs_format_price(char *buf, size_t size, double price, const char *currency)
{
    int           n;
    char          digits[32], grouped[48], *p;
    size_t        i, len, lead;
    const char   *symbol;
    long long     whole;

    if (!isfinite(price) || price < 0 || price > 1e15) {
        return 0;
    }

    symbol = NULL;

    if (currency == NULL || strcmp(currency, "USD") == 0) {
        symbol = "$";

    } else if (strcmp(currency, "EUR") == 0) {
        symbol = "\xe2\x82\xac";

    } else if (strcmp(currency, "GBP") == 0) {
        symbol = "\xc2\xa3";

    } else if (strcmp(currency, "JPY") == 0) {
        symbol = "\xc2\xa5";
    }

    /* cents from the rounded value, so 79.99 never prints as 79.98 */
    whole = llround(price * 100);
    snprintf(digits, sizeof(digits), "%lld", whole / 100);

    len = strlen(digits);
    lead = len % 3 ? len % 3 : 3;
    p = grouped;

    for (i = 0; i < len; i++) {
        if (i >= lead && (i - lead) % 3 == 0) {
            *p++ = ',';
        }

        *p++ = digits[i];
    }

    *p = '\0';

    n = symbol ? snprintf(buf, size, "%s%s.%02lld", symbol, grouped,
                          whole % 100)
               : snprintf(buf, size, "%s %s.%02lld", currency, grouped,
                          whole % 100);

    return n > 0 && (size_t) n < size ? n : 0;
}


static const char *
rs_narrative_leaf(const char *category)
{
    const char  *p, *leaf;

    if (category == NULL) {
        return NULL;
    }

    leaf = category;

    for (p = category; (p = strstr(p, " > ")) != NULL; p += 3) {
        leaf = p + 3;
    }

    return leaf;
}


/* facts only: where it sits, how it is rated, whether it can be had */

static json_t *
rs_narrative_reason(const rs_store_t *st, const rs_hit_t *hit)
{
    int               n;
    char              buf[256];
    size_t            len;
    const char       *leaf;
    const rs_item_t  *it;

    it = &st->items[hit->item];
    leaf = rs_narrative_leaf(rs_store_str(st, it->category));
    len = 0;
    buf[0] = '\0';

    if (leaf != NULL) {
        n = snprintf(buf, sizeof(buf), "%s", leaf);
        len = n > 0 ? (size_t) n : 0;
    }

    if ((it->flags & RS_HAS_RATING) && it->rating_count > 0
        && len < sizeof(buf))
    {
        n = snprintf(buf + len, sizeof(buf) - len,
                     "%srated %.1f by %u shopper%s", len ? " \xc2\xb7 " : "",
                     it->rating, it->rating_count,
                     it->rating_count == 1 ? "" : "s");
        len += n > 0 ? (size_t) n : 0;
    }

    if ((hit->view.flags & RS_HAS_STOCK) && len < sizeof(buf)) {
        n = snprintf(buf + len, sizeof(buf) - len, "%s%s",
                     len ? " \xc2\xb7 " : "",
                     hit->view.stock > 0 ? "in stock" : "out of stock");
        len += n > 0 ? (size_t) n : 0;
    }

    if ((hit->flags & RS_HIT_SPONSORED) && len < sizeof(buf)) {
        snprintf(buf + len, sizeof(buf) - len, "%ssponsored",
                 len ? " \xc2\xb7 " : "");
    }

    return json_string(buf);
}


static size_t
rs_narrative_brands(const rs_store_t *st, const rs_result_t *res,
    const char **brands)
{
    size_t       n, j;
    uint32_t     i;
    const char  *b;

    n = 0;

    for (i = 0; i < res->nhits && n < RS_NARRATIVE_BRANDS; i++) {
        b = rs_store_str(st, st->items[res->hits[i].item].brand);

        if (b == NULL) {
            continue;
        }

        for (j = 0; j < n && strcmp(brands[j], b) != 0; j++) {
            /* void */
        }

        if (j == n) {
            brands[n++] = b;
        }
    }

    return n;
}


json_t *
rs_narrative_template(const rs_engine_t *e, const char *query,
    size_t query_len, const rs_request_t *req, const rs_result_t *res,
    json_t *items)
{
    int                n;
    char               summary[512], lo[48], hi[48];
    double             min, max;
    size_t             len, nb, i;
    uint32_t           h;
    const char        *brands[RS_NARRATIVE_BRANDS], *cur;
    const rs_hit_t    *hit;
    const rs_store_t  *st;

    st = rs_engine_store(e);

    for (h = 0; h < res->nhits; h++) {
        json_object_set_new(json_array_get(items, h), "reason",
                            rs_narrative_reason(st, &res->hits[h]));
    }

    if (res->nhits == 0) {
        return json_pack("{s:s, s:s, s:i}", "summary",
                         "Nothing matches this right now.", "source",
                         "template", "version", RS_NARRATIVE_VERSION);
    }

    /* the shopper's words are quoted back, never interpreted */
    if (query_len) {
        len = query_len > 80 ? 80 : query_len;

        /* cut on a character boundary: the summary must stay UTF-8 */
        while (len < query_len && ((unsigned char) query[len] & 0xc0) == 0x80)
        {
            len--;
        }

        n = snprintf(summary, sizeof(summary),
                     "Picks for \xe2\x80\x9c%.*s\xe2\x80\x9d: ", (int) len,
                     query);

    } else if (req->nitems == 1) {
        n = snprintf(summary, sizeof(summary), "More like %s: ",
                     rs_store_str(st, st->items[req->items[0]].title));

    } else if (req->nitems > 1) {
        n = snprintf(summary, sizeof(summary), "More like these: ");

    } else if (res->personalized) {
        n = snprintf(summary, sizeof(summary), "Picked for you: ");

    } else {
        n = snprintf(summary, sizeof(summary), "Popular right now: ");
    }

    len = n > 0 && (size_t) n < sizeof(summary) ? (size_t) n : 0;

    n = snprintf(summary + len, sizeof(summary) - len, "%u item%s",
                 res->nhits, res->nhits == 1 ? "" : "s");
    len += n > 0 && (size_t) n < sizeof(summary) - len ? (size_t) n : 0;

    nb = rs_narrative_brands(st, res, brands);

    for (i = 0; i < nb && len < sizeof(summary); i++) {
        n = snprintf(summary + len, sizeof(summary) - len, "%s%s",
                     i == 0 ? " from " : i + 1 == nb ? " and " : ", ",
                     brands[i]);
        len += n > 0 && (size_t) n < sizeof(summary) - len ? (size_t) n : 0;
    }

    /* a price range only when every price shares one currency */
    min = INFINITY;
    max = -INFINITY;
    cur = NULL;

    for (h = 0; h < res->nhits; h++) {
        hit = &res->hits[h];

        if (!(hit->view.flags & RS_HAS_PRICE)) {
            continue;
        }

        if (cur == NULL) {
            cur = rs_store_str(st, st->items[hit->item].currency);

        } else if (strcmp(cur, rs_store_str(st, st->items[hit->item].currency))
                   != 0)
        {
            min = INFINITY;
            break;
        }

        min = hit->view.price < min ? hit->view.price : min;
        max = hit->view.price > max ? hit->view.price : max;
    }

    if (isfinite(min) && rs_format_price(lo, sizeof(lo), min, cur)
        && rs_format_price(hi, sizeof(hi), max, cur) && len < sizeof(summary))
    {
        n = min == max
            ? snprintf(summary + len, sizeof(summary) - len, ", at %s", lo)
            : snprintf(summary + len, sizeof(summary) - len,
                       ", %s to %s", lo, hi);
        len += n > 0 && (size_t) n < sizeof(summary) - len ? (size_t) n : 0;
    }

    if (len < sizeof(summary) - 1) {
        summary[len++] = '.';
        summary[len] = '\0';
    }

    return json_pack("{s:s, s:s, s:i}", "summary", summary, "source",
                     "template", "version", RS_NARRATIVE_VERSION);
}
