#include "rsp_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int rsp_log_level = RSP_LOG_WARN;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int rsp_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void rsp_log_emit(int level, const char *domain, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < 0 || level > 3)
        level = 3;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines of concurrent threads do not interleave. */
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour, tm.tm_min,
            tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level], domain, line);
}

void rsp_log_hex(const char *domain, const char *what, const uint8_t *p, size_t len)
{
    static const char hx[] = "0123456789ABCDEF";
    char out[2 * 256 + 1];
    size_t n = len > 256 ? 256 : len;

    if (RSP_LOG_DEBUG > rsp_log_level)
        return;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = 0;
    rsp_log_emit(RSP_LOG_DEBUG, domain, "%s (%zu bytes): %s%s", what, len, out,
                 len > n ? "..." : "");
}
