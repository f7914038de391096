/* smdp_ac.c - activation codes, matching IDs, confirmation code hashes. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "rsp_err.h"
#include "smdp_ac.h"

/* 32 symbols so that 5 random bits map to one symbol without bias; 0/O and
 * 1/I are left out because people retype these codes. */
static const char mid_alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

int smdp_matching_id_generate(char out[SMDP_MATCHING_ID_LEN + 1])
{
    uint8_t rnd[20];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return RSP_ERR_CRYPTO;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        if (i && i % 5 == 0)
            out[o++] = '-';
        out[o++] = mid_alphabet[rnd[i] & 31];
    }
    out[o] = '\0';
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return RSP_OK;
}

int smdp_matching_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '-'))
            return 0;
    }
    return 1;
}

int smdp_fqdn_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int smdp_activation_code(const char *fqdn, const char *matching_id, int cc_required,
                         char *out, size_t outlen)
{
    if (!smdp_fqdn_valid(fqdn) || !smdp_matching_id_valid(matching_id) || !out)
        return RSP_ERR_INVAL;
    int n = snprintf(out, outlen, "LPA:1$%s$%s%s", fqdn, matching_id, cc_required ? "$$1" : "");
    if (n < 0)
        return RSP_ERR_INVAL;
    if ((size_t)n >= outlen)
        return RSP_ERR_TOOBIG;
    return n;
}

static int sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    unsigned int olen = 0;
    int rc = RSP_ERR_CRYPTO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return RSP_ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, a, alen) == 1 &&
        (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
        EVP_DigestFinal_ex(ctx, out, &olen) == 1 && olen == 32)
        rc = RSP_OK;
    EVP_MD_CTX_free(ctx);
    return rc;
}

int smdp_cc_hash(const char *code, uint8_t out[32])
{
    if (!code || !*code)
        return RSP_ERR_INVAL;
    return sha256_2(code, strlen(code), NULL, 0, out);
}

int smdp_cc_check(const uint8_t cc_hash[32], const uint8_t *tid, size_t tid_len,
                  const uint8_t *hash_cc, size_t hash_cc_len)
{
    uint8_t want[32];
    if (!cc_hash || !tid || !hash_cc)
        return RSP_ERR_INVAL;
    if (hash_cc_len != sizeof(want))
        return 0;
    int rc = sha256_2(cc_hash, 32, tid, tid_len, want);
    if (rc != RSP_OK)
        return rc;
    rc = CRYPTO_memcmp(want, hash_cc, sizeof(want)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}
