/* Placeholder until the crypto suite lands (being written now). */
#include "rsp_test.h"

CU_TestInfo crypto_tests[] = {
    CU_TEST_INFO_NULL,
};
