/* Logging to stderr, filtered by TPF_LOG (off|warn|info|debug|trace). */
#ifndef TPF_COMMON_LOG_H
#define TPF_COMMON_LOG_H

typedef enum tpf_log_level {
  TPF_LOG_OFF = 0,
  TPF_LOG_WARN = 1,
  TPF_LOG_INFO = 2,
  TPF_LOG_DEBUG = 3,
  TPF_LOG_TRACE = 4
} tpf_log_level_t;

/* Parses "off", "warn", "info", "debug", "trace"; -1 if none of them. */
int tpf_log_parse(const char *text);

/* The level in force: TPF_LOG, read once (default warn). */
tpf_log_level_t tpf_log_level(void);

void tpf_log(tpf_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
