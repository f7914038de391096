/* The one CUnit runner: every suite of every module, in one table. */
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "rsp_test.h"

static CU_SuiteInfo suites[] = {
    { .pName = "util",   .pTests = util_tests },
    { .pName = "asn1",   .pTests = asn1_tests },
    { .pName = "crypto", .pTests = crypto_tests },
    { .pName = "x509",   .pTests = x509_tests },
    { .pName = "pki",    .pTests = pki_tests },
    { .pName = "euicc_apdu",  .pTests = euicc_apdu_tests },
    { .pName = "euicc_es10c", .pTests = euicc_es10c_tests },
    { .pName = "euicc_es10b", .pTests = euicc_es10b_tests },
    { .pName = "lpa", .pTests = lpa_tests },
    { .pName = "lpa_rsp", .pTests = lpa_rsp_tests },
    { .pName = "lpa_drivers", .pTests = lpa_drivers_tests },
    { .pName = "euiccd", .pTests = euiccd_tests },
    { .pName = "smdp_store", .pTests = smdp_store_tests },
    { .pName = "smdp_es9", .pTests = smdp_es9_tests },
    { .pName = "smdp_admin", .pTests = smdp_admin_tests },
    { .pName = "euicc_tear", .pTests = euicc_tear_tests },
    { .pName = "smdpd", .pTests = smdpd_tests, .pInitFunc = smdpd_suite_init,
      .pCleanupFunc = smdpd_suite_cleanup },
    { .pName = "integration", .pTests = integration_tests,
      .pInitFunc = integration_suite_init, .pCleanupFunc = integration_suite_cleanup },
    { .pName = "lpa_e2e", .pTests = lpa_e2e_tests },
    { .pName = "fuzz", .pTests = fuzz_tests },
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "suite registration: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (argc > 1) {
        /* rsp-tests SUITE [TEST]: run one suite or one test */
        CU_pSuite s = CU_get_suite(argv[1]);
        if (!s) {
            fprintf(stderr, "no suite %s\n", argv[1]);
            CU_cleanup_registry();
            return 2;
        }
        if (argc > 2) {
            CU_pTest t = CU_get_test(s, argv[2]);
            if (!t) {
                fprintf(stderr, "no test %s in %s\n", argv[2], argv[1]);
                CU_cleanup_registry();
                return 2;
            }
            CU_basic_run_test(s, t);
        } else {
            CU_basic_run_suite(s);
        }
    } else {
        CU_basic_run_tests();
    }
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned fails = CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    printf("\n%u passed, %u failed\n", run - fails, fails);
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
