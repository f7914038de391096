#include "rsp_err.h"

const char *rsp_strerror(int err)
{
    switch (err) {
    case RSP_OK:              return "success";
    case RSP_ERR_NOMEM:       return "out of memory";
    case RSP_ERR_INVAL:       return "invalid argument";
    case RSP_ERR_TOOBIG:      return "too big";
    case RSP_ERR_DECODE:      return "malformed encoding";
    case RSP_ERR_ENCODE:      return "cannot encode";
    case RSP_ERR_CRYPTO:      return "crypto library failure";
    case RSP_ERR_VERIFY:      return "verification failed";
    case RSP_ERR_CERT:        return "invalid certificate";
    case RSP_ERR_EXPIRED:     return "certificate expired or not yet valid";
    case RSP_ERR_UNKNOWN_CI:  return "unknown certificate issuer";
    case RSP_ERR_EID:         return "EID invalid or not permitted";
    case RSP_ERR_NOTFOUND:    return "not found";
    case RSP_ERR_IO:          return "I/O error";
    case RSP_ERR_STATE:       return "not allowed in this state";
    case RSP_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
