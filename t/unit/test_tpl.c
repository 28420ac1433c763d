/*
 * Copyright (C) ngx_recsys authors
 *
 * Unit tests for the templates: escaping, syntax errors, partials, the
 * depth limit, a carousel fragment, numbers and render speed.  The
 * Mustache spec itself runs in test_mustache_spec.
 */


#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rs_tpl.h"


#define OUT_SIZE  65536


typedef struct {
    size_t   len;
    size_t   writes;
    int      fail_after;      /* fail the nth write, 0: never */
    char     buf[OUT_SIZE];
} out_t;


typedef struct {
    const char  *names[8];
    const char  *srcs[8];
    size_t       loads;
    int          error;       /* answer RS_TPL_LOAD_ERROR */
} partials_t;


static const char  *carousel_tpl =
    "<section class=\"rs-carousel\">\n"
    "  {{#narrative}}\n"
    "  <p class=\"rs-narrative\">{{narrative}}</p>\n"
    "  {{/narrative}}\n"
    "  {{^narrative}}\n"
    "  <h2>{{title}}</h2>\n"
    "  {{/narrative}}\n"
    "  <ul>\n"
    "    {{#items}}\n"
    "    {{> card}}\n"
    "    {{/items}}\n"
    "  </ul>\n"
    "  {{^items}}\n"
    "  <p>No recommendations.</p>\n"
    "  {{/items}}\n"
    "</section>\n";

static const char  *card_tpl =
    "<li data-id=\"{{id}}\">\n"
    "  <a href=\"{{url}}\"><img src=\"{{image}}\" alt=\"{{title}}\"></a>\n"
    "  {{#price}}<b>{{price}} {{currency}}</b>{{/price}}\n"
    "</li>\n";


static int
collect(const char *buf, size_t size, void *data)
{
    out_t  *o;

    o = data;
    o->writes++;

    if (o->fail_after && (int) o->writes >= o->fail_after) {
        return -1;
    }

    ck_assert_uint_lt(o->len + size, sizeof(o->buf));
    memcpy(o->buf + o->len, buf, size);
    o->len += size;
    o->buf[o->len] = '\0';

    return 0;
}


static int
discard(const char *buf, size_t size, void *data)
{
    *(size_t *) data += size;

    return 0;
}


static int
loader(void *data, const char *name, size_t len, const char **src,
    size_t *srclen)
{
    size_t       i;
    partials_t  *p;

    p = data;
    p->loads++;

    ck_assert_uint_eq(strlen(name), len);

    if (p->error) {
        return RS_TPL_LOAD_ERROR;
    }

    for (i = 0; i < 8 && p->names[i] != NULL; i++) {
        if (strcmp(p->names[i], name) == 0) {
            *src = p->srcs[i];
            *srclen = strlen(p->srcs[i]);
            return 0;
        }
    }

    return RS_TPL_NOT_FOUND;
}


static rs_tpl_t *
parse_ok(const char *src, partials_t *p, unsigned flags)
{
    char       err[256];
    rs_tpl_t  *t;

    err[0] = '\0';
    t = NULL;

    ck_assert_msg(rs_tpl_parse(&t, src, strlen(src), "carousel.mustache",
                               flags, p ? loader : NULL, p, err,
                               sizeof(err)) == 0,
                  "%s: %s", src, err);

    return t;
}


static void
parse_fails(const char *src, partials_t *p, unsigned flags,
    const char *expected)
{
    char       err[256];
    rs_tpl_t  *t;

    err[0] = '\0';
    t = NULL;

    ck_assert_int_eq(rs_tpl_parse(&t, src, strlen(src), "carousel.mustache",
                                  flags, p ? loader : NULL, p, err,
                                  sizeof(err)),
                     -1);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err, expected);
}


static const char *
render(const char *src, const char *json, partials_t *p, out_t *out)
{
    json_t        *ctx;
    rs_tpl_t      *t;
    json_error_t   jerr;

    ctx = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(ctx != NULL, "%s: %s", json, jerr.text);

    t = parse_ok(src, p, 0);

    memset(out, 0, sizeof(out_t));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, out), 0);

    rs_tpl_free(t);
    json_decref(ctx);

    return out->buf;
}


static json_t *
carousel_data(size_t n)
{
    char     id[32], title[64], url[64];
    size_t   i;
    json_t  *root, *items;

    root = json_object();
    items = json_array();
    ck_assert_ptr_nonnull(root);
    ck_assert_ptr_nonnull(items);

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "sku-%zu", i);
        snprintf(title, sizeof(title), "Trail shoe \"Ridge\" #%zu", i);
        snprintf(url, sizeof(url), "/p/sku-%zu?ref=rs&pos=%zu", i, i);

        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:f,"
                                               " s:s}",
                                               "id", id, "title", title,
                                               "url", url,
                                               "image", "/img/x.jpg",
                                               "price", 79.99 + i,
                                               "currency", "EUR"));
    }

    json_object_set_new(root, "title", json_string("You may also like"));
    json_object_set_new(root, "items", items);
    json_object_set_new(root, "narrative", json_null());

    return root;
}


START_TEST(test_escape_script)
{
    out_t  out;

    ck_assert_str_eq(render("{{q}}|{{{q}}}|{{&q}}",
                            "{\"q\": \"<script>alert(1)</script>\"}",
                            NULL, &out),
                     "&lt;script&gt;alert(1)&lt;/script&gt;"
                     "|<script>alert(1)</script>"
                     "|<script>alert(1)</script>");

    /* the quote is escaped too: values may land in either kind of
     * attribute */
    ck_assert_str_eq(render("<a title='{{t}}' alt=\"{{t}}\">",
                            "{\"t\": \"it's \\\"x\\\" & <y>\"}",
                            NULL, &out),
                     "<a title='it&#39;s &quot;x&quot; &amp; &lt;y&gt;'"
                     " alt=\"it&#39;s &quot;x&quot; &amp; &lt;y&gt;\">");

    /* data is never re-parsed as a template */
    ck_assert_str_eq(render("{{a}}", "{\"a\": \"{{b}}\", \"b\": \"no\"}",
                            NULL, &out),
                     "{{b}}");

    /* a NUL inside a JSON string does not cut the output short */
    ck_assert_str_eq(render("[{{a}}]", "{\"a\": \"x\\u0000<\"}", NULL,
                            &out),
                     "[x");
    ck_assert_uint_eq(out.len, 8);
    ck_assert_mem_eq(out.buf, "[x\0&lt;]", 8);
}
END_TEST


/* prompts are not HTML: the model should read "&", not "&amp;" */
START_TEST(test_no_escape)
{
    out_t      out;
    json_t    *ctx;
    rs_tpl_t  *t;

    ctx = json_pack("{s:s}", "t", "Ben & Jerry's <b>");
    ck_assert_ptr_nonnull(ctx);

    t = parse_ok("{{t}}|{{{t}}}|{{&t}}", NULL, RS_TPL_NO_ESCAPE);
    memset(&out, 0, sizeof(out_t));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert_str_eq(out.buf, "Ben & Jerry's <b>|Ben & Jerry's <b>"
                     "|Ben & Jerry's <b>");
    rs_tpl_free(t);
    json_decref(ctx);
}
END_TEST


START_TEST(test_syntax_errors)
{
    partials_t  p;

    parse_fails("<ul>\n{{#items}}\n<li>{{title}}</li>\n", NULL, 0,
                "carousel.mustache:2: unclosed section \"items\"");
    parse_fails("a\nb {{name\n c", NULL, 0,
                "carousel.mustache:2: unclosed tag \"{{\"");
    parse_fails("a\n\n{{{raw}}\n", NULL, 0,
                "carousel.mustache:3: unclosed tag \"{{{\"");
    parse_fails("{{#a}}\n{{#b}}\n{{/a}}\n", NULL, 0,
                "carousel.mustache:3: closing tag \"a\" does not match"
                " section \"b\" opened at line 2");
    parse_fails("x\n\n{{/a}}", NULL, 0,
                "carousel.mustache:3: unexpected closing tag \"a\"");
    parse_fails("x {{}} y", NULL, 0, "carousel.mustache:1: empty tag");
    parse_fails("\n{{# }}{{/}}", NULL, 0, "carousel.mustache:2: empty tag");
    parse_fails("{{{ }}}", NULL, 0, "carousel.mustache:1: empty tag");
    parse_fails("{{a b}}", NULL, 0,
                "carousel.mustache:1: invalid tag name \"a b\"");
    parse_fails("{{a..b}}", NULL, 0,
                "carousel.mustache:1: invalid name \"a..b\"");
    parse_fails("{{#.a}}{{/.a}}", NULL, 0,
                "carousel.mustache:1: invalid name \".a\"");
    parse_fails("\n{{=<%%>=}}", NULL, 0,
                "carousel.mustache:2: invalid set-delimiter tag \"<%%>\"");
    parse_fails("{{= a b c =}}", NULL, 0,
                "carousel.mustache:1: invalid set-delimiter tag \"a b c\"");
    parse_fails("{{= a= b =}}", NULL, 0,
                "carousel.mustache:1: invalid set-delimiter tag \"a= b\"");
    parse_fails("{{=<% %>}}", NULL, 0,
                "carousel.mustache:1: unclosed tag \"{{\"");
    parse_fails("{{<parent}}{{/parent}}", NULL, 0,
                "carousel.mustache:1: template inheritance is not"
                " supported");
    parse_fails("{{$block}}x{{/block}}", NULL, 0,
                "carousel.mustache:1: template inheritance is not"
                " supported");
    parse_fails("{{>*dynamic}}", NULL, 0,
                "carousel.mustache:1: dynamic partial names are not"
                " supported");

    /* lines keep counting across delimiter changes and comments */
    parse_fails("{{=<% %>=}}\n<%! a\ncomment %>\n<%#a%>\n{{/a}}", NULL, 0,
                "carousel.mustache:4: unclosed section \"a\"");

    /* errors in a partial name it and where it came from */
    memset(&p, 0, sizeof(p));
    p.names[0] = "card";
    p.srcs[0] = "<li>\n{{#price}}\n</li>\n";
    parse_fails("<ul>\n{{#items}}\n  {{> card}}\n{{/items}}\n</ul>\n", &p, 0,
                "card:2: unclosed section \"price\""
                " (partial included from carousel.mustache:3)");

    /* no error buffer is fine */
    ck_assert_int_eq(rs_tpl_parse(NULL, "{{#a}}", 6, NULL, 0, NULL, NULL,
                                  NULL, 0),
                     -1);
}
END_TEST


START_TEST(test_nesting_limit)
{
    char       src[RS_TPL_MAX_DEPTH * 16 + 64], *s;
    size_t     i, depth;
    rs_tpl_t  *t;

    for (depth = RS_TPL_MAX_DEPTH; depth <= RS_TPL_MAX_DEPTH + 1; depth++) {
        s = src;

        for (i = 0; i < depth; i++) {
            s += sprintf(s, "{{#a}}");
        }

        for (i = 0; i < depth; i++) {
            s += sprintf(s, "{{/a}}");
        }

        if (depth == RS_TPL_MAX_DEPTH) {
            t = parse_ok(src, NULL, 0);
            rs_tpl_free(t);

        } else {
            parse_fails(src, NULL, 0,
                        "carousel.mustache:1: sections nested deeper"
                        " than 64");
        }
    }
}
END_TEST


START_TEST(test_missing_partial)
{
    char         err[256];
    out_t        out;
    rs_tpl_t    *t;
    partials_t   p;

    /* the spec: a missing partial renders as nothing */
    memset(&p, 0, sizeof(p));
    ck_assert_str_eq(render("[{{>nope}}]", "{}", &p, &out), "[]");

    t = parse_ok("[{{>nope}}{{>nope}}]", &p, 0);
    ck_assert_str_eq(rs_tpl_missing_partial(t), "nope");
    rs_tpl_free(t);

    /* each name is loaded once */
    ck_assert_uint_eq(p.loads, 2);

    t = parse_ok("no partials", &p, 0);
    ck_assert_ptr_null(rs_tpl_missing_partial(t));
    rs_tpl_free(t);

    /* for the module's file templates: strict */
    parse_fails("x\n[{{>nope}}]", &p, RS_TPL_STRICT_PARTIALS,
                "carousel.mustache:2: partial \"nope\" not found");

    p.names[0] = "card";
    p.srcs[0] = "<li>{{> price}}</li>";
    parse_fails("{{#items}}\n{{>card}}\n{{/items}}", &p,
                RS_TPL_STRICT_PARTIALS,
                "card:1: partial \"price\" not found"
                " (partial included from carousel.mustache:2)");

    /* no loader at all */
    parse_fails("{{>card}}", NULL, RS_TPL_STRICT_PARTIALS,
                "carousel.mustache:1: partial \"card\" not found");

    /* a loader failure is an error even when not strict */
    p.error = 1;
    parse_fails("\n{{>card}}", &p, 0,
                "carousel.mustache:2: cannot load partial \"card\"");

    err[0] = '\0';
    ck_assert_int_eq(rs_tpl_parse(&t, "{{>card}}", 9, "x", 0, loader, &p,
                                  err, 3),
                     -1);
    ck_assert_str_eq(err, "x:");
}
END_TEST


START_TEST(test_depth_limit)
{
    int         rc;
    char        json[4096], *s;
    size_t      i, depth;
    out_t       out;
    json_t     *ctx;
    rs_tpl_t   *t;
    partials_t  p;

    memset(&p, 0, sizeof(p));
    p.names[0] = "node";
    p.srcs[0] = "({{name}}{{#child}}{{>node}}{{/child}})";

    /* a section and a partial call per level */
    for (depth = 20; depth <= 40; depth += 20) {
        s = json;

        for (i = 0; i < depth; i++) {
            s += sprintf(s, "{\"name\": %zu, \"child\": ", i);
        }

        s += sprintf(s, "null");

        for (i = 0; i < depth; i++) {
            *s++ = '}';
        }

        *s = '\0';

        ctx = json_loads(json, 0, NULL);
        ck_assert_ptr_nonnull(ctx);
        t = parse_ok("{{>node}}", &p, 0);

        memset(&out, 0, sizeof(out));
        rc = rs_tpl_render(t, ctx, collect, &out);

        if (depth == 20) {
            ck_assert_int_eq(rc, 0);
            ck_assert(strncmp(out.buf, "(0(1(2(3", 8) == 0);
            ck_assert(strstr(out.buf, "(19)))") != NULL);

        } else {
            ck_assert_int_eq(rc, RS_TPL_TOO_DEEP);
        }

        rs_tpl_free(t);
        json_decref(ctx);
    }

    /* recursion that the data does not end */
    p.names[1] = "self";
    p.srcs[1] = "x{{>self}}";
    t = parse_ok("{{>self}}", &p, 0);
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, NULL, collect, &out), RS_TPL_TOO_DEEP);
    rs_tpl_free(t);

    /* and a self-referencing context that a section does */
    t = parse_ok("{{#a}}{{#a}}{{#a}}.{{/a}}{{/a}}{{/a}}", NULL, 0);
    ctx = json_pack("{s:{s:i}}", "a", "b", 1);
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert_str_eq(out.buf, ".");
    rs_tpl_free(t);
    json_decref(ctx);
}
END_TEST


START_TEST(test_carousel)
{
    out_t        out;
    json_t      *ctx;
    rs_tpl_t    *t;
    partials_t   p;

    memset(&p, 0, sizeof(p));
    p.names[0] = "card";
    p.srcs[0] = card_tpl;

    t = parse_ok(carousel_tpl, &p, RS_TPL_STRICT_PARTIALS);

    ctx = json_loads("{\"title\": \"Similar <items>\", \"narrative\": null,"
                     " \"items\": [{\"id\": \"a1\", \"title\": \"Ghost 15\","
                     " \"url\": \"/p/a1?x=1&y=2\", \"image\": \"/i/a1.jpg\","
                     " \"price\": 79.99, \"currency\": \"EUR\"},"
                     " {\"id\": \"b2\", \"title\": \"Rock & Roll\","
                     " \"url\": \"/p/b2\", \"image\": null,"
                     " \"price\": null, \"currency\": null}]}", 0, NULL);
    ck_assert_ptr_nonnull(ctx);

    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert_str_eq(out.buf,
        "<section class=\"rs-carousel\">\n"
        "  <h2>Similar &lt;items&gt;</h2>\n"
        "  <ul>\n"
        "    <li data-id=\"a1\">\n"
        "      <a href=\"/p/a1?x=1&amp;y=2\"><img src=\"/i/a1.jpg\""
        " alt=\"Ghost 15\"></a>\n"
        "      <b>79.99 EUR</b>\n"
        "    </li>\n"
        "    <li data-id=\"b2\">\n"
        "      <a href=\"/p/b2\"><img src=\"\" alt=\"Rock &amp; Roll\">"
        "</a>\n"
        "      \n"
        "    </li>\n"
        "  </ul>\n"
        "</section>\n");

    /* one write for the whole fragment */
    ck_assert_uint_eq(out.writes, 1);
    json_decref(ctx);

    /* a narrative replaces the heading; no items, the empty message */
    ctx = json_pack("{s:s, s:s, s:[]}", "title", "t", "narrative",
                    "Because you viewed <b>boots</b>", "items");
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert_str_eq(out.buf,
        "<section class=\"rs-carousel\">\n"
        "  <p class=\"rs-narrative\">Because you viewed &lt;b&gt;boots"
        "&lt;/b&gt;</p>\n"
        "  <ul>\n"
        "  </ul>\n"
        "  <p>No recommendations.</p>\n"
        "</section>\n");

    /* the same template renders again and again */
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert(strstr(out.buf, "No recommendations") != NULL);

    json_decref(ctx);
    rs_tpl_free(t);
}
END_TEST


START_TEST(test_partial_indentation)
{
    out_t       out;
    partials_t  p;

    memset(&p, 0, sizeof(p));
    p.names[0] = "outer";
    p.srcs[0] = "<div>\n  {{>inner}}\n</div>\n";
    p.names[1] = "inner";
    p.srcs[1] = "<p>\n{{{body}}}\n</p>\n";

    /* standalone partials indent their own lines, cumulatively, but not
     * the lines of interpolated data */
    ck_assert_str_eq(render("<main>\n  {{>outer}}\n</main>\n",
                            "{\"body\": \"a\\nb\"}", &p, &out),
                     "<main>\n"
                     "  <div>\n"
                     "    <p>\n"
                     "    a\n"
                     "b\n"
                     "    </p>\n"
                     "  </div>\n"
                     "</main>\n");

    /* an inline partial is not indented, nor what it includes */
    ck_assert_str_eq(render("  x {{>outer}}|", "{\"body\": \"a\"}", &p,
                            &out),
                     "  x <div>\n"
                     "  <p>\n"
                     "  a\n"
                     "  </p>\n"
                     "</div>\n|");
}
END_TEST


START_TEST(test_numbers)
{
    out_t  out;

    ck_assert_str_eq(render("{{#p}}{{.}} {{/p}}",
                            "{\"p\": [79.99, 100.0, 100, -5, 0.1, 1.21,"
                            " 19.9, 1e21, 1.5e-7, 0.30000000000000004,"
                            " 9007199254740993, 12.5]}",
                            NULL, &out),
                     "79.99 100 100 -5 0.1 1.21 19.9 1e+21 1.5e-07"
                     " 0.30000000000000004 9007199254740993 12.5 ");

    ck_assert_str_eq(render("{{#p}}{{.}} {{/p}}",
                            "{\"p\": [-9223372036854775808,"
                            " 9223372036854775807, 0, -0.0, 0.0, -79.9,"
                            " 0.05, 1234567890123.45, 10000000000000.5]}",
                            NULL, &out),
                     "-9223372036854775808 9223372036854775807 0 -0 0"
                     " -79.9 0.05 1234567890123.45 10000000000000.5 ");

    ck_assert_str_eq(render("{{t}} {{f}} [{{n}}] [{{o}}] [{{a}}]",
                            "{\"t\": true, \"f\": false, \"n\": null,"
                            " \"o\": {\"x\": 1}, \"a\": [1]}",
                            NULL, &out),
                     "true false [] [] []");

    /* "" and 0 are truthy, as in the reference implementation; only
     * false, null, an empty list and a miss are falsey */
    ck_assert_str_eq(render("{{#s}}s{{/s}}{{#z}}z{{/z}}{{#f}}f{{/f}}"
                            "{{#n}}n{{/n}}{{#e}}e{{/e}}{{#m}}m{{/m}}"
                            "{{#o}}o{{/o}}",
                            "{\"s\": \"\", \"z\": 0, \"f\": false,"
                            " \"n\": null, \"e\": [], \"o\": {}}",
                            NULL, &out),
                     "szo");
}
END_TEST


START_TEST(test_contexts)
{
    out_t  out;

    ck_assert_str_eq(render("[{{.}}]", "\"plain\"", NULL, &out),
                     "[plain]");
    ck_assert_str_eq(render("{{#.}}<{{.}}>{{/.}}", "[1, \"a\", true]",
                            NULL, &out),
                     "<1><a><true>");

    /* custom delimiters, triple form included */
    ck_assert_str_eq(render("{{=<% %>=}}<%a%>|<%{a}%>|{{a}}", "{\"a\": \"&\"}",
                            NULL, &out),
                     "&amp;|&|{{a}}");

    /* a template of text only, and an empty one */
    ck_assert_str_eq(render("no tags at all", "{}", NULL, &out),
                     "no tags at all");
    ck_assert_str_eq(render("", "{}", NULL, &out), "");
    ck_assert_uint_eq(out.writes, 0);
}
END_TEST


START_TEST(test_write_errors)
{
    char       *big;
    size_t      n;
    out_t       out;
    json_t     *ctx;
    rs_tpl_t   *t;

    /* more than the render buffer, in one piece and in many */
    big = malloc(10001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 10000);
    big[10000] = '\0';

    ctx = json_pack("{s:s, s:[]}", "big", big, "list");
    for (n = 0; n < 3000; n++) {
        json_array_append_new(json_object_get(ctx, "list"),
                              json_string("<>"));
    }

    t = parse_ok("{{big}}{{#list}}{{.}}{{/list}}", NULL, 0);

    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out), 0);
    ck_assert_uint_eq(out.len, 10000 + 3000 * 8);
    ck_assert(memcmp(out.buf, big, 10000) == 0);
    ck_assert(memcmp(out.buf + 10000, "&lt;&gt;&lt;&gt;", 16) == 0);

    memset(&out, 0, sizeof(out));
    out.fail_after = 2;
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out),
                     RS_TPL_WRITE_ERROR);

    memset(&out, 0, sizeof(out));
    out.fail_after = 1;
    ck_assert_int_eq(rs_tpl_render(t, ctx, collect, &out),
                     RS_TPL_WRITE_ERROR);

    rs_tpl_free(t);
    json_decref(ctx);
    free(big);
}
END_TEST


START_TEST(test_render_speed)
{
    int              i, runs;
    double           us;
    size_t           total;
    json_t          *ctx;
    rs_tpl_t        *t;
    partials_t       p;
    const char      *preload;
    struct timespec  a, b;

    memset(&p, 0, sizeof(p));
    p.names[0] = "card";
    p.srcs[0] = card_tpl;

    t = parse_ok(carousel_tpl, &p, RS_TPL_STRICT_PARTIALS);
    ctx = carousel_data(8);

    runs = 20000;
    total = 0;

    clock_gettime(CLOCK_MONOTONIC, &a);

    for (i = 0; i < runs; i++) {
        ck_assert_int_eq(rs_tpl_render(t, ctx, discard, &total), 0);
    }

    clock_gettime(CLOCK_MONOTONIC, &b);

    us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec))
         / 1e3 / runs;

    printf("tpl: 8-item carousel, %zu bytes, %.2f us per render\n",
           total / runs, us);

    /* generous: it is a few microseconds, but valgrind runs it too */
    preload = getenv("LD_PRELOAD");
    ck_assert_msg(us < ((preload && strstr(preload, "vgpreload"))
                        ? 2000.0 : 50.0),
                  "%.2f us per render", us);

    json_decref(ctx);
    rs_tpl_free(t);
}
END_TEST


static Suite *
tpl_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("tpl");

    tc = tcase_create("parse");
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_nesting_limit);
    tcase_add_test(tc, test_missing_partial);
    suite_add_tcase(s, tc);

    tc = tcase_create("render");
    tcase_add_test(tc, test_escape_script);
    tcase_add_test(tc, test_no_escape);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_carousel);
    tcase_add_test(tc, test_partial_indentation);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_contexts);
    tcase_add_test(tc, test_write_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("speed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_render_speed);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(tpl_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
