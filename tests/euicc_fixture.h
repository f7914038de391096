/*
 * euicc_fixture.h - a simulated card for the euicc test suites.
 *
 * The PKI is generated once per process (rsp_pki_generate, both curves, with
 * dp2 and the Negative/ set) below test_build_dir() and removed at exit.
 * Each fixture is one card with its own state file in a fresh temporary
 * directory below test_build_dir(), opened with the ISD-R selected on the
 * basic channel, so ES10 commands can be sent right away.
 */
#ifndef EUICC_FIXTURE_H
#define EUICC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "euicc.h"

/* The generated PKI folder (SGP.26 layout, see certs/rsp_pki.h) and the EID
 * of its eUICC certificate; NULL if generation failed (message on stderr). */
const char *euicc_fixture_pki_dir(void);
const char *euicc_fixture_eid(void);

struct euicc_fixture {
    struct euicc *card;          /* the card: euicc_transmit(f->card, ...) */
    char dir[512];               /* its temporary directory */
    char state_path[600];        /* dir/state.json */
};

/* Create + open a card. pki_dir NULL = the generated PKI; otherwise e.g.
 * test_shared_dir()/sgp26. Then SELECT ISD-R on channel 0.
 * Returns 0 or a negative rsp_err (f zeroed on failure). */
int euicc_fixture_open(struct euicc_fixture *f, const char *pki_dir);

/* Free the card and delete its directory. Safe on a zeroed/closed fixture. */
void euicc_fixture_close(struct euicc_fixture *f);

/* Reopen the card from its state file (free + euicc_open + SELECT ISD-R),
 * as after a power cycle. Returns 0 or a negative rsp_err. */
int euicc_fixture_reopen(struct euicc_fixture *f);

/* Send one ES10 command (a whole TLV) on channel 0 as STORE DATA blocks of
 * at most 255 bytes (P1 11/91, P2 = block number, SGP.22 §5.7.2 / GP Card
 * Spec §11.11), then fetch the whole response with GET RESPONSE while the
 * card answers 61xx.
 * [out] *resp (malloc'd, free(); NULL when empty), *resp_len, *sw (the final
 * status word, 0x9000 on success).
 * Returns 0 when the exchange happened (whatever the SW), negative rsp_err
 * when the card could not answer. */
int euicc_fixture_es10(struct euicc_fixture *f, const uint8_t *cmd, size_t len,
                       uint8_t **resp, size_t *resp_len, uint16_t *sw);

/* Same with the command in hex (test vectors), e.g. "BF3E035C015A". */
int euicc_fixture_es10_hex(struct euicc_fixture *f, const char *cmd_hex,
                           uint8_t **resp, size_t *resp_len, uint16_t *sw);

/* One raw APDU in hex; [out] rapdu (EUICC_RAPDU_MAX), *rlen incl. SW.
 * Returns the status word (>= 0) or a negative rsp_err. */
int euicc_fixture_apdu_hex(struct euicc_fixture *f, const char *capdu_hex,
                           uint8_t *rapdu, size_t *rlen);

/* A profile put straight into a card's state (no download), for the suites
 * that need installed profiles: ISD-P AID A0000005591010FFFFFFFF89000010
 * with the last byte aid_last, metadata a StoreMetadataRequest (SGP.22
 * §5.5.3) with serviceProviderName "Test SP". */
struct euicc_fixture_profile {
    const char *iccid;
    uint8_t aid_last;
    int state;               /* EUICC_PROFILE_DISABLED / EUICC_PROFILE_ENABLED */
    const char *name;        /* profileName; NULL = the ICCID */
    int icon;                /* add a 4-byte PNG icon */
    int cls;                 /* profileClass 0 test, 1 provisioning, 2 operational
                              * (2 is the default: absent from the metadata) */
    uint32_t ppr;            /* profilePolicyRules bits */
    uint32_t events;         /* NotificationEvent mask configured to notif_addr */
    const char *notif_addr;  /* used when events != 0 */
};

/* Add the profile to e and commit; CUnit assertions on failure. */
void euicc_fixture_add_profile(struct euicc *e, const struct euicc_fixture_profile *pp);

#endif
