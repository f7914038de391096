/* lpa_ac.c - Activation Code parsing (SGP.22 §4.1). Character sets and the
 * choices made where the text leaves room are in spec-notes/lpa.md. */
#include <string.h>

#include "lpa.h"
#include "rsp_err.h"

#define AC_FIELDS_MAX 5

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* FQDN (letters, digits, '-' in labels of 1..63, '.' between them), then an
 * optional ":port" of 1..5 digits. */
static int check_address(const char *s, size_t n)
{
    size_t i = 0, label = 0;

    if (n == 0)
        return RSP_ERR_DECODE;
    for (; i < n && s[i] != ':'; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return RSP_ERR_DECODE;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || c == '-') {
            if ((label == 0 && c == '-') || ++label > 63)
                return RSP_ERR_DECODE;
        } else {
            return RSP_ERR_DECODE;
        }
    }
    if (label == 0 || s[i - 1] == '-')
        return RSP_ERR_DECODE;
    if (i == n)
        return RSP_OK;
    size_t digits = n - i - 1;
    if (digits == 0 || digits > 5)
        return RSP_ERR_DECODE;
    for (i++; i < n; i++)
        if (!is_digit(s[i]))
            return RSP_ERR_DECODE;
    return RSP_OK;
}

static int check_matching_id(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
            return RSP_ERR_DECODE;
    return RSP_OK;
}

/* Dotted decimal OID with at least two arcs, the first 0..2. */
static int check_oid(const char *s, size_t n)
{
    size_t arcs = 0, len = 0;

    if (n == 0 || s[0] < '0' || s[0] > '2')
        return RSP_ERR_DECODE;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (len == 0)
                return RSP_ERR_DECODE;
            arcs++;
            len = 0;
        } else if (is_digit(s[i])) {
            len++;
        } else {
            return RSP_ERR_DECODE;
        }
    }
    return arcs >= 2 ? RSP_OK : RSP_ERR_DECODE;
}

int lpa_ac_parse(const char *s, struct lpa_activation_code *out)
{
    const char *f[AC_FIELDS_MAX];
    size_t flen[AC_FIELDS_MAX];
    size_t n, nf = 0, start = 0;
    int rc = RSP_ERR_DECODE;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!s)
        return RSP_ERR_INVAL;
    /* The "LPA:" scheme of the QR code; QR encoders may lower-case it. */
    if ((s[0] == 'L' || s[0] == 'l') && (s[1] == 'P' || s[1] == 'p') &&
        (s[2] == 'A' || s[2] == 'a') && s[3] == ':')
        s += 4;
    n = strnlen(s, LPA_AC_MAX + 1);
    if (n > LPA_AC_MAX)
        return RSP_ERR_TOOBIG;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '$')
            continue;
        if (nf == AC_FIELDS_MAX)
            goto out;
        f[nf] = s + start;
        flen[nf] = i - start;
        nf++;
        start = i + 1;
    }
    if (nf < 3)
        goto out;
    if (flen[0] != 1 || f[0][0] != '1')
        goto out;
    if (check_address(f[1], flen[1]) < 0 || check_matching_id(f[2], flen[2]) < 0)
        goto out;
    if (nf >= 4 && flen[3] && check_oid(f[3], flen[3]) < 0)
        goto out;
    /* The flag is "1" when present; a trailing empty field is not a flag. */
    if (nf == 5 && (flen[4] != 1 || f[4][0] != '1'))
        goto out;
    memcpy(out->address, f[1], flen[1]);
    memcpy(out->matching_id, f[2], flen[2]);
    if (nf >= 4)
        memcpy(out->oid, f[3], flen[3]);
    out->cc_required = nf == 5;
    return RSP_OK;
out:
    memset(out, 0, sizeof(*out));
    return rc;
}
