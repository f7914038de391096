#include "rsp_saip.h"

#include <stdlib.h>
#include <string.h>

#include <ProfileElement.h>
#include <ProfileHeader.h>

#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_util.h"

/* A single PE larger than this is not a profile element we can hold. */
#define PE_MAX (128u * 1024u)

static int read_header(const ProfileHeader_t *h, struct rsp_saip_info *info)
{
    /* UInt8 is constrained to 0..255, checked by rsp_asn1_decode. */
    info->major = (unsigned)h->major_version;
    info->minor = (unsigned)h->minor_version;
    if (h->profileType) {
        size_t n = (size_t)h->profileType->size;
        if (n >= sizeof(info->profile_type))
            n = sizeof(info->profile_type) - 1;
        memcpy(info->profile_type, h->profileType->buf, n);
        info->profile_type[n] = 0;
    }
    if (h->iccid.size != 10)
        return RSP_ERR_DECODE;
    return rsp_iccid_from_bcd(h->iccid.buf, 0, info->iccid);
}

int rsp_saip_parse(const uint8_t *p, size_t len, struct rsp_saip_info **out)
{
    struct rsp_saip_info *info = NULL;
    ProfileElement_t *pe = NULL;
    size_t pos = 0, cap = 0;
    struct rsp_tlv t;
    int rc;

    *out = NULL;
    if (len > RSP_SAIP_MAX)
        return RSP_ERR_TOOBIG;
    info = calloc(1, sizeof(*info));
    if (!info)
        return RSP_ERR_NOMEM;

    while ((rc = rsp_tlv_next(p, len, &pos, &t)) == 1) {
        rc = rsp_asn1_decode(&asn_DEF_ProfileElement, t.tlv, t.tlv_len, PE_MAX, (void **)&pe);
        if (rc)
            goto out;
        /* An alternative newer than our module decodes as "nothing". */
        if (pe->present == ProfileElement_PR_NOTHING) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if ((info->n_pes == 0) != (pe->present == ProfileElement_PR_header) ||
            (info->n_pes > 0 && info->pes[info->n_pes - 1].kind == ProfileElement_PR_end)) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if (pe->present == ProfileElement_PR_header &&
            (rc = read_header(pe->choice.header, info)) != 0)
            goto out;
        if (info->n_pes == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct rsp_saip_pe *np = realloc(info->pes, ncap * sizeof(*np));
            if (!np) {
                rc = RSP_ERR_NOMEM;
                goto out;
            }
            info->pes = np;
            cap = ncap;
        }
        struct rsp_saip_pe *e = &info->pes[info->n_pes++];
        e->kind = (int)pe->present;
        e->name = asn_DEF_ProfileElement.elements[pe->present - 1].name;
        e->offset = (size_t)(t.tlv - p);
        e->len = t.tlv_len;
        rsp_asn1_free(&asn_DEF_ProfileElement, pe);
        pe = NULL;
    }
    if (rc)
        goto out;
    if (info->n_pes < 2 || info->pes[info->n_pes - 1].kind != ProfileElement_PR_end) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    *out = info;
    info = NULL;
out:
    rsp_asn1_free(&asn_DEF_ProfileElement, pe);
    rsp_saip_info_free(info);
    return rc;
}

void rsp_saip_info_free(struct rsp_saip_info *info)
{
    if (!info)
        return;
    free(info->pes);
    free(info);
}
