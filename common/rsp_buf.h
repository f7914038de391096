/*
 * rsp_buf.h - growable byte buffer with a hard cap.
 *
 * Like curl's dynbuf: every append checks the cap set at init time and a
 * failed append frees the whole buffer, so a caller never keeps a half-built
 * message. rsp_buf_free() wipes the bytes (buffers may hold keys).
 */
#ifndef RSP_BUF_H
#define RSP_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rsp_buf {
    uint8_t *data;   /* NULL until the first append */
    size_t len;
    size_t cap;      /* allocated size */
    size_t max;      /* hard cap on len */
};

/* Initialise an empty buffer that may grow up to max bytes. No allocation. */
void rsp_buf_init(struct rsp_buf *b, size_t max);

/* Append n bytes. On failure (RSP_ERR_TOOBIG, RSP_ERR_NOMEM) the buffer is
 * freed and left empty but initialised with the same cap. */
int rsp_buf_append(struct rsp_buf *b, const void *p, size_t n);
int rsp_buf_append_byte(struct rsp_buf *b, uint8_t c);

/* Make the buffer empty again, keeping its allocation. */
void rsp_buf_reset(struct rsp_buf *b);

/* Hand the bytes to the caller (who frees them with free()); the buffer is
 * left empty. Returns NULL for an empty buffer. */
uint8_t *rsp_buf_steal(struct rsp_buf *b, size_t *len);

/* Wipe and free the bytes; the buffer stays usable (empty). */
void rsp_buf_free(struct rsp_buf *b);

#endif
