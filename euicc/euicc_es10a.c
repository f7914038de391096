/*
 * euicc_es10a.c - ES10a: the addresses the eUICC keeps for the LPA
 * (SGP.22 v2.5 §5.7.3 GetEuiccConfiguredAddresses, §5.7.4
 * SetDefaultDpAddress).
 */
#include <string.h>

#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"

#include "EuiccConfiguredAddressesRequest.h"
#include "SetDefaultDpAddressRequest.h"

#define SW_WRONG_DATA 0x6A80

int euicc_es10a_get_addresses(struct euicc *e, const uint8_t *cmd, size_t len,
                              struct rsp_buf *resp)
{
    EuiccConfiguredAddressesRequest_t *req = NULL;
    size_t dp = strlen(e->st.default_dp), ds = strlen(e->st.root_ds);
    size_t inner;
    int rc;

    if (rsp_asn1_decode(&asn_DEF_EuiccConfiguredAddressesRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    rsp_asn1_free(&asn_DEF_EuiccConfiguredAddressesRequest, req);
    /* defaultDpAddress [0] OPTIONAL (absent when none is set),
     * rootDsAddress [1] mandatory; both <= 255 bytes (2-byte lengths) */
    inner = (dp ? 2 + (dp > 127) + dp : 0) + 2 + (ds > 127) + ds;
    rc = rsp_tlv_put_header(resp, 0xBF3C, inner);
    if (rc == 0 && dp)
        rc = rsp_tlv_put_header(resp, 0x80, dp);
    if (rc == 0 && dp)
        rc = rsp_buf_append(resp, e->st.default_dp, dp);
    if (rc == 0)
        rc = rsp_tlv_put_header(resp, 0x81, ds);
    if (rc == 0 && ds)
        rc = rsp_buf_append(resp, e->st.root_ds, ds);
    return rc;
}

int euicc_es10a_set_default_dp(struct euicc *e, const uint8_t *cmd, size_t len,
                               struct rsp_buf *resp)
{
    SetDefaultDpAddressRequest_t *req = NULL;
    const UTF8String_t *a;
    long result = 127; /* undefinedError */
    int rc = 0;

    if (rsp_asn1_decode(&asn_DEF_SetDefaultDpAddressRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    a = &req->defaultDpAddress;
    /* An empty address clears it. An address longer than an FQDN, or with
     * bytes the state file cannot hold (NUL, control characters, invalid
     * UTF-8: the next load would fail), is refused. */
    if (euicc_text_ok(a->buf, a->size, EUICC_ADDR_MAX, 1)) {
        if (a->size > 0)
            memcpy(e->st.default_dp, a->buf, (size_t)a->size);
        e->st.default_dp[a->size] = 0;
        rc = euicc_commit(e);
        if (rc != 0)
            goto out;
        result = 0;
    }
    rc = euicc_resp_result(resp, 0xBF3F, result);
out:
    rsp_asn1_free(&asn_DEF_SetDefaultDpAddressRequest, req);
    return rc;
}
