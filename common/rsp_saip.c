#include "rsp_saip.h"

#include <stdlib.h>
#include <string.h>

#include <File.h>
#include <PE-MF.h>
#include <ProfileElement.h>
#include <ProfileHeader.h>
#include <ber_tlv_tag.h>

#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_util.h"

/* A single PE larger than this is not a profile element we can hold. */
#define PE_MAX (128u * 1024u)
/* Nesting bound of the DER walk, as rsp_asn1_decode's own (rsp_asn1.c). */
#define PE_DER_DEPTH 48

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

/* The ProfileElement alternative a PE's outer tag selects, from the asn1c
 * descriptor (no table of our own); ProfileElement_PR_NOTHING if none. */
static int pe_kind(const uint8_t *p, size_t len)
{
    ber_tlv_tag_t tag;

    if (ber_fetch_tag(p, len, &tag) <= 0)
        return ProfileElement_PR_NOTHING;
    for (int i = 0; i < asn_DEF_ProfileElement.elements_count; i++)
        if (asn_DEF_ProfileElement.elements[i].tag == tag)
            return i + 1;
    return ProfileElement_PR_NOTHING;
}

/* File-system elements (TCA §8.3: genericFileManagement and the
 * template-based file systems mf .. opt-iot): what a card copies into
 * files. */
static int pe_is_fs(int kind)
{
    return kind == ProfileElement_PR_genericFileManagement ||
           (kind >= ProfileElement_PR_mf && kind <= ProfileElement_PR_opt_iot);
}

int rsp_saip_parse(const uint8_t *p, size_t len, struct rsp_saip_info **out)
{
    return rsp_saip_parse_ex(p, len, 0, out);
}

int rsp_saip_parse_ex(const uint8_t *p, size_t len, unsigned flags,
                      struct rsp_saip_info **out)
{
    struct rsp_saip_info *info = NULL;
    ProfileElement_t *pe = NULL;
    size_t pos = 0, cap = 0;
    struct rsp_tlv t;
    int rc, kind;

    *out = NULL;
    if (len > RSP_SAIP_MAX)
        return RSP_ERR_TOOBIG;
    info = calloc(1, sizeof(*info));
    if (!info)
        return RSP_ERR_NOMEM;

    while ((rc = rsp_tlv_next(p, len, &pos, &t)) == 1) {
        kind = (flags & RSP_SAIP_FS_WALK) ? pe_kind(t.tlv, t.tlv_len) : 0;
        if (pe_is_fs(kind)) {
            /* strict DER shape only (the same check rsp_asn1_decode
             * makes before decoding) */
            rc = t.tlv_len > PE_MAX ? RSP_ERR_TOOBIG
                                    : rsp_der_check(t.tlv, t.tlv_len, PE_DER_DEPTH);
            if (rc)
                goto out;
        } else {
            rc = rsp_asn1_decode(&asn_DEF_ProfileElement, t.tlv, t.tlv_len, PE_MAX,
                                 (void **)&pe);
            if (rc)
                goto out;
            kind = (int)pe->present;
        }
        /* An alternative newer than our module decodes as "nothing". */
        if (kind == ProfileElement_PR_NOTHING) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if ((info->n_pes == 0) != (kind == ProfileElement_PR_header) ||
            (info->n_pes > 0 && info->pes[info->n_pes - 1].kind == ProfileElement_PR_end)) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if (kind == ProfileElement_PR_header &&
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
        e->kind = kind;
        e->name = asn_DEF_ProfileElement.elements[kind - 1].name;
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

/* Overwrite bytes 0..9 of a file's content with bcd, wherever the
 * fillFileContent values put them (fillFileOffset skips bytes, TCA §8.3.4).
 * RSP_ERR_DECODE unless all 10 were covered. */
static int file_set_first10(File_t *f, const uint8_t bcd[10])
{
    size_t off = 0;
    unsigned covered = 0;

    for (int i = 0; i < f->list.count; i++) {
        struct File__Member *m = f->list.array[i];
        if (m->present == File__Member_PR_fillFileOffset) {
            if (m->choice.fillFileOffset < 0)
                return RSP_ERR_DECODE;
            off += (size_t)m->choice.fillFileOffset;
        } else if (m->present == File__Member_PR_fillFileContent) {
            OCTET_STRING_t *os = &m->choice.fillFileContent;
            for (size_t k = 0; k < (size_t)os->size && off + k < 10; k++) {
                os->buf[k] = bcd[off + k];
                covered |= 1u << (off + k);
            }
            off += (size_t)os->size;
        }
        if (off > PE_MAX)
            return RSP_ERR_DECODE;
    }
    return covered == 0x3FFu ? RSP_OK : RSP_ERR_DECODE;
}

/* Decode the PE-Header or the MF element, put the new ICCID in, encode it
 * onto out. */
static int pe_rewrite(const uint8_t *p, size_t len, const uint8_t plain[10],
                      const uint8_t swapped[10], struct rsp_buf *out)
{
    ProfileElement_t *pe = NULL;
    int rc = rsp_asn1_decode(&asn_DEF_ProfileElement, p, len, PE_MAX, (void **)&pe);
    if (rc)
        return rc;
    if (pe->present == ProfileElement_PR_header) {
        OCTET_STRING_t *ic = &pe->choice.header->iccid;
        if (ic->size != 10) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        memcpy(ic->buf, plain, 10);
    } else if ((rc = file_set_first10(&pe->choice.mf->ef_iccid, swapped)) != 0) {
        goto out;
    }
    rc = rsp_asn1_encode(&asn_DEF_ProfileElement, pe, out);
out:
    rsp_asn1_free(&asn_DEF_ProfileElement, pe);
    return rc;
}

int rsp_saip_set_iccid(const uint8_t *p, size_t len, const char *iccid, struct rsp_buf *out)
{
    struct rsp_saip_info *info = NULL;
    uint8_t plain[10], swapped[10];
    int rc, mf = 0;

    if (!p || !out || rsp_iccid_to_bcd(iccid, 0, plain) || rsp_iccid_to_bcd(iccid, 1, swapped))
        return RSP_ERR_INVAL;
    if ((rc = rsp_saip_parse(p, len, &info)) != 0)
        return rc;
    for (size_t i = 0; i < info->n_pes && rc == 0; i++) {
        const struct rsp_saip_pe *e = &info->pes[i];
        if (e->kind == ProfileElement_PR_header || e->kind == ProfileElement_PR_mf) {
            mf += e->kind == ProfileElement_PR_mf;
            rc = pe_rewrite(p + e->offset, e->len, plain, swapped, out);
        } else {
            rc = rsp_buf_append(out, p + e->offset, e->len);
        }
    }
    /* EF.ICCID is mandatory in the MF element; a package without one
     * would keep the old ICCID on the card */
    if (rc == 0 && mf != 1)
        rc = RSP_ERR_DECODE;
    if (rc)
        rsp_buf_free(out);
    rsp_saip_info_free(info);
    return rc;
}
