/* Status codes and the per-thread last error. */
#ifndef TPF_COMMON_STATUS_H
#define TPF_COMMON_STATUS_H

#include "tpfuse.h"

/* Records a failure for tpf_last_error() on this thread, logs it once at
 * `TPF_LOG=info` (argument errors) or `warn` (faults), and returns `s` so a
 * caller can write `return tpf_fail(TPF_ERR_INVALID, "...", ...)`. */
tpf_status_t tpf_fail(tpf_status_t s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records and logs an already-formatted message. */
tpf_status_t tpf_fail_text(tpf_status_t s, const char *text);

/* Records without logging: for a failure already logged where it was
 * detected (a group failure seen by another rank, a peer's rejection). */
tpf_status_t tpf_record(tpf_status_t s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies src into dst (size > 0 bytes), cut to fit, always ended:
 * async-signal-safe, unlike snprintf. */
void tpf_text_copy(char *dst, size_t size, const char *src);

/* s if it is an error status, else TPF_ERR_INTERNAL: for statuses a peer
 * wrote into shared memory or a message. */
tpf_status_t tpf_status_checked(int s);

#endif
