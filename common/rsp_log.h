/*
 * rsp_log.h - levelled logging, one domain per library.
 *
 * RSP_LOG checks the level before formatting anything. Pure codec and crypto
 * functions never log; keys are never logged. Hex dumps of APDUs and HTTP
 * bodies belong at RSP_LOG_DEBUG.
 */
#ifndef RSP_LOG_H
#define RSP_LOG_H

#include <stddef.h>
#include <stdint.h>

enum rsp_log_level {
    RSP_LOG_ERROR = 0,
    RSP_LOG_WARN  = 1,
    RSP_LOG_INFO  = 2,
    RSP_LOG_DEBUG = 3,
};

/* Process-wide level threshold (the only global: it is configuration, set
 * once by main). Default RSP_LOG_WARN. */
extern int rsp_log_level;

/* Parse "error", "warn", "info", "debug"; returns -1 if unknown. */
int rsp_log_level_parse(const char *s);

void rsp_log_emit(int level, const char *domain, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hex dump of p[0..len) at debug level, prefixed by what. */
void rsp_log_hex(const char *domain, const char *what, const uint8_t *p, size_t len);

#define RSP_LOG(level, domain, ...)                                   \
    do {                                                              \
        if ((level) <= rsp_log_level)                                 \
            rsp_log_emit((level), (domain), __VA_ARGS__);             \
    } while (0)

#endif
