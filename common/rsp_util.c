#include "rsp_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rsp_err.h"

static const char HEX[] = "0123456789ABCDEF";

void rsp_hex_encode(const uint8_t *p, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = HEX[p[i] >> 4];
        out[2 * i + 1] = HEX[p[i] & 15];
    }
    out[2 * len] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int rsp_hex_decode(const char *s, size_t len, uint8_t *out, size_t outmax)
{
    if (len % 2)
        return RSP_ERR_DECODE;
    if (len / 2 > outmax)
        return RSP_ERR_TOOBIG;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return RSP_ERR_DECODE;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

/* Both directions go through OpenSSL's block coder; only the strictness
 * checks are ours, because EVP_DecodeBlock skips whitespace and does not
 * report padding. Work in chunks to bound the stack buffer. */
#define B64_CHUNK 3072  /* multiple of 3 and of 4 */

int rsp_base64_encode(const uint8_t *p, size_t len, struct rsp_buf *out)
{
    unsigned char tmp[B64_CHUNK / 3 * 4 + 1];

    while (len) {
        size_t n = len > B64_CHUNK ? B64_CHUNK : len;
        int m = EVP_EncodeBlock(tmp, p, (int)n);
        int rc = rsp_buf_append(out, tmp, (size_t)m);
        if (rc)
            return rc;
        p += n;
        len -= n;
    }
    return RSP_OK;
}

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static unsigned b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0' + 52);
    return c == '+' ? 62u : 63u;
}

int rsp_base64_decode(const char *s, size_t len, struct rsp_buf *out)
{
    unsigned char tmp[B64_CHUNK / 4 * 3];
    size_t pad = 0;

    if (len % 4)
        return RSP_ERR_DECODE;
    if (len && s[len - 1] == '=')
        pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(s[i]))
            return RSP_ERR_DECODE;
    /* RFC 4648 §3.5: the pad bits of the last character must be zero, or
     * several texts decode to the same bytes (one canonical form only). */
    if (pad && (b64_value(s[len - pad - 1]) & (pad == 1 ? 0x03 : 0x0F)))
        return RSP_ERR_DECODE;
    while (len) {
        size_t n = len > B64_CHUNK ? B64_CHUNK : len;
        int m = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
        if (m < 0)
            return RSP_ERR_DECODE;
        if (n == len)
            m -= (int)pad;
        int rc = rsp_buf_append(out, tmp, (size_t)m);
        if (rc)
            return rc;
        s += n;
        len -= n;
    }
    return RSP_OK;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static unsigned mod97(const char *s, size_t n)
{
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r = (r * 10 + (unsigned)(s[i] - '0')) % 97;
    return r;
}

int rsp_eid_check(const char *eid)
{
    if (!eid || strlen(eid) != 32 || !all_digits(eid, 32))
        return RSP_ERR_EID;
    return mod97(eid, 32) == 1 ? RSP_OK : RSP_ERR_EID;
}

int rsp_eid_set_check_digits(char *eid)
{
    if (!eid || strlen(eid) != 32 || !all_digits(eid, 30))
        return RSP_ERR_EID;
    unsigned r = (mod97(eid, 30) * 100) % 97;
    unsigned cd = 98 - r;
    eid[30] = (char)('0' + cd / 10);
    eid[31] = (char)('0' + cd % 10);
    return RSP_OK;
}

int rsp_eid_to_bytes(const char *eid, uint8_t out[16])
{
    if (!eid || strlen(eid) != 32 || !all_digits(eid, 32))
        return RSP_ERR_EID;
    return rsp_hex_decode(eid, 32, out, 16) == 16 ? RSP_OK : RSP_ERR_EID;
}

void rsp_eid_from_bytes(const uint8_t in[16], char out[33])
{
    rsp_hex_encode(in, 16, out);
}

int rsp_luhn_digit(const char *digits, size_t n)
{
    unsigned sum = 0;
    /* Double every second digit counting from the right of the payload,
     * starting with the rightmost one (the check digit follows it). */
    for (size_t i = 0; i < n; i++) {
        char c = digits[n - 1 - i];
        if (c < '0' || c > '9')
            return -1;
        unsigned d = (unsigned)(c - '0');
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (int)((10 - sum % 10) % 10);
}

int rsp_iccid_to_bcd(const char *iccid, int swapped, uint8_t out[10])
{
    size_t n = iccid ? strlen(iccid) : 0;
    if (n < 18 || n > 20 || !all_digits(iccid, n))
        return RSP_ERR_INVAL;
    for (size_t i = 0; i < 10; i++) {
        uint8_t a = 2 * i < n ? (uint8_t)(iccid[2 * i] - '0') : 0xF;
        uint8_t b = 2 * i + 1 < n ? (uint8_t)(iccid[2 * i + 1] - '0') : 0xF;
        out[i] = swapped ? (uint8_t)(b << 4 | a) : (uint8_t)(a << 4 | b);
    }
    return RSP_OK;
}

int rsp_iccid_from_bcd(const uint8_t in[10], int swapped, char out[21])
{
    size_t n = 0;
    int ended = 0;
    for (size_t i = 0; i < 20; i++) {
        uint8_t byte = in[i / 2];
        int first = (i % 2 == 0);
        uint8_t nib = (first ^ !swapped) ? (byte & 0xF) : (byte >> 4);
        if (nib == 0xF) {
            ended = 1;
            continue;
        }
        if (nib > 9 || ended)
            return RSP_ERR_DECODE;
        out[n++] = (char)('0' + nib);
    }
    out[n] = 0;
    return n >= 18 ? RSP_OK : RSP_ERR_DECODE;
}

int rsp_iccid_check(const char *iccid)
{
    size_t n = iccid ? strlen(iccid) : 0;
    if ((n != 19 && n != 20) || !all_digits(iccid, n))
        return RSP_ERR_INVAL;
    return rsp_luhn_digit(iccid, n - 1) == iccid[n - 1] - '0' ? RSP_OK : RSP_ERR_INVAL;
}

int rsp_file_read(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t n = 0, cap = 0;
    int rc = RSP_ERR_IO;

    *buf = NULL;
    *len = 0;
    if (!f)
        return RSP_ERR_IO;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *np;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap == cap) {
                rc = RSP_ERR_TOOBIG;
                goto out;
            }
            np = realloc(p, ncap);
            if (!np) {
                rc = RSP_ERR_NOMEM;
                goto out;
            }
            p = np;
            cap = ncap;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                goto out;
            break;
        }
    }
    *buf = p;
    *len = n;
    p = NULL;
    rc = RSP_OK;
out:
    free(p);
    fclose(f);
    return rc;
}

int rsp_ipv4_addr_parse(const char *s, long port_min, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = s ? strrchr(s, ':') : NULL;
    char *end;
    long port;

    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
        return RSP_ERR_INVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < port_min || port > 65535)
        return RSP_ERR_INVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return RSP_ERR_INVAL;
    return RSP_OK;
}
