#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

enum { LAST_ERROR_CAPACITY = 1024 };
static _Thread_local char last_error[LAST_ERROR_CAPACITY];

const char *tpf_status_string(tpf_status_t s) {
  switch (s) {
  case TPF_OK: return "TPF_OK";
  case TPF_ERR_INVALID: return "TPF_ERR_INVALID";
  case TPF_ERR_UNSUPPORTED: return "TPF_ERR_UNSUPPORTED";
  case TPF_ERR_NOMEM: return "TPF_ERR_NOMEM";
  case TPF_ERR_SYSTEM: return "TPF_ERR_SYSTEM";
  case TPF_ERR_TIMEOUT: return "TPF_ERR_TIMEOUT";
  case TPF_ERR_PEER: return "TPF_ERR_PEER";
  case TPF_ERR_MISMATCH: return "TPF_ERR_MISMATCH";
  case TPF_ERR_ABORTED: return "TPF_ERR_ABORTED";
  case TPF_ERR_INTERNAL: return "TPF_ERR_INTERNAL";
  }
  return "TPF_UNKNOWN_STATUS";
}

const char *tpf_last_error(void) { return last_error; }

/* Argument errors are the caller's to handle: they are logged quietly.
 * Faults (timeouts, dead peers, aborts, system errors) are worth a warning. */
static tpf_log_level_t level_for(tpf_status_t s) {
  return (s == TPF_ERR_INVALID || s == TPF_ERR_UNSUPPORTED || s == TPF_ERR_MISMATCH)
             ? TPF_LOG_INFO
             : TPF_LOG_WARN;
}

tpf_status_t tpf_fail_text(tpf_status_t s, const char *text) {
  snprintf(last_error, sizeof last_error, "%s", text);
  tpf_log(level_for(s), "%s: %s", tpf_status_string(s), last_error);
  return s;
}

tpf_status_t tpf_record(tpf_status_t s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}

tpf_status_t tpf_fail(tpf_status_t s, const char *fmt, ...) {
  char text[LAST_ERROR_CAPACITY];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  return tpf_fail_text(s, text);
}

void tpf_text_copy(char *dst, size_t size, const char *src) {
  size_t i = 0;
  for (; i + 1 < size && src[i]; i++) dst[i] = src[i];
  dst[i] = '\0';
}

tpf_status_t tpf_status_checked(int s) {
  return s < TPF_OK && s >= TPF_ERR_INTERNAL ? (tpf_status_t)s : TPF_ERR_INTERNAL;
}
