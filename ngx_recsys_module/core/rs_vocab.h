/*
 * Copyright (C) ngx_recsys authors
 *
 * The catalogue's own vocabulary for query understanding: its brands, its
 * category path levels and its price percentiles.  "recsys-index build"
 * writes it to vocab.bin; the master loads it once and the workers only
 * read it, so every lookup is allocation-free and read-only.
 *
 * The tokenizer lives here too: the build and the query side must cut and
 * normalise words identically or names would never match.
 */

#ifndef RS_VOCAB_H
#define RS_VOCAB_H


#include <stddef.h>
#include <stdint.h>

#include "rs_catalog.h"


#define RS_FILE_VOCAB        "vocab.bin"
#define RS_VOCAB_MAGIC       "RSVOCAB1"
#define RS_VOCAB_VERSION     1

#define RS_VOCAB_MAX_WORDS   8      /* longer names are never matched */
#define RS_VOCAB_MAX_DEPTH   16     /* deeper category levels are ignored */


/* token kinds */
#define RS_TOK_WORD          1      /* letters, digits, UTF-8: "32gb" */
#define RS_TOK_NUM           2      /* a plain number: 12, 1,299.99, 2k */
#define RS_TOK_CUR           3      /* $ U+20AC U+00A3 */
#define RS_TOK_DASH          4      /* - U+2013 U+2014 */
#define RS_TOK_PLUS          5
#define RS_TOK_PCT           6
#define RS_TOK_LT            7
#define RS_TOK_GT            8
#define RS_TOK_TILDE         9
#define RS_TOK_JOIN          10     /* & / . ' = may sit inside a name */
#define RS_TOK_BREAK         11     /* , ; ( ) and the rest end a phrase */

/* token flags */
#define RS_TOK_SPACE         0x01   /* whitespace before the token */
#define RS_TOK_DIGIT         0x02   /* a word that starts with a digit */
#define RS_TOK_KILO          0x04   /* a number with a "k": 2k */


typedef struct {
    size_t    start;        /* bytes of the text */
    size_t    end;
    uint32_t  norm;         /* words and numbers: offset in rs_tokens_t.norm */
    uint32_t  norm_len;
    uint32_t  stem;         /* offset in rs_tokens_t.stem */
    uint32_t  stem_len;
    double    value;        /* RS_TOK_NUM, before the "k" */
    uint8_t   kind;
    uint8_t   flags;
} rs_token_t;


/*
 * Words and numbers are laid out one space apart in norm (lower-cased,
 * Latin-1 accents folded, apostrophes and a possessive "'s" dropped) and
 * in stem (the same, each word singular), so consecutive words are one
 * contiguous key: "under armour".
 */
typedef struct {
    rs_token_t  *tok;
    size_t       max;
    size_t       n;
    char        *norm;
    char        *stem;
    size_t       size;      /* of norm and of stem */
    size_t       norm_len;
    size_t       stem_len;
    size_t       done;      /* bytes tokenised; the rest did not fit */
} rs_tokens_t;


typedef struct {
    char      magic[8];
    uint32_t  version;
    uint32_t  nbrands;
    uint32_t  nnodes;
    uint32_t  nnames;
    uint64_t  strings_len;
    uint64_t  nprices;
    double    p33;          /* over the whole catalogue */
    double    p67;
    uint64_t  checksum;     /* rs_hash64 of everything after the header */
} rs_vocab_header_t;


/* string fields are offsets into the strings, NUL-terminated */
typedef struct {
    uint32_t  name;         /* the catalogue's spelling */
    uint32_t  name_len;
    uint32_t  key;          /* normalised words */
    uint32_t  key_len;
    uint32_t  nwords;
    uint32_t  items;
} rs_vocab_brand_t;


/* one per distinct category path prefix: "Shoes", "Shoes > Running" */
typedef struct {
    uint32_t  path;         /* the catalogue's spelling of the prefix */
    uint32_t  path_len;
    uint32_t  depth;        /* 1 for a top-level category */
    uint32_t  parent;       /* index + 1, 0 at the top */
    uint32_t  items;        /* products at or below this node */
    uint32_t  nprices;
    double    p33;
    double    p67;
} rs_vocab_node_t;


/*
 * What a query may call a node's level: the whole name, and each part of
 * one that joins several, so "Keyboards & Mice" also answers to
 * "keyboard" and to "mice".
 */
typedef struct {
    uint32_t  key;          /* singular words */
    uint32_t  key_len;
    uint32_t  nwords;
    uint32_t  node;         /* index */
} rs_vocab_name_t;


typedef struct {
    void                     *blob;         /* header and the arrays */
    size_t                    blob_len;
    const rs_vocab_header_t  *header;
    const rs_vocab_brand_t   *brands;
    const rs_vocab_node_t    *nodes;
    const rs_vocab_name_t    *names;
    const char               *strings;
    uint32_t                  nbrands;
    uint32_t                  nnodes;
    uint32_t                  nnames;
    uint32_t                 *brand_slots;  /* brand index + 1 */
    uint32_t                 *level_slots;  /* first name + 1 of a chain */
    uint32_t                 *level_next;   /* per name: next name + 1 */
    uint32_t                  brand_mask;
    uint32_t                  level_mask;
    uint32_t                  max_brand_words;
    uint32_t                  max_level_words;
} rs_vocab_t;


int rs_vocab_build(rs_vocab_t **out, const rs_catalog_t *cat, char *err,
    size_t errlen);
int rs_vocab_write(const rs_vocab_t *v, const char *path, char *err,
    size_t errlen);
int rs_vocab_load(rs_vocab_t **out, const char *path, char *err,
    size_t errlen);
void rs_vocab_free(rs_vocab_t *v);

/* key: normalised words one space apart; 0 when absent */
uint32_t rs_vocab_brand(const rs_vocab_t *v, const char *key, size_t len);
/* key: singular words; a name + 1, chained by item count, most first */
uint32_t rs_vocab_level(const rs_vocab_t *v, const char *key, size_t len);

void rs_tokenize(rs_tokens_t *t, const char *text, size_t len);


static inline const char *
rs_vocab_str(const rs_vocab_t *v, uint32_t off)
{
    return v->strings + off;
}


#endif /* RS_VOCAB_H */
