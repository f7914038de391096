/*
 * rsp_test.h - helpers for the CUnit suites.
 *
 * Every suite file exports a CU_TestInfo array; tests/runner.c lists them in
 * one CU_SuiteInfo table. Mismatches print both sides.
 */
#ifndef RSP_TEST_H
#define RSP_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

/* Path to ../shared (env RSP_SHARED, set by `make test`), and to the build
 * tree (env RSP_BUILD). Tests write scratch files only below the build tree. */
const char *test_shared_dir(void);
const char *test_build_dir(void);

/* Read a whole file (at most 16 MiB); returns malloc'd bytes or NULL. */
uint8_t *test_read_file(const char *path, size_t *len);

/* Decode hex into a malloc'd buffer (aborts the test process on bad hex:
 * the vectors are ours). */
uint8_t *test_hex(const char *hex, size_t *len);

/* Compare two byte strings; on mismatch print both in hex with a label. */
int test_bytes_eq(const char *what, const uint8_t *got, size_t got_len,
                  const uint8_t *want, size_t want_len);

#define CU_ASSERT_BYTES(what, got, glen, want, wlen) \
    CU_ASSERT(test_bytes_eq((what), (got), (glen), (want), (wlen)))

#define CU_ASSERT_RC(expr, want)                                         \
    do {                                                                  \
        int rc_ = (expr);                                                 \
        if (rc_ != (want))                                                \
            fprintf(stderr, "\n  %s:%d: %s = %d, want %d\n", __FILE__,     \
                    __LINE__, #expr, rc_, (int)(want));                   \
        CU_ASSERT(rc_ == (want));                                         \
    } while (0)

/* Suites (one per module). */
extern CU_TestInfo util_tests[];
extern CU_TestInfo asn1_tests[];
extern CU_TestInfo crypto_tests[];
extern CU_TestInfo x509_tests[];
extern CU_TestInfo pki_tests[];
extern CU_TestInfo euicc_apdu_tests[];
extern CU_TestInfo euicc_es10c_tests[];
extern CU_TestInfo euicc_es10b_tests[];
extern CU_TestInfo lpa_tests[];
extern CU_TestInfo lpa_rsp_tests[];
extern CU_TestInfo lpa_drivers_tests[];
extern CU_TestInfo euiccd_tests[];
extern CU_TestInfo smdp_store_tests[];
extern CU_TestInfo smdp_es9_tests[];
extern CU_TestInfo smdp_admin_tests[];
extern CU_TestInfo euicc_tear_tests[];
extern CU_TestInfo smdpd_tests[];
extern CU_TestInfo fuzz_tests[];
int smdpd_suite_init(void);
int smdpd_suite_cleanup(void);
extern CU_TestInfo integration_tests[];
int integration_suite_init(void);
int integration_suite_cleanup(void);
extern CU_TestInfo lpa_e2e_tests[];

#endif
