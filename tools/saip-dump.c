/*
 * saip-dump - print the header and the profile elements of an unprotected
 * profile package (TCA Interoperable Format, e.g. the TS.48 files in ../shared/ts48).
 *
 *   saip-dump FILE...
 *
 * Exit status: 0 if every file parsed, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp_err.h"
#include "rsp_saip.h"

static int dump(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t len = 0;
    struct rsp_saip_info *info = NULL;
    int rc = 1;

    if (!f) {
        perror(path);
        return 1;
    }
    p = malloc(RSP_SAIP_MAX + 1);
    if (p)
        len = fread(p, 1, RSP_SAIP_MAX + 1, f);
    fclose(f);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    int err = rsp_saip_parse(p, len, &info);
    if (err) {
        fprintf(stderr, "%s: %s\n", path, rsp_strerror(err));
        goto out;
    }
    printf("%s: %zu bytes, SAIP %u.%u, ICCID %s%s%s, %zu profile elements\n", path, len,
           info->major, info->minor, info->iccid, info->profile_type[0] ? ", type " : "",
           info->profile_type, info->n_pes);
    for (size_t i = 0; i < info->n_pes; i++)
        printf("  %3zu  %-22s offset %6zu  length %5zu\n", i, info->pes[i].name,
               info->pes[i].offset, info->pes[i].len);
    rc = 0;
out:
    rsp_saip_info_free(info);
    free(p);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: saip-dump FILE...\n");
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        rc |= dump(argv[i]);
    return rc;
}
