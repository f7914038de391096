/*
 * test_asn1.c - the asn1c wrapper (common/rsp_asn1.c) and the SAIP package
 * parser (common/rsp_saip.c).
 *
 *   ts48        the TS.48 test profiles: parse, PE counts, byte-identical
 *               round trip of every PE, the header's ICCID
 *   rt_*        SGP.22 v2.5 messages built in C: tag on the wire (tags taken
 *               from asn1/RSPDefinitions.asn), decode, re-encode, compare
 *   named_bits  PprIds known bytes (asn1c does not trim named BIT STRINGs)
 *   inherit     constraints still checked after first use (asn1c inherit
 *               bug, asn1/fix-inherit.sh)
 *   bad_*       hostile input: error, nothing leaks (ASan/LSan)
 *   tlv         the TLV helpers
 *   torture     every allocation failing in turn (tests/torture.c)
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <AuthenticateClientRequest.h>
#include <AuthenticateResponseError.h>
#include <AuthenticateResponseOk.h>
#include <AuthenticateServerRequest.h>
#include <AuthenticateServerResponse.h>
#include <BoundProfilePackage.h>
#include <CancelSessionRequest.h>
#include <CancelSessionRequestEs9.h>
#include <CancelSessionResponseOk.h>
#include <CertificationDataObject.h>
#include <CtxParamsForCommonAuthentication.h>
#include <DeleteProfileRequest.h>
#include <DisableProfileRequest.h>
#include <DpProprietaryData.h>
#include <EUICCInfo1.h>
#include <EUICCInfo2.h>
#include <EnableProfileRequest.h>
#include <EuiccConfiguredAddressesRequest.h>
#include <EuiccConfiguredAddressesResponse.h>
#include <EuiccMemoryResetRequest.h>
#include <GetBoundProfilePackageRequest.h>
#include <GetEuiccChallengeRequest.h>
#include <GetEuiccChallengeResponse.h>
#include <GetEuiccDataRequest.h>
#include <GetEuiccDataResponse.h>
#include <GetRatRequest.h>
#include <GetRatResponse.h>
#include <HandleNotification.h>
#include <InitiateAuthenticationRequest.h>
#include <ListNotificationRequest.h>
#include <ListNotificationResponse.h>
#include <LoadCRLRequest.h>
#include <NotificationConfigurationInformation.h>
#include <NotificationMetadata.h>
#include <NotificationSentRequest.h>
#include <OperatorId.h>
#include <OtherSignedNotification.h>
#include <PrepareDownloadRequest.h>
#include <PrepareDownloadResponse.h>
#include <PrepareDownloadResponseError.h>
#include <PrepareDownloadResponseOk.h>
#include <ProfileElement.h>
#include <ProfileHeader.h>
#include <ProfileInfo.h>
#include <ProfileInfoListRequest.h>
#include <ProfileInfoListResponse.h>
#include <ProfileInstallationResult.h>
#include <ProfilePolicyAuthorisationRule.h>
#include <RetrieveNotificationsListRequest.h>
#include <SetDefaultDpAddressRequest.h>
#include <SetNicknameRequest.h>
#include <SuccessResult.h>

#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "torture.h"

#define MSG_MAX (1u << 20)

/* Values used in the messages. */
#define TID    "0102030405060708090A0B0C0D0E0F10"           /* TransactionId */
#define CHAL   "000102030405060708090A0B0C0D0E0F"           /* Octet16 */
#define SCHAL  "F0E0D0C0B0A090807060504030201000"           /* Octet16 */
#define SKI    "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"   /* 20 bytes */
#define SKI2   "C0BC70BA36929D43B467FF57570530E57AB8FCD8"
#define ICCID  "98001032547698103214"  /* 89000123456789012341, swapped BCD */
#define ICCID2 "98001032547698103222"
#define EID    "89049032123451234512345678901235"
#define AID    "A0000005591010FFFFFFFF8900001000"
#define OID    "2B06010401868D1F01"    /* 1.3.6.1.4.1.99999.1 (contents) */
#define ADDR   "smdp.example.com"

/* ---- building blocks ------------------------------------------------ */

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        fprintf(stderr, "test_asn1: out of memory\n");
        abort();
    }
    return p;
}

#define NEW(type) ((type *)zalloc(sizeof(type)))

/* An exact-size heap copy, so that ASan sees any read past the end. */
static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = zalloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* Fill an empty OCTET STRING (or Iccid, OBJECT IDENTIFIER...) from hex. */
static void hexset(OCTET_STRING_t *os, const char *hex)
{
    size_t n;
    os->buf = test_hex(hex, &n);
    os->size = (int)n;
}

static OCTET_STRING_t *hexnew(const char *hex)
{
    OCTET_STRING_t *os = NEW(OCTET_STRING_t);
    hexset(os, hex);
    return os;
}

/* Fill an empty OCTET STRING with n bytes seed, seed+1, ... */
static void pattern(OCTET_STRING_t *os, size_t n, uint8_t seed)
{
    os->buf = zalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        os->buf[i] = (uint8_t)(seed + i);
    os->size = (int)n;
}

static void text(OCTET_STRING_t *os, const char *s)
{
    size_t n = strlen(s);
    os->buf = zalloc(n + 1);
    memcpy(os->buf, s, n);
    os->size = (int)n;
}

static OCTET_STRING_t *textnew(const char *s)
{
    OCTET_STRING_t *os = NEW(OCTET_STRING_t);
    text(os, s);
    return os;
}

static void any(ANY_t *a, const char *hex)
{
    size_t n;
    a->buf = test_hex(hex, &n);
    a->size = (int)n;
}

/* OBJECT IDENTIFIER contents octets (hex). */
static void oid(OBJECT_IDENTIFIER_t *o, const char *hex)
{
    size_t n;
    o->buf = test_hex(hex, &n);
    o->size = (int)n;
}

static void bits(BIT_STRING_t *bs, uint32_t mask)
{
    if (rsp_asn1_named_bits_set(bs, mask) != RSP_OK) {
        fprintf(stderr, "test_asn1: named_bits_set failed\n");
        abort();
    }
}

static BIT_STRING_t *bitsnew(uint32_t mask)
{
    BIT_STRING_t *bs = NEW(BIT_STRING_t);
    bits(bs, mask);
    return bs;
}

static long *longnew(long v)
{
    long *p = NEW(long);
    *p = v;
    return p;
}

static void add(void *list, void *item)
{
    if (ASN_SEQUENCE_ADD(list, item) != 0) {
        fprintf(stderr, "test_asn1: sequence add failed\n");
        abort();
    }
}

/* A stand-in certificate: opaque TBS and algorithm, a signature. The wire
 * form is what matters here; X.509 content is tested elsewhere. */
static void cert(Certificate_t *c, const char *tbs)
{
    any(&c->tbsCertificate, tbs);
    any(&c->signatureAlgorithm, "300A06082A8648CE3D040302");
    c->signatureValue.buf = test_hex("3006020101020102", &(size_t){0});
    c->signatureValue.size = 8;
    c->signatureValue.bits_unused = 0;
}

/* ---- the round trip helper ------------------------------------------ */

/* Encode st; check that the DER starts with the tag bytes `tag` (hex) and is
 * exactly one DER TLV; decode it back, re-encode, compare. When want (hex)
 * is given, the whole encoding must equal it. When der is given, it receives
 * the encoding (caller frees with rsp_buf_free). */
static void roundtrip(const char *what, const asn_TYPE_descriptor_t *td, const void *st,
                      const char *tag, const char *want, struct rsp_buf *der)
{
    struct rsp_buf a, b;
    struct rsp_tlv t;
    void *back = NULL;
    size_t tlen, wlen;
    uint8_t *tb = test_hex(tag, &tlen);
    uint32_t tagnum = 0;
    char label[96];

    memset(&t, 0, sizeof(t));
    for (size_t i = 0; i < tlen; i++)
        tagnum = tagnum << 8 | tb[i];
    rsp_buf_init(&a, MSG_MAX);
    rsp_buf_init(&b, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(td, st, &a), RSP_OK);
    snprintf(label, sizeof(label), "%s: tag on the wire", what);
    CU_ASSERT_BYTES(label, a.data, a.len < tlen ? a.len : tlen, tb, tlen);
    CU_ASSERT_RC(rsp_tlv_parse(a.data, a.len, &t), RSP_OK);
    CU_ASSERT(t.tag == tagnum && t.tlv_len == a.len);
    CU_ASSERT_RC(rsp_der_check(a.data, a.len, 48), RSP_OK);
    if (want) {
        uint8_t *w = test_hex(want, &wlen);
        snprintf(label, sizeof(label), "%s: known bytes", what);
        CU_ASSERT_BYTES(label, a.data, a.len, w, wlen);
        free(w);
    }
    CU_ASSERT_RC(rsp_asn1_decode(td, a.data, a.len, a.len, &back), RSP_OK);
    if (back)
        CU_ASSERT_RC(rsp_asn1_encode(td, back, &b), RSP_OK);
    snprintf(label, sizeof(label), "%s: re-encoding", what);
    CU_ASSERT_BYTES(label, b.data, b.len, a.data, a.len);
    rsp_asn1_free(td, back);
    rsp_buf_free(&b);
    if (der)
        *der = a;
    else
        rsp_buf_free(&a);
    free(tb);
}

/* Decode an exact-size copy of p[0..n) (max = n); on success free the
 * result. Returns the wrapper's code; on error the output must be NULL. */
static int dec(const asn_TYPE_descriptor_t *td, const uint8_t *p, size_t n)
{
    uint8_t *d = dup_bytes(p, n);
    void *st = (void *)d;   /* must be overwritten */
    int rc = rsp_asn1_decode(td, d, n, n, &st);
    if (rc != RSP_OK)
        CU_ASSERT(st == NULL);
    rsp_asn1_free(td, st);
    free(d);
    return rc;
}

static int dec_hex(const asn_TYPE_descriptor_t *td, const char *hex)
{
    size_t n;
    uint8_t *p = test_hex(hex, &n);
    int rc = dec(td, p, n);
    free(p);
    return rc;
}

/* ---- message builders ------------------------------------------------ */

static void fill_info1(EUICCInfo1_t *e)
{
    hexset(&e->svn, "020500");
    add(&e->euiccCiPKIdListForVerification.list, hexnew(SKI));
    add(&e->euiccCiPKIdListForVerification.list, hexnew(SKI2));
    add(&e->euiccCiPKIdListForSigning.list, hexnew(SKI));
}

static void fill_info2(EUICCInfo2_t *e)
{
    hexset(&e->profileVersion, "020301");
    hexset(&e->svn, "020500");
    hexset(&e->euiccFirmwareVer, "010203");
    hexset(&e->extCardResource, "8101008204000493E0830400003C00");
    bits(&e->uiccCapability, 1u << UICCCapability_usimSupport |
         1u << UICCCapability_isimSupport | 1u << UICCCapability_akaMilenage |
         1u << UICCCapability_javacard | 1u << UICCCapability_berTlvFileSupport |
         1u << UICCCapability_getIdentity | 1u << UICCCapability_profile_b_p256);
    e->ts102241Version = hexnew("090200");
    bits(&e->rspCapability, 0x17);   /* additionalProfile, crl, rpm, deviceInfoExt */
    add(&e->euiccCiPKIdListForVerification.list, hexnew(SKI));
    add(&e->euiccCiPKIdListForSigning.list, hexnew(SKI));
    e->euiccCategory = longnew(EUICCInfo2__euiccCategory_mediumEuicc);
    e->forbiddenProfilePolicyRules = bitsnew(1u << 1);
    hexset(&e->ppVersion, "010000");
    text(&e->sasAcreditationNumber, "GS-TEST-SAS-0001");
    e->certificationDataObject = NEW(CertificationDataObject_t);
    text(&e->certificationDataObject->platformLabel, "1.2.840.1234567/myPlatformLabel");
    text(&e->certificationDataObject->discoveryBaseURL, "https://dloa.example.com");
    e->treProperties = bitsnew(1u << EUICCInfo2__treProperties_isIntegrated);
    e->treProductReference = textnew("TRE-REF-1");
    struct EUICCInfo2__additionalEuiccProfilePackageVersions *v =
        NEW(struct EUICCInfo2__additionalEuiccProfilePackageVersions);
    add(&v->list, hexnew("020100"));
    add(&v->list, hexnew("020200"));
    e->additionalEuiccProfilePackageVersions = v;
}

static ProfileInfo_t *new_profile_info(const char *iccid, long state)
{
    ProfileInfo_t *p = NEW(ProfileInfo_t);
    p->iccid = hexnew(iccid);
    p->isdpAid = hexnew(AID);
    p->profileState = longnew(state);
    p->profileNickname = textnew("work");
    p->serviceProviderName = textnew("Test Operator");
    p->profileName = textnew("Test Profile");
    p->iconType = longnew(1);
    p->icon = hexnew("89504E470D0A1A0A");
    p->profileClass = longnew(2);
    p->notificationConfigurationInfo = NEW(struct ProfileInfo__notificationConfigurationInfo);
    NotificationConfigurationInformation_t *n = NEW(NotificationConfigurationInformation_t);
    bits(&n->profileManagementOperation, 0xF);
    text(&n->notificationAddress, ADDR);
    add(&p->notificationConfigurationInfo->list, n);
    p->profileOwner = NEW(OperatorId_t);
    hexset(&p->profileOwner->mccMnc, "02F810");
    p->profileOwner->gid1 = hexnew("FF");
    p->dpProprietaryData = NEW(DpProprietaryData_t);
    oid(&p->dpProprietaryData->dpOid, OID);
    p->profilePolicyRules = bitsnew(1u << 1 | 1u << 2);
    return p;
}

static void fill_ctx1(CtxParams1_t *c)
{
    CtxParamsForCommonAuthentication_t *a = NEW(CtxParamsForCommonAuthentication_t);
    c->present = CtxParams1_PR_ctxParamsForCommonAuthentication;
    c->choice.ctxParamsForCommonAuthentication = a;
    a->matchingId = textnew("ABCD-1234-EFGH");
    hexset(&a->deviceInfo.tac, "35290611");
    a->deviceInfo.deviceCapabilities.gsmSupportedRelease = hexnew("080000");
    a->deviceInfo.deviceCapabilities.eutranEpcSupportedRelease = hexnew("0F0000");
    a->deviceInfo.imei = hexnew("3529061100000011");
}

static void fill_server_signed1(ServerSigned1_t *s)
{
    hexset(&s->transactionId, TID);
    hexset(&s->euiccChallenge, CHAL);
    text(&s->serverAddress, ADDR);
    hexset(&s->serverChallenge, SCHAL);
}

static void fill_auth_server_req(AuthenticateServerRequest_t *r)
{
    fill_server_signed1(&r->serverSigned1);
    pattern(&r->serverSignature1, 64, 0x40);
    hexset(&r->euiccCiPKIdToBeUsed, SKI);
    cert(&r->serverCertificate, "3003020101");
    fill_ctx1(&r->ctxParams1);
}

static AuthenticateResponseOk_t *new_auth_ok(void)
{
    AuthenticateResponseOk_t *ok = NEW(AuthenticateResponseOk_t);
    hexset(&ok->euiccSigned1.transactionId, TID);
    text(&ok->euiccSigned1.serverAddress, ADDR);
    hexset(&ok->euiccSigned1.serverChallenge, SCHAL);
    fill_info2(&ok->euiccSigned1.euiccInfo2);
    fill_ctx1(&ok->euiccSigned1.ctxParams1);
    pattern(&ok->euiccSignature1, 64, 0x80);
    cert(&ok->euiccCertificate, "3003020102");
    cert(&ok->eumCertificate, "3003020103");
    return ok;
}

static PrepareDownloadResponseOk_t *new_pdr_ok(void)
{
    PrepareDownloadResponseOk_t *ok = NEW(PrepareDownloadResponseOk_t);
    hexset(&ok->euiccSigned2.transactionId, TID);
    pattern(&ok->euiccSigned2.euiccOtpk, 65, 0x04);
    ok->euiccSigned2.hashCc = NEW(Octet32_t);
    pattern(ok->euiccSigned2.hashCc, 32, 0xC0);
    pattern(&ok->euiccSignature2, 64, 0x20);
    return ok;
}

static void fill_metadata(NotificationMetadata_t *m, long seq, uint32_t op, const char *iccid)
{
    m->seqNumber = seq;
    bits(&m->profileManagementOperation, op);
    text(&m->notificationAddress, ADDR);
    if (iccid)
        m->iccid = hexnew(iccid);
}

/* A BPP with segments in every sequence; one segment long enough for a
 * two-byte length. */
static void fill_bpp(BoundProfilePackage_t *b)
{
    InitialiseSecureChannelRequest_t *i = &b->initialiseSecureChannelRequest;
    i->remoteOpId = 1;
    hexset(&i->transactionId, TID);
    hexset(&i->controlRefTemplate.keyType, "88");
    hexset(&i->controlRefTemplate.keyLen, "10");
    hexset(&i->controlRefTemplate.hostId, "0102030405060708");
    pattern(&i->smdpOtpk, 65, 0x04);
    pattern(&i->smdpSign, 64, 0x60);

    BppSegment87_t *s = NEW(BppSegment87_t);
    pattern(s, 40, 0x10);
    add(&b->firstSequenceOf87.list, s);
    for (int k = 0; k < 2; k++) {
        BppSegment88_t *m = NEW(BppSegment88_t);
        pattern(m, 24 + (size_t)k, (uint8_t)(0x30 + k));
        add(&b->sequenceOf88.list, m);
    }
    b->secondSequenceOf87 = NEW(struct BoundProfilePackage__secondSequenceOf87);
    s = NEW(BppSegment87_t);
    pattern(s, 8, 0x50);
    add(&b->secondSequenceOf87->list, s);
    size_t sizes[3] = { 1020, 200, 16 };
    for (int k = 0; k < 3; k++) {
        BppSegment86_t *e = NEW(BppSegment86_t);
        pattern(e, sizes[k], (uint8_t)(0x70 + k));
        add(&b->sequenceOf86.list, e);
    }
}

static void fill_pir(ProfileInstallationResult_t *r)
{
    ProfileInstallationResultData_t *d = &r->profileInstallationResultData;
    hexset(&d->transactionId, TID);
    fill_metadata(&d->notificationMetadata, 7, 1u << 0, ICCID);
    oid(&d->smdpOid, OID);
    d->finalResult.present = ProfileInstallationResultData__finalResult_PR_successResult;
    d->finalResult.choice.successResult = NEW(SuccessResult_t);
    hexset(&d->finalResult.choice.successResult->aid, AID);
    hexset(&d->finalResult.choice.successResult->simaResponse, "3007A0053003800100");
    pattern(&r->euiccSignPIR, 64, 0x90);
}

/* ---- 1. TS.48 --------------------------------------------------------- */

struct ts48_expect {
    const char *file;
    size_t n_pes;
    unsigned major, minor;
};

/* Read from the files with `openssl asn1parse -inform der` (top-level
 * count; header [3] at offset 42: 830A 89000123456789012341). */
static const struct ts48_expect ts48[] = {
    { "TS48v1_A.der", 28, 2, 1 },
    { "TS48v2_SAIP2.1_BERTLV.der", 28, 2, 1 },
    { "TS48v2_SAIP2.3_NoBERTLV.der", 30, 2, 3 },
    { "TS48v4_SAIP2.1A_NoBERTLV.der", 28, 2, 1 },
};
#define TS48_ICCID "89000123456789012341"
#define TS48_TYPE "GSMA Generic eUICC Test Profile"

static uint8_t *read_ts48(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/ts48/%s", test_shared_dir(), name);
    uint8_t *p = test_read_file(path, len);
    if (!p)
        fprintf(stderr, "\n  cannot read %s\n", path);
    return p;
}

static void check_ts48(const struct ts48_expect *x, const uint8_t *p, size_t len)
{
    struct rsp_saip_info *info = NULL;
    char label[160];

    CU_ASSERT_RC(rsp_saip_parse(p, len, &info), RSP_OK);
    if (!info)
        return;
    if (info->n_pes != x->n_pes)
        fprintf(stderr, "\n  %s: %zu PEs, want %zu\n", x->file, info->n_pes, x->n_pes);
    CU_ASSERT(info->n_pes == x->n_pes);
    CU_ASSERT(info->pes[0].kind == ProfileElement_PR_header);
    CU_ASSERT_STRING_EQUAL(info->pes[0].name, "header");
    CU_ASSERT(info->pes[info->n_pes - 1].kind == ProfileElement_PR_end);
    CU_ASSERT_STRING_EQUAL(info->pes[info->n_pes - 1].name, "end");
    CU_ASSERT(info->major == x->major && info->minor == x->minor);
    CU_ASSERT_STRING_EQUAL(info->profile_type, TS48_TYPE);
    CU_ASSERT_STRING_EQUAL(info->iccid, TS48_ICCID);
    CU_ASSERT_RC(rsp_iccid_check(info->iccid), RSP_OK);

    /* Every byte belongs to exactly one PE; each PE round-trips. */
    size_t off = 0, bad = 0;
    for (size_t i = 0; i < info->n_pes; i++) {
        const struct rsp_saip_pe *e = &info->pes[i];
        ProfileElement_t *pe = NULL;
        struct rsp_buf out;

        CU_ASSERT(e->offset == off);
        off = e->offset + e->len;
        rsp_buf_init(&out, MSG_MAX);
        int rc = rsp_asn1_decode(&asn_DEF_ProfileElement, p + e->offset, e->len, e->len,
                                 (void **)&pe);
        if (rc == RSP_OK) {
            CU_ASSERT((int)pe->present == e->kind);
            rc = rsp_asn1_encode(&asn_DEF_ProfileElement, pe, &out);
        }
        snprintf(label, sizeof(label), "%s PE %zu (%s)", x->file, i, e->name);
        if (rc != RSP_OK || !test_bytes_eq(label, out.data, out.len, p + e->offset, e->len))
            bad++;
        if (i == 0 && pe && pe->present == ProfileElement_PR_header) {
            /* The header's iccid, as stored (plain BCD). */
            static const uint8_t want[10] = { 0x89, 0x00, 0x01, 0x23, 0x45,
                                              0x67, 0x89, 0x01, 0x23, 0x41 };
            CU_ASSERT_BYTES("PE-Header iccid", pe->choice.header->iccid.buf,
                            (size_t)pe->choice.header->iccid.size, want, sizeof(want));
        }
        rsp_asn1_free(&asn_DEF_ProfileElement, pe);
        rsp_buf_free(&out);
    }
    CU_ASSERT(bad == 0);
    CU_ASSERT(off == len);
    rsp_saip_info_free(info);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_ts48(void)
{
    char dir[512], *names[64];
    size_t n = 0, matched = 0;
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof(dir), "%s/ts48", test_shared_dir());
    d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((de = readdir(d)) != NULL && n < 64) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".der") == 0 &&
            (names[n] = strdup(de->d_name)) != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        const struct ts48_expect *x = NULL;
        for (size_t k = 0; k < sizeof(ts48) / sizeof(ts48[0]); k++)
            if (strcmp(names[i], ts48[k].file) == 0)
                x = &ts48[k];
        if (!x) {
            fprintf(stderr, "\n  ts48/%s: no expected values, add it to ts48[]\n", names[i]);
            CU_FAIL("TS.48 file without expected values");
            free(names[i]);
            continue;
        }
        size_t len;
        uint8_t *p = read_ts48(x->file, &len);
        CU_ASSERT_PTR_NOT_NULL(p);
        if (p)
            check_ts48(x, p, len);
        matched++;
        free(p);
        free(names[i]);
    }
    CU_ASSERT(matched == sizeof(ts48) / sizeof(ts48[0]));
}

/* ---- 2. message round trips -------------------------------------------- */

static void test_rt_info(void)
{
    EUICCInfo1_t i1 = { 0 };
    fill_info1(&i1);
    roundtrip("EUICCInfo1", &asn_DEF_EUICCInfo1, &i1, "BF20",
              "BF204B" "8203020500" "A92C" "0414" SKI "0414" SKI2 "AA16" "0414" SKI, NULL);
    rsp_asn1_free_contents(&asn_DEF_EUICCInfo1, &i1);

    EUICCInfo2_t i2 = { 0 };
    fill_info2(&i2);
    roundtrip("EUICCInfo2", &asn_DEF_EUICCInfo2, &i2, "BF22", NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_EUICCInfo2, &i2);

    GetEuiccChallengeRequest_t cq = { 0 };
    roundtrip("GetEuiccChallengeRequest", &asn_DEF_GetEuiccChallengeRequest, &cq, "BF2E",
              "BF2E00", NULL);

    GetEuiccChallengeResponse_t cr = { 0 };
    hexset(&cr.euiccChallenge, CHAL);
    roundtrip("GetEuiccChallengeResponse", &asn_DEF_GetEuiccChallengeResponse, &cr, "BF2E",
              "BF2E128010" CHAL, NULL);
    rsp_asn1_free_contents(&asn_DEF_GetEuiccChallengeResponse, &cr);

    GetEuiccDataRequest_t dq = { 0 };
    hexset(&dq.tagList, "5A");
    roundtrip("GetEuiccDataRequest", &asn_DEF_GetEuiccDataRequest, &dq, "BF3E",
              "BF3E035C015A", NULL);
    rsp_asn1_free_contents(&asn_DEF_GetEuiccDataRequest, &dq);

    GetEuiccDataResponse_t dr = { 0 };
    hexset(&dr.eidValue, EID);
    roundtrip("GetEuiccDataResponse", &asn_DEF_GetEuiccDataResponse, &dr, "BF3E",
              "BF3E125A10" EID, NULL);
    rsp_asn1_free_contents(&asn_DEF_GetEuiccDataResponse, &dr);

    EuiccConfiguredAddressesRequest_t aq = { 0 };
    roundtrip("EuiccConfiguredAddressesRequest", &asn_DEF_EuiccConfiguredAddressesRequest,
              &aq, "BF3C", "BF3C00", NULL);

    EuiccConfiguredAddressesResponse_t ar = { 0 };
    ar.defaultDpAddress = textnew("dp");
    text(&ar.rootDsAddress, "ds");
    roundtrip("EuiccConfiguredAddressesResponse", &asn_DEF_EuiccConfiguredAddressesResponse,
              &ar, "BF3C", "BF3C08" "80026470" "81026473", NULL);
    rsp_asn1_free_contents(&asn_DEF_EuiccConfiguredAddressesResponse, &ar);

    SetDefaultDpAddressRequest_t sd = { 0 };
    text(&sd.defaultDpAddress, "dp");
    roundtrip("SetDefaultDpAddressRequest", &asn_DEF_SetDefaultDpAddressRequest, &sd, "BF3F",
              "BF3F0480026470", NULL);
    rsp_asn1_free_contents(&asn_DEF_SetDefaultDpAddressRequest, &sd);

    GetRatRequest_t gq = { 0 };
    roundtrip("GetRatRequest", &asn_DEF_GetRatRequest, &gq, "BF43", "BF4300", NULL);

    GetRatResponse_t gr = { 0 };
    ProfilePolicyAuthorisationRule_t *rule = NEW(ProfilePolicyAuthorisationRule_t);
    bits(&rule->pprIds, 1u << 1);
    OperatorId_t *op = NEW(OperatorId_t);
    hexset(&op->mccMnc, "02F810");
    add(&rule->allowedOperators.list, op);
    bits(&rule->pprFlags, 1u << 0);
    add(&gr.rat.list, rule);
    roundtrip("GetRatResponse", &asn_DEF_GetRatResponse, &gr, "BF43",
              "BF4315" "A013" "3011" "80020640" "A107" "3005" "800302F810" "82020780", NULL);
    rsp_asn1_free_contents(&asn_DEF_GetRatResponse, &gr);

    LoadCRLRequest_t crl = { 0 };
    any(&crl.crl.tbsCertList, "3003020101");
    any(&crl.crl.signatureAlgorithm, "300A06082A8648CE3D040302");
    crl.crl.signatureValue.buf = test_hex("00FF", &(size_t){0});
    crl.crl.signatureValue.size = 2;
    roundtrip("LoadCRLRequest", &asn_DEF_LoadCRLRequest, &crl, "BF35",
              "BF3518" "A016" "3003020101" "300A06082A8648CE3D040302" "030300" "00FF", NULL);
    rsp_asn1_free_contents(&asn_DEF_LoadCRLRequest, &crl);
}

static void test_rt_auth(void)
{
    InitiateAuthenticationRequest_t ia = { 0 };
    hexset(&ia.euiccChallenge, CHAL);
    text(&ia.smdpAddress, ADDR);
    fill_info1(&ia.euiccInfo1);
    roundtrip("InitiateAuthenticationRequest", &asn_DEF_InitiateAuthenticationRequest, &ia,
              "BF39", NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_InitiateAuthenticationRequest, &ia);

    AuthenticateServerRequest_t as = { 0 };
    fill_auth_server_req(&as);
    roundtrip("AuthenticateServerRequest", &asn_DEF_AuthenticateServerRequest, &as, "BF38",
              NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_AuthenticateServerRequest, &as);

    AuthenticateServerResponse_t ok = { 0 };
    ok.present = AuthenticateServerResponse_PR_authenticateResponseOk;
    ok.choice.authenticateResponseOk = new_auth_ok();
    roundtrip("AuthenticateServerResponse ok", &asn_DEF_AuthenticateServerResponse, &ok,
              "BF38", NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_AuthenticateServerResponse, &ok);

    AuthenticateServerResponse_t err = { 0 };
    err.present = AuthenticateServerResponse_PR_authenticateResponseError;
    err.choice.authenticateResponseError = NEW(AuthenticateResponseError_t);
    hexset(&err.choice.authenticateResponseError->transactionId, TID);
    err.choice.authenticateResponseError->authenticateErrorCode = 6;
    roundtrip("AuthenticateServerResponse error", &asn_DEF_AuthenticateServerResponse, &err,
              "BF38", "BF3817" "A115" "8010" TID "020106", NULL);
    rsp_asn1_free_contents(&asn_DEF_AuthenticateServerResponse, &err);

    AuthenticateClientRequest_t ac = { 0 };
    hexset(&ac.transactionId, TID);
    ac.authenticateServerResponse.present = AuthenticateServerResponse_PR_authenticateResponseOk;
    ac.authenticateServerResponse.choice.authenticateResponseOk = new_auth_ok();
    roundtrip("AuthenticateClientRequest", &asn_DEF_AuthenticateClientRequest, &ac, "BF3B",
              NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_AuthenticateClientRequest, &ac);
}

/* The children of a constructed value, as tags. */
static size_t child_tags(const uint8_t *p, size_t len, uint32_t *tags, size_t max)
{
    struct rsp_tlv t;
    size_t pos = 0, n = 0;
    while (n < max && rsp_tlv_next(p, len, &pos, &t) == 1)
        tags[n++] = t.tag;
    return n;
}

static void test_rt_download(void)
{
    PrepareDownloadRequest_t pq = { 0 };
    hexset(&pq.smdpSigned2.transactionId, TID);
    pq.smdpSigned2.ccRequiredFlag = 1;
    pq.smdpSigned2.bppEuiccOtpk = NEW(OCTET_STRING_t);
    pattern(pq.smdpSigned2.bppEuiccOtpk, 65, 0x04);
    pattern(&pq.smdpSignature2, 64, 0xA0);
    pq.hashCc = NEW(Octet32_t);
    pattern(pq.hashCc, 32, 0xC0);
    cert(&pq.smdpCertificate, "3003020104");
    roundtrip("PrepareDownloadRequest", &asn_DEF_PrepareDownloadRequest, &pq, "BF21", NULL,
              NULL);
    rsp_asn1_free_contents(&asn_DEF_PrepareDownloadRequest, &pq);

    PrepareDownloadResponse_t pr = { 0 };
    pr.present = PrepareDownloadResponse_PR_downloadResponseOk;
    pr.choice.downloadResponseOk = new_pdr_ok();
    roundtrip("PrepareDownloadResponse ok", &asn_DEF_PrepareDownloadResponse, &pr, "BF21",
              NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_PrepareDownloadResponse, &pr);

    PrepareDownloadResponse_t pe = { 0 };
    pe.present = PrepareDownloadResponse_PR_downloadResponseError;
    pe.choice.downloadResponseError = NEW(PrepareDownloadResponseError_t);
    hexset(&pe.choice.downloadResponseError->transactionId, TID);
    pe.choice.downloadResponseError->downloadErrorCode = 2;
    roundtrip("PrepareDownloadResponse error", &asn_DEF_PrepareDownloadResponse, &pe, "BF21",
              "BF2117" "A115" "8010" TID "020102", NULL);
    rsp_asn1_free_contents(&asn_DEF_PrepareDownloadResponse, &pe);

    GetBoundProfilePackageRequest_t gb = { 0 };
    hexset(&gb.transactionId, TID);
    gb.prepareDownloadResponse.present = PrepareDownloadResponse_PR_downloadResponseOk;
    gb.prepareDownloadResponse.choice.downloadResponseOk = new_pdr_ok();
    roundtrip("GetBoundProfilePackageRequest", &asn_DEF_GetBoundProfilePackageRequest, &gb,
              "BF3A", NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_GetBoundProfilePackageRequest, &gb);

    /* BPP: the segments must carry 87/88/87/86 (asn1c SEQUENCE OF [n]
     * workaround, asn1/RSPDefinitions.asn edit 2). */
    BoundProfilePackage_t bpp = { 0 };
    struct rsp_buf der = { 0 };
    fill_bpp(&bpp);
    roundtrip("BoundProfilePackage", &asn_DEF_BoundProfilePackage, &bpp, "BF36", NULL, &der);
    rsp_asn1_free_contents(&asn_DEF_BoundProfilePackage, &bpp);
    struct rsp_tlv top, seq;
    uint32_t tags[8] = { 0 };
    CU_ASSERT_RC(rsp_tlv_parse(der.data, der.len, &top), RSP_OK);
    if (der.data && rsp_tlv_parse(der.data, der.len, &top) == RSP_OK) {
        static const uint32_t want_top[5] = { 0xBF23, 0xA0, 0xA1, 0xA2, 0xA3 };
        static const struct { uint32_t seq, seg; size_t n; } want[4] = {
            { 0xA0, 0x87, 1 }, { 0xA1, 0x88, 2 }, { 0xA2, 0x87, 1 }, { 0xA3, 0x86, 3 },
        };
        CU_ASSERT(child_tags(top.val, top.val_len, tags, 8) == 5);
        CU_ASSERT(memcmp(tags, want_top, sizeof(want_top)) == 0);
        for (int k = 0; k < 4; k++) {
            CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, want[k].seq, &seq), RSP_OK);
            size_t n = child_tags(seq.val, seq.val_len, tags, 8);
            CU_ASSERT(n == want[k].n);
            for (size_t i = 0; i < n; i++) {
                if (tags[i] != want[k].seg)
                    fprintf(stderr, "\n  BPP %02X segment %zu: tag %02X, want %02X\n",
                            (unsigned)want[k].seq, i, (unsigned)tags[i],
                            (unsigned)want[k].seg);
                CU_ASSERT(tags[i] == want[k].seg);
            }
        }
        /* The long 86 segment: 86 82 03 FC. */
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0xA3, &seq), RSP_OK);
        static const uint8_t long86[4] = { 0x86, 0x82, 0x03, 0xFC };
        CU_ASSERT_BYTES("BPP long 86 header", seq.val, 4, long86, 4);
    }
    rsp_buf_free(&der);

    ProfileInstallationResult_t pir = { 0 };
    fill_pir(&pir);
    roundtrip("ProfileInstallationResult", &asn_DEF_ProfileInstallationResult, &pir, "BF37",
              NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_ProfileInstallationResult, &pir);

    CancelSessionRequest_t cs = { 0 };
    hexset(&cs.transactionId, TID);
    cs.reason = 0;
    roundtrip("CancelSessionRequest", &asn_DEF_CancelSessionRequest, &cs, "BF41",
              "BF4115" "8010" TID "810100", NULL);
    rsp_asn1_free_contents(&asn_DEF_CancelSessionRequest, &cs);

    CancelSessionRequestEs9_t c9 = { 0 };
    hexset(&c9.transactionId, TID);
    c9.cancelSessionResponse.present = CancelSessionResponse_PR_cancelSessionResponseOk;
    CancelSessionResponseOk_t *cok = NEW(CancelSessionResponseOk_t);
    hexset(&cok->euiccCancelSessionSigned.transactionId, TID);
    oid(&cok->euiccCancelSessionSigned.smdpOid, OID);
    cok->euiccCancelSessionSigned.reason = 127;
    pattern(&cok->euiccCancelSessionSignature, 64, 0x11);
    c9.cancelSessionResponse.choice.cancelSessionResponseOk = cok;
    roundtrip("CancelSessionRequestEs9", &asn_DEF_CancelSessionRequestEs9, &c9, "BF41", NULL,
              NULL);
    rsp_asn1_free_contents(&asn_DEF_CancelSessionRequestEs9, &c9);
}

static void test_rt_profiles(void)
{
    ProfileInfoListRequest_t lq = { 0 };
    lq.searchCriteria = NEW(struct ProfileInfoListRequest__searchCriteria);
    lq.searchCriteria->present = ProfileInfoListRequest__searchCriteria_PR_iccid;
    hexset(&lq.searchCriteria->choice.iccid, ICCID);
    lq.tagList = hexnew("5A9F70");
    roundtrip("ProfileInfoListRequest", &asn_DEF_ProfileInfoListRequest, &lq, "BF2D",
              "BF2D13" "A00C5A0A" ICCID "5C035A9F70", NULL);
    rsp_asn1_free_contents(&asn_DEF_ProfileInfoListRequest, &lq);

    ProfileInfoListResponse_t lr = { 0 };
    lr.present = ProfileInfoListResponse_PR_profileInfoListOk;
    lr.choice.profileInfoListOk = NEW(struct ProfileInfoListResponse__profileInfoListOk);
    add(&lr.choice.profileInfoListOk->list, new_profile_info(ICCID, 1));
    add(&lr.choice.profileInfoListOk->list, new_profile_info(ICCID2, 0));
    roundtrip("ProfileInfoListResponse", &asn_DEF_ProfileInfoListResponse, &lr, "BF2D", NULL,
              NULL);
    rsp_asn1_free_contents(&asn_DEF_ProfileInfoListResponse, &lr);

    ProfileInfoListResponse_t le = { 0 };
    le.present = ProfileInfoListResponse_PR_profileInfoListError;
    le.choice.profileInfoListError = 127;
    roundtrip("ProfileInfoListResponse error", &asn_DEF_ProfileInfoListResponse, &le, "BF2D",
              "BF2D0381017F", NULL);

    EnableProfileRequest_t en = { 0 };
    en.profileIdentifier.present = EnableProfileRequest__profileIdentifier_PR_iccid;
    hexset(&en.profileIdentifier.choice.iccid, ICCID);
    en.refreshFlag = 1;
    roundtrip("EnableProfileRequest", &asn_DEF_EnableProfileRequest, &en, "BF31",
              "BF3111" "A00C5A0A" ICCID "8101FF", NULL);
    rsp_asn1_free_contents(&asn_DEF_EnableProfileRequest, &en);

    DisableProfileRequest_t di = { 0 };
    di.profileIdentifier.present = DisableProfileRequest__profileIdentifier_PR_isdpAid;
    hexset(&di.profileIdentifier.choice.isdpAid, AID);
    di.refreshFlag = 0;
    roundtrip("DisableProfileRequest", &asn_DEF_DisableProfileRequest, &di, "BF32",
              "BF3217" "A0124F10" AID "810100", NULL);
    rsp_asn1_free_contents(&asn_DEF_DisableProfileRequest, &di);

    DeleteProfileRequest_t de = { 0 };
    de.present = DeleteProfileRequest_PR_iccid;
    hexset(&de.choice.iccid, ICCID);
    roundtrip("DeleteProfileRequest", &asn_DEF_DeleteProfileRequest, &de, "BF33",
              "BF330C5A0A" ICCID, NULL);
    rsp_asn1_free_contents(&asn_DEF_DeleteProfileRequest, &de);

    EuiccMemoryResetRequest_t mr = { 0 };
    bits(&mr.resetOptions, 0x7);
    roundtrip("EuiccMemoryResetRequest", &asn_DEF_EuiccMemoryResetRequest, &mr, "BF34",
              "BF3404820205E0", NULL);
    rsp_asn1_free_contents(&asn_DEF_EuiccMemoryResetRequest, &mr);

    SetNicknameRequest_t sn = { 0 };
    hexset(&sn.iccid, ICCID);
    text(&sn.profileNickname, "work");
    roundtrip("SetNicknameRequest", &asn_DEF_SetNicknameRequest, &sn, "BF29",
              "BF2912" "5A0A" ICCID "9004776F726B", NULL);
    rsp_asn1_free_contents(&asn_DEF_SetNicknameRequest, &sn);
}

static void test_rt_notif(void)
{
    ListNotificationRequest_t lq = { 0 };
    lq.profileManagementOperation = bitsnew(1u << 0 | 1u << 3);
    roundtrip("ListNotificationRequest", &asn_DEF_ListNotificationRequest, &lq, "BF28",
              "BF280481020490", NULL);
    rsp_asn1_free_contents(&asn_DEF_ListNotificationRequest, &lq);

    ListNotificationResponse_t lr = { 0 };
    lr.present = ListNotificationResponse_PR_notificationMetadataList;
    lr.choice.notificationMetadataList =
        NEW(struct ListNotificationResponse__notificationMetadataList);
    NotificationMetadata_t *m1 = NEW(NotificationMetadata_t);
    NotificationMetadata_t *m2 = NEW(NotificationMetadata_t);
    fill_metadata(m1, 1, 1u << 0, ICCID);
    fill_metadata(m2, 300, 1u << 3, NULL);
    add(&lr.choice.notificationMetadataList->list, m1);
    add(&lr.choice.notificationMetadataList->list, m2);
    roundtrip("ListNotificationResponse", &asn_DEF_ListNotificationResponse, &lr, "BF28",
              NULL, NULL);
    rsp_asn1_free_contents(&asn_DEF_ListNotificationResponse, &lr);

    RetrieveNotificationsListRequest_t rq = { 0 };
    rq.searchCriteria = NEW(struct RetrieveNotificationsListRequest__searchCriteria);
    rq.searchCriteria->present = RetrieveNotificationsListRequest__searchCriteria_PR_seqNumber;
    rq.searchCriteria->choice.seqNumber = 7;
    roundtrip("RetrieveNotificationsListRequest", &asn_DEF_RetrieveNotificationsListRequest,
              &rq, "BF2B", "BF2B05" "A003800107", NULL);
    rsp_asn1_free_contents(&asn_DEF_RetrieveNotificationsListRequest, &rq);

    NotificationSentRequest_t ns = { 0 };
    ns.seqNumber = 5;
    roundtrip("NotificationSentRequest", &asn_DEF_NotificationSentRequest, &ns, "BF30",
              "BF3003800105", NULL);

    HandleNotification_t hp = { 0 };
    hp.pendingNotification.present = PendingNotification_PR_profileInstallationResult;
    hp.pendingNotification.choice.profileInstallationResult = NEW(ProfileInstallationResult_t);
    fill_pir(hp.pendingNotification.choice.profileInstallationResult);
    roundtrip("HandleNotification (PIR)", &asn_DEF_HandleNotification, &hp, "BF3D", NULL,
              NULL);
    rsp_asn1_free_contents(&asn_DEF_HandleNotification, &hp);

    HandleNotification_t ho = { 0 };
    OtherSignedNotification_t *o = NEW(OtherSignedNotification_t);
    ho.pendingNotification.present = PendingNotification_PR_otherSignedNotification;
    ho.pendingNotification.choice.otherSignedNotification = o;
    fill_metadata(&o->tbsOtherNotification, 9, 1u << 1, ICCID);
    pattern(&o->euiccNotificationSignature, 64, 0x33);
    cert(&o->euiccCertificate, "3003020102");
    cert(&o->eumCertificate, "3003020103");
    roundtrip("HandleNotification (other)", &asn_DEF_HandleNotification, &ho, "BF3D", NULL,
              NULL);
    rsp_asn1_free_contents(&asn_DEF_HandleNotification, &ho);
}

/* ---- 3. named bit strings -------------------------------------------- */

/* ProfileInfo with only profilePolicyRules = mask: encode, compare, decode,
 * read the mask back. */
static void ppr_case(uint32_t mask, const char *want_hex)
{
    ProfileInfo_t pi = { 0 };
    ProfileInfo_t *back = NULL;
    struct rsp_buf out;
    size_t wlen;
    uint8_t *want = test_hex(want_hex, &wlen);
    char label[64];

    pi.profilePolicyRules = bitsnew(mask);
    CU_ASSERT(rsp_asn1_named_bits_get(pi.profilePolicyRules) == mask);
    rsp_buf_init(&out, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_ProfileInfo, &pi, &out), RSP_OK);
    snprintf(label, sizeof(label), "ProfileInfo ppr mask %#x", (unsigned)mask);
    CU_ASSERT_BYTES(label, out.data, out.len, want, wlen);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ProfileInfo, want, wlen, wlen, (void **)&back),
                 RSP_OK);
    if (back) {
        CU_ASSERT_PTR_NOT_NULL(back->profilePolicyRules);
        CU_ASSERT(rsp_asn1_named_bits_get(back->profilePolicyRules) == mask);
    }
    rsp_asn1_free(&asn_DEF_ProfileInfo, back);
    rsp_asn1_free_contents(&asn_DEF_ProfileInfo, &pi);
    rsp_buf_free(&out);
    free(want);
}

static void test_named_bits(void)
{
    ppr_case(1u << 1, "E304" "99020640");       /* ppr1 */
    ppr_case(0, "E303" "990100");                /* empty */
    ppr_case(1u << 0 | 1u << 2, "E304" "990205A0"); /* pprUpdateControl, ppr2 */

    /* Past one octet: bit 8 is the MSB of the second octet. */
    BIT_STRING_t bs = { 0 };
    CU_ASSERT_RC(rsp_asn1_named_bits_set(&bs, 1u << 8 | 1u << 0), RSP_OK);
    static const uint8_t two[2] = { 0x80, 0x80 };
    CU_ASSERT_BYTES("bits 0,8", bs.buf, (size_t)bs.size, two, 2);
    CU_ASSERT(bs.bits_unused == 7);
    CU_ASSERT(rsp_asn1_named_bits_get(&bs) == (1u << 8 | 1u << 0));
    /* set again: the old contents are replaced (LSan checks the free) */
    CU_ASSERT_RC(rsp_asn1_named_bits_set(&bs, 1u << 31), RSP_OK);
    CU_ASSERT(bs.size == 4 && bs.bits_unused == 0 && bs.buf[3] == 0x01);
    CU_ASSERT(rsp_asn1_named_bits_get(&bs) == 1u << 31);
    /* Bits hidden by bits_unused do not count. */
    bs.buf[3] = 0x03;
    bs.bits_unused = 1;
    CU_ASSERT(rsp_asn1_named_bits_get(&bs) == 1u << 30);
    free(bs.buf);
    CU_ASSERT(rsp_asn1_named_bits_get(NULL) == 0);
}

/* ---- 4. constraints after first use ----------------------------------- */

static int encode_rc(const asn_TYPE_descriptor_t *td, const void *st)
{
    struct rsp_buf out;
    rsp_buf_init(&out, MSG_MAX);
    int rc = rsp_asn1_encode(td, st, &out);
    if (rc != RSP_OK)
        CU_ASSERT(out.data == NULL && out.len == 0);
    rsp_buf_free(&out);
    return rc;
}

/* asn1c's X_inherit_TYPE_descriptor() used to replace a named constrained
 * type's checker by its base type's on first use (asn1/fix-inherit.sh).
 * Each case first decodes a valid value of the type, then offers a bad one. */
static void test_inherit(void)
{
    /* Iccid (SIZE(10)) */
    CU_ASSERT_RC(dec_hex(&asn_DEF_SetNicknameRequest, "BF2912" "5A0A" ICCID "9004776F726B"),
                 RSP_OK);
    SetNicknameRequest_t sn = { 0 };
    hexset(&sn.iccid, "980010325476981032");   /* 9 bytes */
    text(&sn.profileNickname, "work");
    CU_ASSERT_RC(encode_rc(&asn_DEF_SetNicknameRequest, &sn), RSP_ERR_ENCODE);
    CU_ASSERT_RC(encode_rc(&asn_DEF_SetNicknameRequest, &sn), RSP_ERR_ENCODE);
    rsp_asn1_free_contents(&asn_DEF_SetNicknameRequest, &sn);
    CU_ASSERT_RC(dec_hex(&asn_DEF_SetNicknameRequest,
                         "BF2911" "5A09" "980010325476981032" "9004776F726B"),
                 RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_DeleteProfileRequest, "BF330B5A09980010325476981032"),
                 RSP_ERR_DECODE);

    /* EID: Octet16 */
    CU_ASSERT_RC(dec_hex(&asn_DEF_GetEuiccDataResponse, "BF3E125A10" EID), RSP_OK);
    GetEuiccDataResponse_t dr = { 0 };
    hexset(&dr.eidValue, "8904");
    CU_ASSERT_RC(encode_rc(&asn_DEF_GetEuiccDataResponse, &dr), RSP_ERR_ENCODE);
    rsp_asn1_free_contents(&asn_DEF_GetEuiccDataResponse, &dr);
    CU_ASSERT_RC(dec_hex(&asn_DEF_GetEuiccDataResponse, "BF3E045A028904"), RSP_ERR_DECODE);

    /* TransactionId (SIZE(1..16)) */
    CU_ASSERT_RC(dec_hex(&asn_DEF_CancelSessionRequest, "BF4115" "8010" TID "810100"), RSP_OK);
    CancelSessionRequest_t cs = { 0 };
    hexset(&cs.transactionId, TID "11");   /* 17 bytes */
    CU_ASSERT_RC(encode_rc(&asn_DEF_CancelSessionRequest, &cs), RSP_ERR_ENCODE);
    rsp_asn1_free_contents(&asn_DEF_CancelSessionRequest, &cs);
    CU_ASSERT_RC(dec_hex(&asn_DEF_CancelSessionRequest, "BF4116" "8011" TID "11" "810100"),
                 RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_CancelSessionRequest, "BF4105" "8000" "810100"),
                 RSP_ERR_DECODE);

    /* Octet16 challenge, 15 bytes */
    CU_ASSERT_RC(dec_hex(&asn_DEF_GetEuiccChallengeResponse, "BF2E128010" CHAL), RSP_OK);
    CU_ASSERT_RC(dec_hex(&asn_DEF_GetEuiccChallengeResponse,
                         "BF2E11800F000102030405060708090A0B0C0D0E"),
                 RSP_ERR_DECODE);

    /* VersionType (SIZE(3)) */
    EUICCInfo1_t i1 = { 0 };
    fill_info1(&i1);
    CU_ASSERT_RC(encode_rc(&asn_DEF_EUICCInfo1, &i1), RSP_OK);
    i1.svn.size = 2;
    CU_ASSERT_RC(encode_rc(&asn_DEF_EUICCInfo1, &i1), RSP_ERR_ENCODE);
    rsp_asn1_free_contents(&asn_DEF_EUICCInfo1, &i1);

    /* UInt8 (0..255): PE-Header major-version 255 is fine, 256 is not. */
    size_t len;
    uint8_t *f = read_ts48("TS48v1_A.der", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    /* A0 81 89 | 80 01 02 | ... : rewrite major-version with two octets */
    CU_ASSERT(len > 140 && f[0] == 0xA0 && f[1] == 0x81 && f[2] == 0x89 && f[3] == 0x80 &&
              f[4] == 0x01);
    uint8_t hdr[141];
    static const uint8_t v255[7] = { 0xA0, 0x81, 0x8A, 0x80, 0x02, 0x00, 0xFF };
    static const uint8_t v256[7] = { 0xA0, 0x81, 0x8A, 0x80, 0x02, 0x01, 0x00 };
    memcpy(hdr + 7, f + 6, 134);
    memcpy(hdr, v255, 7);
    ProfileElement_t *pe = NULL;
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ProfileElement, hdr, sizeof(hdr), sizeof(hdr),
                                 (void **)&pe), RSP_OK);
    if (pe) {
        CU_ASSERT(pe->present == ProfileElement_PR_header &&
                  pe->choice.header->major_version == 255);
        pe->choice.header->major_version = 256;
        CU_ASSERT_RC(encode_rc(&asn_DEF_ProfileElement, pe), RSP_ERR_ENCODE);
    }
    rsp_asn1_free(&asn_DEF_ProfileElement, pe);
    memcpy(hdr, v256, 7);
    CU_ASSERT_RC(dec(&asn_DEF_ProfileElement, hdr, sizeof(hdr)), RSP_ERR_DECODE);
    free(f);
}

/* ---- 5. bad input ------------------------------------------------------ */

#define INFO1_OK "BF2035" "8203020500" "A916" "0414" SKI "AA16" "0414" SKI
#define CHAL_OK  "BF2E12" "8010" CHAL

/* Every proper prefix of p[0..len) must fail to decode. */
static void all_prefixes_fail(const char *what, const asn_TYPE_descriptor_t *td,
                              const uint8_t *p, size_t len)
{
    size_t bad = 0;
    for (size_t n = 0; n < len; n++) {
        int rc = dec(td, p, n);
        if (rc != RSP_ERR_DECODE) {
            if (!bad)
                fprintf(stderr, "\n  %s: prefix %zu of %zu gives %d\n", what, n, len, rc);
            bad++;
        }
    }
    CU_ASSERT(bad == 0);
    CU_ASSERT_RC(dec(td, p, len), RSP_OK);
}

static void test_bad_truncated(void)
{
    size_t len;
    uint8_t *f = read_ts48("TS48v2_SAIP2.3_NoBERTLV.der", &len);
    struct rsp_saip_info *info = NULL;
    char label[96];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_RC(rsp_saip_parse(f, len, &info), RSP_OK);
    if (info) {
        for (size_t i = 0; i < info->n_pes; i++) {
            snprintf(label, sizeof(label), "PE %zu (%s)", i, info->pes[i].name);
            all_prefixes_fail(label, &asn_DEF_ProfileElement, f + info->pes[i].offset,
                              info->pes[i].len);
        }
        /* A package cut anywhere: at a PE boundary PE-End is missing. */
        size_t bad = 0;
        for (size_t n = 0; n < len; n += (n < 300 || len - n < 300) ? 1 : 97) {
            struct rsp_saip_info *x = (struct rsp_saip_info *)f;   /* must be reset */
            uint8_t *d = dup_bytes(f, n);
            int rc = rsp_saip_parse(d, n, &x);
            if (rc != RSP_ERR_DECODE || x != NULL)
                bad++;
            rsp_saip_info_free(rc == RSP_OK ? x : NULL);
            free(d);
        }
        CU_ASSERT(bad == 0);
    }
    rsp_saip_info_free(info);
    free(f);

    BoundProfilePackage_t bpp = { 0 };
    struct rsp_buf der;
    rsp_buf_init(&der, MSG_MAX);
    fill_bpp(&bpp);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &der), RSP_OK);
    rsp_asn1_free_contents(&asn_DEF_BoundProfilePackage, &bpp);
    all_prefixes_fail("BPP", &asn_DEF_BoundProfilePackage, der.data, der.len);
    rsp_buf_free(&der);
}

static void test_bad_length(void)
{
    const asn_TYPE_descriptor_t *ch = &asn_DEF_GetEuiccChallengeResponse;
    const asn_TYPE_descriptor_t *i1 = &asn_DEF_EUICCInfo1;

    /* controls */
    CU_ASSERT_RC(dec_hex(ch, CHAL_OK), RSP_OK);
    CU_ASSERT_RC(dec_hex(i1, INFO1_OK), RSP_OK);
    /* over-long: outer, nested, huge, 5 length octets */
    CU_ASSERT_RC(dec_hex(ch, "BF2E13" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E12" "8011" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E84FFFFFFFF" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E850000000012" "8010" CHAL), RSP_ERR_DECODE);
    /* indefinite: top level, nested */
    CU_ASSERT_RC(dec_hex(i1, "BF2080" "8203020500" "A916" "0414" SKI "AA16" "0414" SKI "0000"),
                 RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(i1, "BF2037" "8203020500" "A980" "0414" SKI "0000" "AA16" "0414" SKI),
                 RSP_ERR_DECODE);
    /* non-minimal: 81 xx below 0x80, leading zero octet */
    CU_ASSERT_RC(dec_hex(ch, "BF2E8112" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E13" "808110" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E14" "80820010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E820012" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_NotificationSentRequest, "BF3081038001" "05"),
                 RSP_ERR_DECODE);
    /* trailing garbage */
    CU_ASSERT_RC(dec_hex(ch, CHAL_OK "00"), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(i1, INFO1_OK "BF"), RSP_ERR_DECODE);
    /* empty input, NULL */
    void *st = (void *)ch;
    CU_ASSERT_RC(rsp_asn1_decode(ch, NULL, 0, 100, &st), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(st);
}

static void test_bad_tag(void)
{
    const asn_TYPE_descriptor_t *ch = &asn_DEF_GetEuiccChallengeResponse;

    /* tag of 5 octets */
    CU_ASSERT_RC(dec_hex(ch, "BF81828304" "12" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(ch, "BF2E16" "9F81828304" "10" CHAL), RSP_ERR_DECODE);
    /* tag number with a leading zero septet (X.690 8.1.2.4.2 c): BF 80 2E */
    CU_ASSERT_RC(dec_hex(ch, "BF802E12" "8010" CHAL), RSP_ERR_DECODE);
    /* high-tag form for a number below 31 */
    CU_ASSERT_RC(dec_hex(&asn_DEF_NotificationSentRequest, "BF3004" "9F000105"),
                 RSP_ERR_DECODE);
    /* wrong outer tag, wrong type */
    CU_ASSERT_RC(dec_hex(ch, "BF2D12" "8010" CHAL), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_EUICCInfo2, INFO1_OK), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_GetEuiccChallengeRequest, CHAL_OK), RSP_ERR_DECODE);
    /* unknown ProfileElement alternative ([40], beyond opt-iot [33]) */
    CU_ASSERT_RC(dec_hex(&asn_DEF_ProfileElement, "BF2800"), RSP_ERR_DECODE);
    CU_ASSERT_RC(dec_hex(&asn_DEF_ProfileElement, "BF2803800101"), RSP_ERR_DECODE);
}

/* Package surgery on a TS.48 file. */
static int saip_rc(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                   const uint8_t *c, size_t clen, size_t *n_pes)
{
    size_t n = alen + blen + clen;
    uint8_t *p = zalloc(n ? n : 1);
    struct rsp_saip_info *info = NULL;
    if (alen)
        memcpy(p, a, alen);
    if (blen)
        memcpy(p + alen, b, blen);
    if (clen)
        memcpy(p + alen + blen, c, clen);
    int rc = rsp_saip_parse(p, n, &info);
    if (rc != RSP_OK)
        CU_ASSERT_PTR_NULL(info);
    if (n_pes)
        *n_pes = info ? info->n_pes : 0;
    rsp_saip_info_free(info);
    free(p);
    return rc;
}

static void test_bad_saip(void)
{
    size_t len, n = 0;
    uint8_t *f = read_ts48("TS48v1_A.der", &len);
    struct rsp_saip_info *info = NULL;
    static const uint8_t unknown[3] = { 0xBF, 0x28, 0x00 };
    static const uint8_t zero = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_RC(rsp_saip_parse(f, len, &info), RSP_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(info);
    const uint8_t *hdr = f + info->pes[0].offset;
    size_t hlen = info->pes[0].len;
    const struct rsp_saip_pe *last = &info->pes[info->n_pes - 1];
    const uint8_t *end = f + last->offset;
    size_t elen = last->len;

    /* control: header + end is a (minimal) package */
    CU_ASSERT_RC(saip_rc(hdr, hlen, end, elen, NULL, 0, &n), RSP_OK);
    CU_ASSERT(n == 2);
    /* unknown alternative between them */
    CU_ASSERT_RC(saip_rc(hdr, hlen, unknown, 3, end, elen, NULL), RSP_ERR_DECODE);
    /* no PE-End */
    CU_ASSERT_RC(saip_rc(f, last->offset, NULL, 0, NULL, 0, NULL), RSP_ERR_DECODE);
    CU_ASSERT_RC(saip_rc(hdr, hlen, NULL, 0, NULL, 0, NULL), RSP_ERR_DECODE);
    /* header not first; header twice */
    CU_ASSERT_RC(saip_rc(f + info->pes[1].offset, len - info->pes[1].offset, NULL, 0, NULL, 0,
                         NULL), RSP_ERR_DECODE);
    CU_ASSERT_RC(saip_rc(hdr, hlen, f, len, NULL, 0, NULL), RSP_ERR_DECODE);
    /* PE-End not last: twice at the end; in the middle */
    CU_ASSERT_RC(saip_rc(f, len, end, elen, NULL, 0, NULL), RSP_ERR_DECODE);
    CU_ASSERT_RC(saip_rc(hdr, hlen, end, elen, f + info->pes[1].offset,
                         len - info->pes[1].offset, NULL), RSP_ERR_DECODE);
    /* trailing byte; empty package */
    CU_ASSERT_RC(saip_rc(f, len, &zero, 1, NULL, 0, NULL), RSP_ERR_DECODE);
    CU_ASSERT_RC(saip_rc(NULL, 0, NULL, 0, NULL, 0, NULL), RSP_ERR_DECODE);

    /* size caps */
    uint8_t *big = zalloc(RSP_SAIP_MAX + 1);
    struct rsp_saip_info *x = info;
    memcpy(big, f, len);
    CU_ASSERT_RC(rsp_saip_parse(big, RSP_SAIP_MAX + 1, &x), RSP_ERR_TOOBIG);
    CU_ASSERT_PTR_NULL(x);
    free(big);
    void *st = f;
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ProfileElement, hdr, hlen, hlen - 1, &st),
                 RSP_ERR_TOOBIG);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ProfileElement, hdr, hlen, hlen, &st), RSP_OK);
    rsp_asn1_free(&asn_DEF_ProfileElement, st);

    rsp_saip_info_free(info);
    free(f);
}

static void test_bad_encode(void)
{
    BoundProfilePackage_t bpp = { 0 };
    struct rsp_buf out;
    size_t full;

    fill_bpp(&bpp);
    rsp_buf_init(&out, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &out), RSP_OK);
    full = out.len;
    rsp_buf_free(&out);
    /* one byte short, and a cap met half-way */
    rsp_buf_init(&out, full - 1);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &out), RSP_ERR_TOOBIG);
    CU_ASSERT(out.data == NULL && out.len == 0 && out.cap == 0);
    rsp_buf_init(&out, full / 2);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &out), RSP_ERR_TOOBIG);
    CU_ASSERT(out.data == NULL && out.len == 0);
    rsp_buf_init(&out, full);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &out), RSP_OK);
    CU_ASSERT(out.len == full);
    rsp_buf_free(&out);
    /* appending after existing content counts against the same cap */
    rsp_buf_init(&out, full);
    CU_ASSERT_RC(rsp_buf_append_byte(&out, 0x00), RSP_OK);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &out), RSP_ERR_TOOBIG);
    CU_ASSERT(out.data == NULL && out.len == 0);
    rsp_asn1_free_contents(&asn_DEF_BoundProfilePackage, &bpp);
    /* NULL structure */
    rsp_buf_init(&out, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, NULL, &out), RSP_ERR_ENCODE);
    /* a CHOICE with nothing chosen */
    PrepareDownloadResponse_t none = { 0 };
    CU_ASSERT_RC(encode_rc(&asn_DEF_PrepareDownloadResponse, &none), RSP_ERR_ENCODE);
}

/* ---- 6. TLV helpers ---------------------------------------------------- */

static void tlv_hex(const char *hex, int want_rc, uint32_t tag, size_t hdr, size_t vlen)
{
    size_t n;
    uint8_t *p = test_hex(hex, &n);
    uint8_t *d = dup_bytes(p, n);
    struct rsp_tlv t;
    memset(&t, 0xA5, sizeof(t));
    int rc = rsp_tlv_parse(d, n, &t);
    if (rc != want_rc)
        fprintf(stderr, "\n  rsp_tlv_parse(%.40s) = %d, want %d\n", hex, rc, want_rc);
    CU_ASSERT(rc == want_rc);
    if (rc == RSP_OK && want_rc == RSP_OK) {
        if (t.tag != tag || t.val != d + hdr || t.val_len != vlen || t.tlv != d ||
            t.tlv_len != hdr + vlen)
            fprintf(stderr, "\n  rsp_tlv_parse(%.40s): tag %X hdr %td vlen %zu\n", hex,
                    (unsigned)t.tag, t.val - d, t.val_len);
        CU_ASSERT(t.tag == tag && t.tlv == d && t.val == d + hdr && t.val_len == vlen &&
                  t.tlv_len == hdr + vlen);
    }
    free(d);
    free(p);
}

static void put_header(uint32_t tag, size_t vlen, const char *want_hex)
{
    struct rsp_buf b;
    size_t n;
    uint8_t *want = test_hex(want_hex, &n);
    rsp_buf_init(&b, 64);
    CU_ASSERT_RC(rsp_tlv_put_header(&b, tag, vlen), RSP_OK);
    CU_ASSERT_BYTES("rsp_tlv_put_header", b.data, b.len, want, n);
    rsp_buf_free(&b);
    free(want);
}

static void test_tlv(void)
{
    static const char v128[] = "04" "8180"
        "00000000000000000000000000000000" "00000000000000000000000000000000"
        "00000000000000000000000000000000" "00000000000000000000000000000000"
        "00000000000000000000000000000000" "00000000000000000000000000000000"
        "00000000000000000000000000000000" "00000000000000000000000000000000";
    char v256[3 + 8 + 512 + 1];

    tlv_hex("5A0A" ICCID, RSP_OK, 0x5A, 2, 10);
    tlv_hex("BF3803800101", RSP_OK, 0xBF38, 3, 3);
    tlv_hex("9F7001" "01", RSP_OK, 0x9F70, 3, 1);
    tlv_hex("BF81820300", RSP_OK, 0xBF818203, 5, 0);      /* 4-octet tag */
    tlv_hex("0400" "FFFF", RSP_OK, 0x04, 2, 0);             /* trailing bytes allowed */
    tlv_hex(v128, RSP_OK, 0x04, 3, 128);
    snprintf(v256, sizeof(v256), "04820100%0512d", 0);
    tlv_hex(v256, RSP_OK, 0x04, 4, 256);
    tlv_hex("BF8182830400", RSP_ERR_DECODE, 0, 0, 0);       /* 5-octet tag */
    tlv_hex("9F1E00", RSP_ERR_DECODE, 0, 0, 0);             /* fits the short form */
    tlv_hex("9F801E00", RSP_ERR_DECODE, 0, 0, 0);           /* leading zero septet */
    tlv_hex("9F8100" "00", RSP_OK, 0x9F8100, 4, 0);          /* 81 00: tag 128 */
    tlv_hex("BF", RSP_ERR_DECODE, 0, 0, 0);
    tlv_hex("BF38", RSP_ERR_DECODE, 0, 0, 0);
    tlv_hex("BF8180", RSP_ERR_DECODE, 0, 0, 0);             /* tag runs off the end */
    tlv_hex("0480", RSP_ERR_DECODE, 0, 0, 0);               /* indefinite */
    tlv_hex("04817F" "00", RSP_ERR_DECODE, 0, 0, 0);        /* 81 below 0x80 */
    tlv_hex("048200FF" "00", RSP_ERR_DECODE, 0, 0, 0);      /* leading zero octet */
    tlv_hex("0402" "00", RSP_ERR_DECODE, 0, 0, 0);          /* value runs off the end */
    tlv_hex("0481", RSP_ERR_DECODE, 0, 0, 0);
    tlv_hex("048501000000000000", RSP_ERR_DECODE, 0, 0, 0); /* 5 length octets */

    /* next / find over 80 01 01 | 81 00 | A2 03 04 01 FF */
    size_t n, pos = 0;
    uint8_t *p = test_hex("800101" "8100" "A2030401FF", &n);
    struct rsp_tlv t;
    static const uint32_t tags[3] = { 0x80, 0x81, 0xA2 };
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(rsp_tlv_next(p, n, &pos, &t) == 1);
        CU_ASSERT(t.tag == tags[k]);
        CU_ASSERT(t.constructed == (k == 2));
    }
    CU_ASSERT(pos == n);
    CU_ASSERT(rsp_tlv_next(p, n, &pos, &t) == 0);
    CU_ASSERT_RC(rsp_tlv_find(p, n, 0x81, &t), RSP_OK);
    CU_ASSERT(t.tlv == p + 3 && t.val_len == 0);
    CU_ASSERT_RC(rsp_tlv_find(p, n, 0xA2, &t), RSP_OK);
    CU_ASSERT(t.val == p + 7 && t.val_len == 3);
    CU_ASSERT_RC(rsp_tlv_find(p, n, 0x82, &t), RSP_ERR_NOTFOUND);
    /* malformed child after the wanted one is not reached; before it is */
    CU_ASSERT_RC(rsp_tlv_find(p, n - 1, 0x80, &t), RSP_OK);
    CU_ASSERT_RC(rsp_tlv_find(p, n - 1, 0xA2, &t), RSP_ERR_DECODE);
    pos = 5;
    CU_ASSERT(rsp_tlv_next(p, n - 1, &pos, &t) == RSP_ERR_DECODE);

    /* rsp_der_check: one tree, DER lengths everywhere, depth */
    CU_ASSERT_RC(rsp_der_check(p, 3, 4), RSP_OK);
    CU_ASSERT_RC(rsp_der_check(p, n, 4), RSP_ERR_DECODE);   /* three TLVs */
    free(p);
    p = test_hex("3007" "3005" "3003" "0401FF", &n);
    CU_ASSERT_RC(rsp_der_check(p, n, 3), RSP_OK);
    CU_ASSERT_RC(rsp_der_check(p, n, 2), RSP_ERR_DECODE);
    free(p);
    p = test_hex("3004" "048101FF", &n);             /* non-minimal inside */
    CU_ASSERT_RC(rsp_der_check(p, n, 4), RSP_ERR_DECODE);
    free(p);
    p = test_hex("3005" "A003" "0402FF", &n);        /* inner overruns its parent */
    CU_ASSERT_RC(rsp_der_check(p, n, 4), RSP_ERR_DECODE);
    free(p);

    /* rsp_tlv_put_header */
    put_header(0x5A, 10, "5A0A");
    put_header(0xBF38, 0x7F, "BF387F");
    put_header(0xBF38, 0x80, "BF388180");
    put_header(0x04, 0xFF, "0481FF");
    put_header(0x04, 0x100, "04820100");
    put_header(0x9F7F, 0x10000, "9F7F83010000");
    put_header(0x86, 0x1000000, "868401000000");
    put_header(0xBF818203, 0, "BF81820300");
    struct rsp_buf small;
    rsp_buf_init(&small, 3);
    CU_ASSERT_RC(rsp_tlv_put_header(&small, 0xBF38, 0x80), RSP_ERR_TOOBIG);
    CU_ASSERT(small.data == NULL);

    /* serverSigned1 inside an AuthenticateServerRequest, by its exact bytes */
    AuthenticateServerRequest_t as = { 0 };
    struct rsp_buf req, ss1;
    struct rsp_tlv top, found;
    rsp_buf_init(&req, MSG_MAX);
    rsp_buf_init(&ss1, MSG_MAX);
    fill_auth_server_req(&as);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_AuthenticateServerRequest, &as, &req), RSP_OK);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_ServerSigned1, &as.serverSigned1, &ss1), RSP_OK);
    CU_ASSERT_RC(rsp_der_check(req.data, req.len, 32), RSP_OK);
    CU_ASSERT_RC(rsp_tlv_parse(req.data, req.len, &top), RSP_OK);
    if (req.data && rsp_tlv_parse(req.data, req.len, &top) == RSP_OK) {
        CU_ASSERT(top.tag == 0xBF38 && top.constructed && top.tlv_len == req.len);
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0x30, &found), RSP_OK);
        CU_ASSERT(found.tlv == top.val);   /* the first element */
        CU_ASSERT_BYTES("serverSigned1 located", found.tlv, found.tlv_len, ss1.data, ss1.len);
        /* and it starts 30 xx 80 10 <transactionId> */
        static const uint8_t head[4] = { 0x80, 0x10, 0x01, 0x02 };
        CU_ASSERT_BYTES("serverSigned1 head", found.val, 4, head, 4);
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0x5F37, &found), RSP_OK);
        CU_ASSERT(found.val_len == 64 && found.val[0] == 0x40 && found.val[63] == 0x7F);
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0x04, &found), RSP_OK);
        uint8_t *ski = test_hex(SKI, &n);
        CU_ASSERT_BYTES("euiccCiPKIdToBeUsed", found.val, found.val_len, ski, n);
        free(ski);
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0xA0, &found), RSP_OK);  /* ctxParams1 */
        CU_ASSERT_RC(rsp_tlv_find(top.val, top.val_len, 0x5F49, &found), RSP_ERR_NOTFOUND);
    }
    rsp_asn1_free_contents(&asn_DEF_AuthenticateServerRequest, &as);
    rsp_buf_free(&req);
    rsp_buf_free(&ss1);
}

/* ---- 7. allocation failures -------------------------------------------- */

/* Decode p with the k-th allocation failing, for every k the decode makes:
 * each must fail cleanly (error, NULL output, no leak); one more must
 * succeed. */
static void torture_decode(const char *what, const asn_TYPE_descriptor_t *td,
                           const uint8_t *p, size_t len)
{
    void *st = NULL;
    size_t bad = 0;

    torture_arm(0);
    int rc = rsp_asn1_decode(td, p, len, len, &st);
    unsigned long n = torture_disarm();
    CU_ASSERT_RC(rc, RSP_OK);
    CU_ASSERT(n > 0);
    rsp_asn1_free(td, st);
    for (unsigned long k = 1; k <= n + 1; k++) {
        st = NULL;
        torture_arm(k);
        rc = rsp_asn1_decode(td, p, len, len, &st);
        int fired = torture_fired();
        torture_disarm();
        int ok = k <= n ? fired && rc != RSP_OK && st == NULL
                        : !fired && rc == RSP_OK && st != NULL;
        if (!ok && bad++ == 0)
            fprintf(stderr, "\n  %s: allocation %lu of %lu failing: rc %d\n", what, k, n, rc);
        rsp_asn1_free(td, st);
    }
    CU_ASSERT(bad == 0);
}

static void torture_encode(const char *what, const asn_TYPE_descriptor_t *td, const void *st)
{
    struct rsp_buf out;
    size_t bad = 0;

    rsp_buf_init(&out, MSG_MAX);
    torture_arm(0);
    int rc = rsp_asn1_encode(td, st, &out);
    unsigned long n = torture_disarm();
    CU_ASSERT_RC(rc, RSP_OK);
    CU_ASSERT(n > 0);
    rsp_buf_free(&out);
    for (unsigned long k = 1; k <= n; k++) {
        rsp_buf_init(&out, MSG_MAX);
        torture_arm(k);
        rc = rsp_asn1_encode(td, st, &out);
        int fired = torture_fired();
        torture_disarm();
        if (!(fired && rc == RSP_ERR_NOMEM && out.data == NULL) && bad++ == 0)
            fprintf(stderr, "\n  %s: allocation %lu of %lu failing: rc %d\n", what, k, n, rc);
        rsp_buf_free(&out);
    }
    CU_ASSERT(bad == 0);
}

static void test_torture(void)
{
    size_t len;
    uint8_t *f = read_ts48("TS48v2_SAIP2.3_NoBERTLV.der", &len);
    struct rsp_saip_info *info = NULL;
    char label[64];

    /* The wrappers themselves (through a pointer, so that the compiler
     * cannot drop the allocation). Disarmed, nothing is counted. */
    void *(*volatile alloc)(size_t) = malloc;
    void *m;
    torture_arm(1);
    m = alloc(16);
    CU_ASSERT(m == NULL && torture_fired());
    CU_ASSERT(torture_disarm() == 1);
    m = alloc(16);
    CU_ASSERT_PTR_NOT_NULL(m);
    free(m);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_RC(rsp_saip_parse(f, len, &info), RSP_OK);
    if (info) {
        /* every PE of one profile */
        for (size_t i = 0; i < info->n_pes; i++) {
            snprintf(label, sizeof(label), "PE %zu (%s)", i, info->pes[i].name);
            torture_decode(label, &asn_DEF_ProfileElement, f + info->pes[i].offset,
                           info->pes[i].len);
        }
        /* the whole package through rsp_saip_parse */
        torture_arm(0);
        struct rsp_saip_info *x = NULL;
        int rc = rsp_saip_parse(f, len, &x);
        unsigned long n = torture_disarm();
        CU_ASSERT_RC(rc, RSP_OK);
        rsp_saip_info_free(x);
        size_t bad = 0;
        for (unsigned long k = 1; k <= n; k += 1 + k / 64) {
            x = NULL;
            torture_arm(k);
            rc = rsp_saip_parse(f, len, &x);
            int fired = torture_fired();
            torture_disarm();
            if (!(fired && rc != RSP_OK && x == NULL) && bad++ == 0)
                fprintf(stderr, "\n  rsp_saip_parse: allocation %lu of %lu: rc %d\n", k, n, rc);
            rsp_saip_info_free(x);
        }
        CU_ASSERT(bad == 0);
    }
    rsp_saip_info_free(info);
    free(f);

    BoundProfilePackage_t bpp = { 0 };
    struct rsp_buf der;
    fill_bpp(&bpp);
    rsp_buf_init(&der, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_BoundProfilePackage, &bpp, &der), RSP_OK);
    torture_decode("BPP", &asn_DEF_BoundProfilePackage, der.data, der.len);
    torture_encode("BPP encode", &asn_DEF_BoundProfilePackage, &bpp);
    rsp_asn1_free_contents(&asn_DEF_BoundProfilePackage, &bpp);
    rsp_buf_free(&der);

    AuthenticateServerResponse_t ok = { 0 };
    ok.present = AuthenticateServerResponse_PR_authenticateResponseOk;
    ok.choice.authenticateResponseOk = new_auth_ok();
    rsp_buf_init(&der, MSG_MAX);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_AuthenticateServerResponse, &ok, &der), RSP_OK);
    torture_decode("AuthenticateServerResponse", &asn_DEF_AuthenticateServerResponse, der.data,
                   der.len);
    rsp_asn1_free_contents(&asn_DEF_AuthenticateServerResponse, &ok);
    rsp_buf_free(&der);
}

CU_TestInfo asn1_tests[] = {
    { .pName = "ts48", .pTestFunc = test_ts48 },
    { .pName = "rt_info", .pTestFunc = test_rt_info },
    { .pName = "rt_auth", .pTestFunc = test_rt_auth },
    { .pName = "rt_download", .pTestFunc = test_rt_download },
    { .pName = "rt_profiles", .pTestFunc = test_rt_profiles },
    { .pName = "rt_notif", .pTestFunc = test_rt_notif },
    { .pName = "named_bits", .pTestFunc = test_named_bits },
    { .pName = "inherit", .pTestFunc = test_inherit },
    { .pName = "bad_truncated", .pTestFunc = test_bad_truncated },
    { .pName = "bad_length", .pTestFunc = test_bad_length },
    { .pName = "bad_tag", .pTestFunc = test_bad_tag },
    { .pName = "bad_saip", .pTestFunc = test_bad_saip },
    { .pName = "bad_encode", .pTestFunc = test_bad_encode },
    { .pName = "tlv", .pTestFunc = test_tlv },
    { .pName = "torture", .pTestFunc = test_torture },
    CU_TEST_INFO_NULL,
};
