#include <stdlib.h>

#include "rsp_test.h"
#include "rsp_util.h"

const char *test_shared_dir(void)
{
    const char *s = getenv("RSP_SHARED");
    return s ? s : "../shared";
}

const char *test_build_dir(void)
{
    const char *s = getenv("RSP_BUILD");
    return s ? s : "build";
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    long n;

    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= (16L << 20) &&
        fseek(f, 0, SEEK_SET) == 0) {
        p = malloc((size_t)n + 1);
        if (p && fread(p, 1, (size_t)n, f) == (size_t)n) {
            *len = (size_t)n;
        } else {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    return p;
}

uint8_t *test_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *p = malloc(n / 2 + 1);
    int rc = p ? rsp_hex_decode(hex, n, p, n / 2) : -1;
    if (rc < 0) {
        fprintf(stderr, "bad test vector hex: %s\n", hex);
        abort();
    }
    *len = (size_t)rc;
    return p;
}

static void dump(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "    %s (%zu): ", label, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%02X", p[i]);
    fprintf(stderr, "\n");
}

int test_bytes_eq(const char *what, const uint8_t *got, size_t got_len,
                  const uint8_t *want, size_t want_len)
{
    if (got_len == want_len && (got_len == 0 || memcmp(got, want, got_len) == 0))
        return 1;
    fprintf(stderr, "\n  mismatch: %s\n", what);
    dump("got ", got, got_len);
    dump("want", want, want_len);
    return 0;
}
