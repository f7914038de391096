/* euicc_fixture.c - see euicc_fixture.h */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_test.h"
#include "rsp_util.h"

#include "NotificationConfigurationInformation.h"
#include "StoreMetadataRequest.h"

static char pki_dir[512];
static char pki_eid[33];
static int pki_state;            /* 0 not tried, 1 ok, -1 failed */
static unsigned fixture_seq;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static void rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void pki_cleanup(void)
{
    rm_tree(pki_dir);
}

static int mkdir_p(const char *dir)
{
    char tmp[512];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) == 0 || access(tmp, F_OK) == 0 ? 0 : -1;
}

const char *euicc_fixture_pki_dir(void)
{
    if (pki_state == 0) {
        struct rsp_pki_opts o;
        int rc;

        pki_state = -1;
        snprintf(pki_dir, sizeof(pki_dir), "%s/euicc-fixture/pki.%ld",
                 test_build_dir(), (long)getpid());
        rm_tree(pki_dir);
        memset(&o, 0, sizeof(o));
        o.dir = pki_dir;
        o.dp2 = 1;
        o.negative = 1;
        rc = rsp_pki_generate(&o);
        if (rc != 0) {
            fprintf(stderr, "euicc_fixture: rsp_pki_generate(%s): %s\n", pki_dir,
                    rsp_strerror(rc));
            rm_tree(pki_dir);
        } else {
            memcpy(pki_eid, o.eid_out, sizeof(pki_eid));
            pki_state = 1;
            atexit(pki_cleanup);
        }
    }
    return pki_state == 1 ? pki_dir : NULL;
}

const char *euicc_fixture_eid(void)
{
    return euicc_fixture_pki_dir() ? pki_eid : NULL;
}

static int select_isdr(struct euicc_fixture *f)
{
    uint8_t r[EUICC_RAPDU_MAX];
    size_t rlen;
    int sw = euicc_fixture_apdu_hex(f, "00A4040010A0000005591010FFFFFFFF890000010000",
                                    r, &rlen);
    if (sw < 0)
        return sw;
    /* 61xx: FCI available via GET RESPONSE; fine as well */
    if (sw != 0x9000 && (sw >> 8) != 0x61) {
        fprintf(stderr, "euicc_fixture: SELECT ISD-R: SW %04X\n", sw);
        return RSP_ERR_STATE;
    }
    return 0;
}

int euicc_fixture_open(struct euicc_fixture *f, const char *pki)
{
    struct euicc_identity id;
    int rc;

    memset(f, 0, sizeof(*f));
    if (!pki && !(pki = euicc_fixture_pki_dir()))
        return RSP_ERR_IO;
    snprintf(f->dir, sizeof(f->dir), "%s/euicc-fixture/card.%ld.%u", test_build_dir(),
             (long)getpid(), ++fixture_seq);
    rm_tree(f->dir);
    if (mkdir_p(f->dir) != 0) {
        fprintf(stderr, "euicc_fixture: mkdir %s failed\n", f->dir);
        memset(f, 0, sizeof(*f));
        return RSP_ERR_IO;
    }
    snprintf(f->state_path, sizeof(f->state_path), "%s/state.json", f->dir);
    memset(&id, 0, sizeof(id));
    id.pki_dir = pki;
    rc = euicc_create(f->state_path, &id);
    if (rc == 0)
        rc = euicc_open(f->state_path, &f->card);
    if (rc == 0)
        rc = select_isdr(f);
    if (rc != 0) {
        fprintf(stderr, "euicc_fixture: card from %s: %s\n", pki, rsp_strerror(rc));
        euicc_fixture_close(f);
    }
    return rc;
}

void euicc_fixture_close(struct euicc_fixture *f)
{
    euicc_free(f->card);
    rm_tree(f->dir);
    memset(f, 0, sizeof(*f));
}

int euicc_fixture_reopen(struct euicc_fixture *f)
{
    int rc;

    euicc_free(f->card);
    f->card = NULL;
    rc = euicc_open(f->state_path, &f->card);
    return rc == 0 ? select_isdr(f) : rc;
}

int euicc_fixture_apdu_hex(struct euicc_fixture *f, const char *capdu_hex,
                           uint8_t *rapdu, size_t *rlen)
{
    size_t clen;
    uint8_t *c = test_hex(capdu_hex, &clen);
    int rc = euicc_transmit(f->card, c, clen, rapdu, rlen);

    free(c);
    if (rc != 0)
        return rc;
    return (rapdu[*rlen - 2] << 8) | rapdu[*rlen - 1];
}

int euicc_fixture_es10(struct euicc_fixture *f, const uint8_t *cmd, size_t len,
                       uint8_t **resp, size_t *resp_len, uint16_t *sw)
{
    return euicc_es10(f->card, cmd, len, resp, resp_len, sw);
}

int euicc_fixture_es10_hex(struct euicc_fixture *f, const char *cmd_hex,
                           uint8_t **resp, size_t *resp_len, uint16_t *sw)
{
    size_t n;
    uint8_t *c = test_hex(cmd_hex, &n);
    int rc = euicc_fixture_es10(f, c, n, resp, resp_len, sw);

    free(c);
    return rc;
}

void euicc_fixture_add_profile(struct euicc *e, const struct euicc_fixture_profile *pp)
{
    static const uint8_t aid[16] = { 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00 };
    static const uint8_t icon[] = { 0x89, 'P', 'N', 'G' };
    const char *name = pp->name ? pp->name : pp->iccid;
    StoreMetadataRequest_t m;
    struct euicc_profile *p;
    struct rsp_buf der;
    uint8_t bcd[10];

    CU_ASSERT_FATAL(e->st.n_profiles < EUICC_MAX_PROFILES);
    memset(&m, 0, sizeof(m));
    CU_ASSERT_RC(rsp_iccid_to_bcd(pp->iccid, 1, bcd), 0);
    rsp_asn1_octets_set(&m.iccid, bcd, sizeof(bcd));
    rsp_asn1_octets_set(&m.serviceProviderName, "Test SP", 7);
    rsp_asn1_octets_set(&m.profileName, name, strlen(name));
    if (pp->icon) {
        m.iconType = calloc(1, sizeof(*m.iconType));
        m.icon = calloc(1, sizeof(*m.icon));
        CU_ASSERT_FATAL(m.iconType != NULL && m.icon != NULL);
        *m.iconType = 1; /* png */
        rsp_asn1_octets_set(m.icon, icon, sizeof(icon));
    }
    if (pp->cls != 2) { /* DEFAULT operational: absent */
        m.profileClass = calloc(1, sizeof(*m.profileClass));
        CU_ASSERT_FATAL(m.profileClass != NULL);
        *m.profileClass = pp->cls;
    }
    if (pp->events) {
        NotificationConfigurationInformation_t *c = calloc(1, sizeof(*c));
        m.notificationConfigurationInfo = calloc(1, sizeof(*m.notificationConfigurationInfo));
        CU_ASSERT_FATAL(c != NULL && m.notificationConfigurationInfo != NULL);
        rsp_asn1_named_bits_set(&c->profileManagementOperation, pp->events);
        rsp_asn1_octets_set(&c->notificationAddress, pp->notif_addr, strlen(pp->notif_addr));
        ASN_SEQUENCE_ADD(&m.notificationConfigurationInfo->list, c);
    }
    if (pp->ppr) {
        m.profilePolicyRules = calloc(1, sizeof(*m.profilePolicyRules));
        CU_ASSERT_FATAL(m.profilePolicyRules != NULL);
        rsp_asn1_named_bits_set(m.profilePolicyRules, pp->ppr);
    }
    rsp_buf_init(&der, 8192);
    CU_ASSERT_RC(rsp_asn1_encode(&asn_DEF_StoreMetadataRequest, &m, &der), 0);
    rsp_asn1_free_contents(&asn_DEF_StoreMetadataRequest, &m);

    p = &e->st.profiles[e->st.n_profiles++];
    memset(p, 0, sizeof(*p));
    memcpy(p->aid, aid, 16);
    p->aid[15] = pp->aid_last;
    p->aid_len = 16;
    snprintf(p->iccid, sizeof(p->iccid), "%s", pp->iccid);
    p->state = pp->state;
    p->ppr = pp->ppr;
    p->profile_class = pp->cls;
    p->metadata = rsp_buf_steal(&der, &p->metadata_len);
    CU_ASSERT_RC(euicc_commit(e), 0);
}
