/*
 * rsp_saip.h - unprotected profile packages (TCA eUICC Profile Package:
 * Interoperable Format Technical Specification v3.3.1, §8: a profile is a
 * sequence of ProfileElement values, PE-Header first and PE-End last).
 *
 * rsp_saip_parse() splits a package into its elements, decodes each one
 * strictly (rsp_asn1), refuses unknown element kinds, and reads the header.
 * Used by the SM-DP+ to import profiles and by the eUICC to install them.
 * rsp_saip_set_iccid() re-personalises a package with another ICCID.
 */
#ifndef RSP_SAIP_H
#define RSP_SAIP_H

#include <stddef.h>
#include <stdint.h>

#include "rsp_buf.h"

/* Largest package accepted (a TS.48 profile is about 12 KB). */
#define RSP_SAIP_MAX (512u * 1024u)

struct rsp_saip_pe {
    int kind;            /* ProfileElement alternative (ProfileElement_PR) */
    const char *name;    /* its ASN.1 identifier: "header", "mf", "usim", ... */
    size_t offset;       /* where its DER starts in the package */
    size_t len;          /* DER length */
};

struct rsp_saip_info {
    unsigned major, minor;       /* PE-Header major-version, minor-version */
    char profile_type[101];      /* PE-Header profileType, "" if absent */
    char iccid[21];              /* PE-Header iccid: plain BCD, F-padded */
    size_t n_pes;
    struct rsp_saip_pe *pes;     /* n_pes entries, in package order */
};

/* Parse p[0..len). [out] *out, freed with rsp_saip_info_free(); NULL on error.
 * Errors: RSP_ERR_TOOBIG, RSP_ERR_DECODE (a PE that is not strict DER, of an
 * unknown kind, header not first, end not last, ICCID not BCD),
 * RSP_ERR_NOMEM. */
int rsp_saip_parse(const uint8_t *p, size_t len, struct rsp_saip_info **out);

/* The same with flags. RSP_SAIP_FS_WALK: the file-system elements
 * (genericFileManagement, mf .. opt-iot: file contents a card copies into
 * its files) get the strict DER walk and the kind from their tag instead
 * of the full asn1c decode; every other element (header, PIN/PUK codes,
 * NAA and security-domain keys, RFM, applications, end) is still decoded
 * in full. The eUICC installs this way (SGP.22 §3.1.3.3): the SM-DP+
 * decoded every element at import and the BPP carries them under its
 * session MAC; 0 is rsp_saip_parse. */
#define RSP_SAIP_FS_WALK 0x1u
int rsp_saip_parse_ex(const uint8_t *p, size_t len, unsigned flags,
                      struct rsp_saip_info **out);

void rsp_saip_info_free(struct rsp_saip_info *info);

/* Give a package another ICCID: the PE-Header iccid (plain BCD) and the
 * content of EF.ICCID (2FE2) in the MF element (nibble-swapped BCD padded
 * with F, ETSI TS 102 221 §13.2), as an SM-DP+ personalises one profile
 * template per ICCID. Those two elements are decoded and re-encoded with
 * the asn1c types; every other element is copied byte for byte.
 * EF.ICCID's content is the fillFileContent values at their
 * fillFileOffset positions (TCA §8.3.4); its first 10 bytes must be there.
 * [in]  p, len   the package (checked with rsp_saip_parse)
 *       iccid    18-20 digits (the Luhn digit is the caller's business)
 * [out] out      the new package appended (out->max is the cap; freed on
 *                error, rsp_buf semantics)
 * Errors: RSP_ERR_INVAL (ICCID not 18-20 digits), RSP_ERR_DECODE (not a
 * package, no MF element, EF.ICCID content missing or short), RSP_ERR_TOOBIG,
 * RSP_ERR_ENCODE, RSP_ERR_NOMEM. */
int rsp_saip_set_iccid(const uint8_t *p, size_t len, const char *iccid, struct rsp_buf *out);

#endif
