/*
 * Copyright (C) ngx_recsys authors
 */


#include <math.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "rs_catalog.h"
#include "rs_narrative.h"
#include "rs_render.h"


/* enough digits for any price to the cent, without binary noise */
#define RS_JSON_FLAGS  (JSON_COMPACT | JSON_REAL_PRECISION(15))


static json_t *rs_render_item(const rs_engine_t *e, const rs_render_t *r,
    const rs_hit_t *hit);
static json_t *rs_render_tags(const char *tags);
static json_t *rs_render_string(const char *s);
static json_t *rs_render_explain(const rs_engine_t *e, const rs_render_t *r,
    const rs_hit_t *hit);
static json_t *rs_render_match(const rs_match_t *m);
static json_t *rs_render_url(const char *url);
static double rs_round(double v, double scale);
static int rs_render_llm(const rs_render_t *r, json_t *narrative,
    json_t *items);


static double
rs_round(double v, double scale)
{
    return round(v * scale) / scale;
}


static json_t *
rs_render_string(const char *s)
{
    return s ? json_string(s) : json_null();
}


static json_t *
rs_render_tags(const char *tags)
{
    json_t      *arr;
    const char  *p, *end;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    for (p = tags; *p; p = *end ? end + 1 : end) {
        end = strchr(p, RS_TAG_SEP);
        if (end == NULL) {
            end = p + strlen(p);
        }

        if (json_array_append_new(arr, json_stringn(p, end - p)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
rs_render_item(const rs_engine_t *e, const rs_render_t *r,
    const rs_hit_t *hit)
{
    char               price[64];
    json_t            *o, *extra;
    const char        *s;
    const rs_item_t   *it;
    const rs_store_t  *st;

    st = rs_engine_store(e);
    it = &st->items[hit->item];

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    json_object_set_new(o, "id", json_string(rs_store_str(st, it->id)));
    json_object_set_new(o, "title",
                        json_string(rs_store_str(st, it->title)));
    json_object_set_new(o, "brand",
                        rs_render_string(rs_store_str(st, it->brand)));
    json_object_set_new(o, "category",
                        rs_render_string(rs_store_str(st, it->category)));
    json_object_set_new(o, "price", (hit->view.flags & RS_HAS_PRICE)
                                    ? json_real(hit->view.price)
                                    : json_null());
    json_object_set_new(o, "currency",
                        rs_render_string(rs_store_str(st, it->currency)));
    json_object_set_new(o, "in_stock", (hit->view.flags & RS_HAS_STOCK)
                                       ? json_boolean(hit->view.stock > 0)
                                       : json_null());
    json_object_set_new(o, "url", rs_render_url(rs_store_str(st, it->url)));
    json_object_set_new(o, "image",
                        rs_render_url(rs_store_str(st, it->image)));
    json_object_set_new(o, "score", json_real(rs_round(hit->score, 1e4)));

    if ((hit->view.flags & RS_HAS_PRICE)
        && rs_format_price(price, sizeof(price), hit->view.price,
                           rs_store_str(st, it->currency)))
    {
        json_object_set_new(o, "price_display", json_string(price));
    }

    if (it->flags & RS_HAS_RATING) {
        json_object_set_new(o, "rating",
                            json_real(rs_round(it->rating, 100)));
    }

    s = rs_store_str(st, it->tags);
    if (s != NULL) {
        json_object_set_new(o, "tags", rs_render_tags(s));
    }

    s = rs_store_str(st, it->extra);
    if (s != NULL) {
        extra = json_loads(s, 0, NULL);
        if (extra != NULL) {
            json_object_set_new(o, "attributes", extra);
        }
    }

    if (hit->flags & RS_HIT_SPONSORED) {
        json_object_set_new(o, "sponsored", json_true());
    }

    if (r->explain) {
        json_object_set_new(o, "explain", rs_render_explain(e, r, hit));
    }

    return o;
}


static json_t *
rs_render_match(const rs_match_t *m)
{
    static const char  *kinds[] = { "id", "brand", "category", "tag" };

    return json_pack("{s:s, s:s%}", "match", kinds[m->kind], "value",
                     m->value, m->len);
}


/* every signal with its weight and share, and every rule that fired */

static json_t *
rs_render_explain(const rs_engine_t *e, const rs_render_t *r,
    const rs_hit_t *hit)
{
    int                  i;
    json_t              *x, *sig, *rules, *rule;
    uint32_t             b;
    const rs_profile_t  *p;

    (void) e;

    p = r->result->profile;
    x = json_object();
    sig = json_object();
    rules = json_array();

    if (x == NULL || sig == NULL || rules == NULL) {
        json_decref(x);
        json_decref(sig);
        json_decref(rules);
        return NULL;
    }

    for (i = 0; i < RS_SIGNALS; i++) {
        json_object_set_new(sig, rs_signal_name(i),
            json_pack("{s:f, s:f, s:f}",
                      "value", rs_round(hit->signals[i], 1e4),
                      "weight", rs_round(p->weights[i], 1e4),
                      "contribution",
                      rs_round(p->weights[i] * hit->signals[i], 1e4)));
    }

    for (b = 0; b < p->nboosts; b++) {
        if (hit->boosts_fired & (1u << b)) {
            rule = rs_render_match(&p->boosts[b].match);
            json_object_set_new(rule, "rule",
                                json_string(p->boosts[b].factor >= 1
                                            ? "boost" : "bury"));
            json_object_set_new(rule, "factor",
                                json_real(rs_round(p->boosts[b].factor,
                                                   1e4)));
            json_array_append_new(rules, rule);
        }
    }

    if (hit->flags & RS_HIT_PINNED) {
        json_array_append_new(rules, json_pack("{s:s}", "rule", "pin"));
    }

    if (hit->flags & RS_HIT_SPONSORED) {
        rule = rs_render_match(&p->promos[hit->promo].match);
        json_object_set_new(rule, "rule", json_string("promote"));
        json_array_append_new(rules, rule);
    }

    if (hit->mmr_penalty > 0) {
        json_array_append_new(rules,
            json_pack("{s:s, s:f}", "rule", "diversity", "penalty",
                      rs_round(hit->mmr_penalty, 1e4)));
    }

    json_object_set_new(x, "relevance",
                        json_real(rs_round(hit->relevance, 1e4)));
    json_object_set_new(x, "signals", sig);
    json_object_set_new(x, "factor", json_real(rs_round(hit->factor, 1e4)));
    json_object_set_new(x, "rules", rules);

    return x;
}


/*
 * Catalogue links reach HTML attributes: only web links and paths pass,
 * never "javascript:" or "data:".
 */

static json_t *
rs_render_url(const char *url)
{
    if (url == NULL
        || !(strncasecmp(url, "https://", 8) == 0
             || strncasecmp(url, "http://", 7) == 0
             || (url[0] == '/' && url[1] != '/' && url[1] != '\\')))
    {
        return json_null();
    }

    return json_string(url);
}


static int
rs_render_llm(const rs_render_t *r, json_t *narrative, json_t *items)
{
    uint32_t  i;

    if (json_object_set_new(narrative, "summary", json_string(r->summary))
        != 0
        || json_object_set_new(narrative, "source", json_string(r->source))
           != 0)
    {
        return -1;
    }

    for (i = 0; r->reasons != NULL && i < r->result->nhits; i++) {
        if (r->reasons[i] != NULL
            && json_object_set_new(json_array_get(items, i), "reason",
                                   json_string(r->reasons[i]))
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


void *
rs_render_build(const rs_engine_t *e, const rs_render_t *r)
{
    json_t    *root, *items, *item, *narrative, *understood;
    uint32_t   i;

    root = json_object();
    items = json_array();

    if (root == NULL || items == NULL) {
        json_decref(root);
        json_decref(items);
        return NULL;
    }

    json_object_set_new(root, "query", r->query_len
                                       ? json_stringn(r->query, r->query_len)
                                       : json_null());
    json_object_set_new(root, "items", items);

    for (i = 0; i < r->result->nhits; i++) {
        item = rs_render_item(e, r, &r->result->hits[i]);

        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(root);
            return NULL;
        }
    }

    json_object_set_new(root, "count", json_integer(r->result->nhits));
    json_object_set_new(root, "profile",
                        json_stringn(r->result->profile->name,
                                     r->result->profile->name_len));
    json_object_set_new(root, "strategy",
                        json_string(r->result->cold_start ? "popular"
                                    : r->result->personalized
                                      && r->request->text_len == 0
                                      && r->request->nitems == 0
                                    ? "personal" : "search"));
    json_object_set_new(root, "embed_source",
                        json_string(rs_embed_source_name(
                                        r->result->embed_source)));
    json_object_set_new(root, "took_ms",
                        json_real(rs_round(r->took_ms, 1e3)));
    json_object_set_new(root, "index_version",
                        json_string(rs_engine_version(e)));

    if (r->result->understood_any) {
        understood = json_object();

        if (understood == NULL
            || rs_understood_to_json(&r->result->understood, understood) != 0)
        {
            json_decref(understood);
            json_decref(root);
            return NULL;
        }

        json_object_set_new(root, "understood", understood);
    }

    if (r->no_narrative) {
        return root;
    }

    narrative = rs_narrative_template(e, r->query, r->query_len, r->request,
                                      r->result, items);
    if (narrative == NULL) {
        json_decref(root);
        return NULL;
    }

    json_object_set_new(root, "narrative", narrative);

    if (r->summary != NULL && rs_render_llm(r, narrative, items) != 0) {
        json_decref(root);
        return NULL;
    }

    return root;
}


int
rs_render_json(const rs_engine_t *e, const rs_render_t *r, rs_write_pt write,
    void *data)
{
    int      rc;
    json_t  *root;

    root = rs_render_build(e, r);
    if (root == NULL) {
        return -1;
    }

    rc = json_dump_callback(root, write, data, RS_JSON_FLAGS);

    json_decref(root);

    return rc;
}


int
rs_render_error(const char *code, const char *message, rs_write_pt write,
    void *data)
{
    int      rc;
    json_t  *root;

    root = json_pack("{s:{s:s, s:s}}", "error", "code", code,
                     "message", message);
    if (root == NULL) {
        return -1;
    }

    rc = json_dump_callback(root, write, data, RS_JSON_FLAGS);

    json_decref(root);

    return rc;
}
