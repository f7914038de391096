/* Placeholder until the pki suite lands (being written now). */
#include "rsp_test.h"

CU_TestInfo pki_tests[] = {
    CU_TEST_INFO_NULL,
};
