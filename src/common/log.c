#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include "env.h"

static const char *const level_names[] = {"off", "warn", "info", "debug", "trace"};

int tpf_log_parse(const char *text) {
  for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
    if (strcmp(text, level_names[i]) == 0) return i;
  return -1;
}

static tpf_log_level_t level = TPF_LOG_WARN;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static void read_level(void) {
  int parsed = tpf_log_parse(tpf_env_string(TPF_ENV_LOG));
  level = parsed < 0 ? TPF_LOG_WARN : (tpf_log_level_t)parsed;
}

tpf_log_level_t tpf_log_level(void) {
  pthread_once(&level_once, read_level);
  return level;
}

void tpf_log(tpf_log_level_t lvl, const char *fmt, ...) {
  if (lvl == TPF_LOG_OFF || lvl > tpf_log_level()) return;
  /* One fprintf per message so that lines of concurrent ranks do not mix. */
  char text[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tpfuse %s: %s\n", level_names[lvl], text);
}
