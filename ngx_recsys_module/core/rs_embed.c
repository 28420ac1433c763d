/*
 * Copyright (C) ngx_recsys authors
 */


#include <math.h>
#include <string.h>

#include "rs_embed.h"
#include "rs_util.h"


/*
 * Whole words carry the meaning; bigrams keep "running shoes" apart from
 * "shoes for running"; character 3-grams let "sneaker" meet "sneakers" and
 * survive typos.  There are many 3-grams per word, so each counts less.
 */
#define RS_EMBED_W_WORD    1.0f
#define RS_EMBED_W_BIGRAM  0.6f
#define RS_EMBED_W_CHAR3   0.2f

#define RS_EMBED_INV_SQRT2  0.70710678f

#define RS_EMBED_SEED_WORD    0x776f7264ULL
#define RS_EMBED_SEED_BIGRAM  0x62696772ULL
#define RS_EMBED_SEED_CHAR3   0x63686172ULL


typedef struct {
    const rs_embedder_t  *em;
    float                *vec;
    float                 weight;
} rs_embed_acc_t;


static size_t rs_embed_next_token(const char *text, size_t len, size_t *pos,
    char *token);
static void rs_embed_char3(const char *token, size_t n, rs_feature_pt handler,
    void *data);
static void rs_embed_accumulate(void *data, uint64_t hash, float weight);


/*
 * A token is a run of ASCII letters and digits or of non-ASCII bytes
 * (UTF-8 sequences stay whole); ASCII is lower-cased, everything else is a
 * separator.  Over-long tokens are cut, never split into two.
 */

static size_t
rs_embed_next_token(const char *text, size_t len, size_t *pos, char *token)
{
    size_t         i, n;
    unsigned char  c;

    i = *pos;

    while (i < len) {
        c = (unsigned char) text[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c >= 0x80)
        {
            break;
        }

        i++;
    }

    n = 0;

    while (i < len) {
        c = (unsigned char) text[i];

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');

        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                     || c >= 0x80))
        {
            break;
        }

        if (n < RS_EMBED_MAX_TOKEN) {
            token[n++] = (char) c;
        }

        i++;
    }

    *pos = i;

    return n;
}


static void
rs_embed_char3(const char *token, size_t n, rs_feature_pt handler,
    void *data)
{
    size_t  i;
    char    padded[RS_EMBED_MAX_TOKEN + 2];

    padded[0] = '^';
    memcpy(padded + 1, token, n);
    padded[n + 1] = '$';

    for (i = 0; i + 3 <= n + 2; i++) {
        handler(data, rs_hash64(padded + i, 3, RS_EMBED_SEED_CHAR3),
                RS_EMBED_W_CHAR3);
    }
}


void
rs_embed_features(const char *text, size_t len, unsigned kinds,
    rs_feature_pt handler, void *data)
{
    size_t    pos, n, prev_n;
    uint64_t  prev_hash, hash;
    char      token[RS_EMBED_MAX_TOKEN];

    pos = 0;
    prev_n = 0;
    prev_hash = 0;

    for ( ;; ) {
        n = rs_embed_next_token(text, len, &pos, token);
        if (n == 0) {
            break;
        }

        hash = rs_hash64(token, n, RS_EMBED_SEED_WORD);

        if (kinds & RS_EMBED_WORDS) {
            handler(data, hash, RS_EMBED_W_WORD);
        }

        if (prev_n && (kinds & RS_EMBED_BIGRAMS)) {
            handler(data, rs_hash64(&hash, sizeof(hash),
                                    prev_hash ^ RS_EMBED_SEED_BIGRAM),
                    RS_EMBED_W_BIGRAM);
        }

        if (kinds & RS_EMBED_CHAR3) {
            rs_embed_char3(token, n, handler, data);
        }

        prev_n = n;
        prev_hash = hash;
    }
}


uint32_t
rs_embed_idf_slot(const rs_embedder_t *em, uint64_t hash)
{
    /* the low bits pick the dimension; the idf slot uses the high ones */
    return (uint32_t) (hash >> (64 - em->idf_bits));
}


static void
rs_embed_accumulate(void *data, uint64_t hash, float weight)
{
    float            w;
    rs_embed_acc_t  *acc;

    acc = data;

    w = weight * acc->weight * acc->em->idf[rs_embed_idf_slot(acc->em, hash)]
        * RS_EMBED_INV_SQRT2;

    /*
     * Signed hashing makes collisions cancel out on average, but in a few
     * hundred dimensions one unlucky collision can erase a product's most
     * telling word; two slots per feature make losing both unlikely.
     */
    acc->vec[(uint32_t) hash % acc->em->dim]
        += (hash & (1ULL << 32)) ? -w : w;
    acc->vec[(uint32_t) (hash >> 33) % acc->em->dim]
        += (hash & (1ULL << 63)) ? -w : w;
}


void
rs_embed_add(const rs_embedder_t *em, const char *text, size_t len,
    unsigned kinds, float weight, float *vec)
{
    rs_embed_acc_t  acc;

    acc.em = em;
    acc.vec = vec;
    acc.weight = weight;

    rs_embed_features(text, len, kinds, rs_embed_accumulate, &acc);
}


float
rs_embed_normalize(float *vec, uint32_t dim)
{
    double    sum;
    float     norm;
    uint32_t  i;

    sum = 0;

    for (i = 0; i < dim; i++) {
        sum += (double) vec[i] * vec[i];
    }

    if (sum <= 0) {
        return 0;
    }

    norm = (float) sqrt(sum);

    for (i = 0; i < dim; i++) {
        vec[i] /= norm;
    }

    return norm;
}


const char *
rs_embedder_type_name(rs_embedder_type_e type)
{
    return type == RS_EMBEDDER_OPENAI ? "openai" : "builtin";
}


int
rs_embedder_type_parse(const char *name, rs_embedder_type_e *type)
{
    if (strcmp(name, "builtin") == 0) {
        *type = RS_EMBEDDER_BUILTIN;

    } else if (strcmp(name, "openai") == 0) {
        *type = RS_EMBEDDER_OPENAI;

    } else {
        return -1;
    }

    return 0;
}
