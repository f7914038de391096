/* Placeholder until the x509 suite lands (being written now). */
#include "rsp_test.h"

CU_TestInfo x509_tests[] = {
    CU_TEST_INFO_NULL,
};
