#include "rsp_buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "rsp_err.h"

void rsp_buf_init(struct rsp_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int rsp_buf_append(struct rsp_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return RSP_OK;
    if (n > b->max || b->len > b->max - n) {
        rsp_buf_free(b);
        return RSP_ERR_TOOBIG;
    }
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n)
            ncap = ncap > b->max / 2 ? b->max : ncap * 2;
        /* Not realloc: the old block may hold key material and must be
         * wiped, which realloc would not do when it moves the block. */
        uint8_t *nd = malloc(ncap);
        if (!nd) {
            rsp_buf_free(b);
            return RSP_ERR_NOMEM;
        }
        if (b->len)
            memcpy(nd, b->data, b->len);
        if (b->data) {
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RSP_OK;
}

int rsp_buf_append_byte(struct rsp_buf *b, uint8_t c)
{
    return rsp_buf_append(b, &c, 1);
}

void rsp_buf_reset(struct rsp_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->len);
    b->len = 0;
}

uint8_t *rsp_buf_steal(struct rsp_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len)
        *len = b->len;
    if (!b->len) {
        free(d);
        d = NULL;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void rsp_buf_free(struct rsp_buf *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}
