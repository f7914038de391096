/*
 * euicc.h - libeuicc: a simulated eUICC (GSMA SGP.22 v2.5) that takes raw
 * ISO/IEC 7816-4 command APDUs and returns response APDUs.
 *
 * One struct euicc is one card: no global state, so a process can host many
 * (fleet tests). Its persistent state (EID, ECASD, ISD-Ps, notifications,
 * counters, installed packages) is one file with an identity region and two
 * state slots (A/B): a change writes the whole new image over the older slot
 * and fdatasyncs it; open takes the intact slot with the higher generation.
 * A kill -9 at any instant leaves the old state or the new one. A new card,
 * an image outgrowing its slot or an old-format file takes the slow path: a
 * new file written, synced, renamed into place, directory synced. The
 * download retry key (SGP.22 §3.1.3) lives in a small two-record sidecar,
 * <state>.otk. See euicc_state.c and spec-notes/euicc.md.
 */
#ifndef EUICC_H
#define EUICC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct euicc;

/* Largest response APDU: 256 data bytes + SW1 SW2 (ISO/IEC 7816-4 §5.1). */
#define EUICC_RAPDU_MAX 258
/* Largest ATR (ISO/IEC 7816-3 §8.2.1). */
#define EUICC_ATR_MAX 33

/* Where an eUICC's identity comes from when it is created. */
struct euicc_identity {
    /* A PKI folder laid out as GSMA SGP.26 (CertificateIssuer/, EUM/,
     * eUICC/): the generated one (build/bin/rsp-pki) or ../shared/sgp26.
     * Every curve for which eUICC/CERT_EUICC_ECDSA_<C>.der exists is used. */
    const char *pki_dir;
    /* Optional: an eUICC certificate + key of a minted fleet member
     * (rsp-pki mint-euicc), used instead of eUICC/ in pki_dir. NULL if not. */
    const char *euicc_cert_path;
    const char *euicc_key_path;
    /* Optional default SM-DP+ address (ES10a), NULL for none. */
    const char *default_dp;
};

/* Create a new state file at path from an identity (fails if it exists).
 * Errors: RSP_ERR_IO, RSP_ERR_CERT, RSP_ERR_INVAL. */
int euicc_create(const char *path, const struct euicc_identity *id);

/* Load a card from its state file. [out] *out, freed with euicc_free().
 * Errors: RSP_ERR_IO, RSP_ERR_DECODE (corrupt state), RSP_ERR_NOMEM. */
int euicc_open(const char *path, struct euicc **out);
void euicc_free(struct euicc *e);

/* Cold or warm reset: closes logical channels, drops any ES10b session,
 * returns the ATR. [out] atr (EUICC_ATR_MAX bytes), *atr_len. */
int euicc_reset(struct euicc *e, uint8_t *atr, size_t *atr_len);

/* Process one command APDU. [out] rapdu (EUICC_RAPDU_MAX bytes): response
 * data followed by SW1 SW2; *rlen >= 2. Every protocol error is a status
 * word in the response; the return value is non-zero only when the card
 * cannot answer at all (RSP_ERR_INVAL for NULL arguments, RSP_ERR_IO when
 * its state could not be saved - the card then behaves as torn: the change
 * is not on disk and the card has reloaded the state that is).
 * Durability contract: a change counts as made once the slot's fdatasync
 * returned (on the slow path: once the new file is renamed into place; if
 * only the directory fsync after that fails, the command succeeds and a
 * warning is logged - only its survival of a power cut is uncertain). */
int euicc_transmit(struct euicc *e, const uint8_t *capdu, size_t clen,
                   uint8_t *rapdu, size_t *rlen);

/* One ES10 command, for callers hosting the card in process (tests, the
 * benchmark): cmd sent as STORE DATA blocks of up to 255 bytes on the basic
 * channel (CLA 80 INS E2, P1 11/91, P2 block number; SGP.22 §5.7.1, the
 * ISD-R already selected), the response collected through 61xx + GET
 * RESPONSE. [out] *resp (malloc'd, NULL if empty), *resp_len, *sw (the last
 * status word; an intermediate block's refusal stops there). Returns
 * euicc_transmit's errors, RSP_ERR_INVAL, RSP_ERR_NOMEM. liblpa's
 * lpa_es10_transact does the same over any APDU driver. */
int euicc_es10(struct euicc *e, const uint8_t *cmd, size_t len, uint8_t **resp,
               size_t *resp_len, uint16_t *sw);

/* Fault injection, for scripted failure tests (a simulator feature, not
 * SGP.22). spec is a comma-separated list; NULL or "" clears everything:
 *   crash=N       _exit(99) at the N-th crash point from now (the commit
 *                 points and those of an install; as env EUICC_CRASH_AT)
 *   sw=XXXX       answer status word XXXX to the next ES10 command (a whole
 *                 STORE DATA sequence) instead of processing it; once
 *   sw=XXXX@TAG   the same for the next ES10 command with that tag (hex,
 *                 e.g. sw=6F00@BF21 fails the next PrepareDownload)
 *   savefail      the next state save's sync fails: the written slot is
 *                 invalidated, the change is dropped, euicc_transmit
 *                 returns RSP_ERR_IO
 *   dirsync       the directory fsync of the next slow-path save (new file
 *                 renamed into place) fails: the change stands (see
 *                 euicc_transmit), a warning is logged
 * euicc_open applies env EUICC_FAULT with this syntax.
 * Errors: RSP_ERR_INVAL (unknown item; nothing is changed). */
int euicc_fault_set(struct euicc *e, const char *spec);

/* Human-readable dump of the state (euicc-tool show). */
int euicc_state_print(const struct euicc *e, FILE *out);

#endif
