/*
 * rsp_err.h - C error codes shared by every library of the stack.
 *
 * A C error says that a function could not do its job (bad input, no memory,
 * a signature that does not verify). Protocol outcomes - an SGP.22
 * subjectCode/reasonCode, an ES10 result enum, an ISO 7816 status word - are
 * data carried in results, never encoded in these values.
 */
#ifndef RSP_ERR_H
#define RSP_ERR_H

enum rsp_err {
    RSP_OK           = 0,
    RSP_ERR_NOMEM    = -1,  /* allocation failed */
    RSP_ERR_INVAL    = -2,  /* caller passed an invalid argument */
    RSP_ERR_TOOBIG   = -3,  /* input or output exceeds its cap */
    RSP_ERR_DECODE   = -4,  /* malformed encoding (ASN.1, hex, base64, JSON) */
    RSP_ERR_ENCODE   = -5,  /* value cannot be encoded (constraint violated) */
    RSP_ERR_CRYPTO   = -6,  /* the crypto library failed (not a verification) */
    RSP_ERR_VERIFY   = -7,  /* signature or MAC does not verify */
    RSP_ERR_CERT     = -8,  /* certificate or chain invalid */
    RSP_ERR_EXPIRED  = -9,  /* certificate outside its validity period */
    RSP_ERR_UNKNOWN_CI = -10, /* no trusted CI with that PKID */
    RSP_ERR_EID      = -11, /* EID malformed or not permitted by the EUM */
    RSP_ERR_NOTFOUND = -12, /* looked-up item absent */
    RSP_ERR_IO       = -13, /* file or socket error */
    RSP_ERR_STATE    = -14, /* operation not allowed in the current state */
    RSP_ERR_UNSUPPORTED = -15, /* curve, algorithm or version not supported */
};

/* Human-readable text for an rsp_err value; never NULL. */
const char *rsp_strerror(int err);

#endif
