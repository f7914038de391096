/* Placeholder until the asn1 suite lands (being written now). */
#include "rsp_test.h"

CU_TestInfo asn1_tests[] = {
    CU_TEST_INFO_NULL,
};
