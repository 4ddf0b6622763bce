#define _GNU_SOURCE
#include "bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/status.h"

static const unsigned char MAGIC[4] = {'T', 'P', 'F', '1'};
enum { TEXT_BYTES = 4 + TPF_ID_RANDOM_BYTES + 8 }; /* what the text form carries */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void tpf_host_identity(uint64_t *hash, char name[TPF_ID_HOST_BYTES]) {
  char boot[64] = "";
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t got = read(fd, boot, sizeof boot - 1);
    boot[got > 0 ? got : 0] = '\0';
    close(fd);
  }
  memset(name, 0, TPF_ID_HOST_BYTES);
  if (gethostname(name, TPF_ID_HOST_BYTES - 1) != 0) snprintf(name, TPF_ID_HOST_BYTES, "unknown");
  name[TPF_ID_HOST_BYTES - 1] = '\0';
  *hash = fnv1a(fnv1a(1469598103934665603ull, boot, strlen(boot)), name, strlen(name));
}

tpf_status_t tpf_get_unique_id(tpf_unique_id_t *id) {
  if (!id) return tpf_fail(TPF_ERR_INVALID, "id is NULL");
  tpf_id_fields_t f;
  memset(&f, 0, sizeof f);
  size_t got = 0;
  while (got < sizeof f.random) {
    ssize_t n = getrandom(f.random + got, sizeof f.random - got, 0);
    if (n < 0 && errno != EINTR)
      return tpf_fail(TPF_ERR_SYSTEM, "getrandom failed: %s", strerror(errno));
    if (n > 0) got += (size_t)n;
  }
  tpf_host_identity(&f.host_hash, f.host_name);
  memset(id, 0, sizeof *id);
  memcpy(id->bytes, MAGIC, 4);
  memcpy(id->bytes + 4, f.random, sizeof f.random);
  memcpy(id->bytes + 4 + TPF_ID_RANDOM_BYTES, &f.host_hash, 8);
  memcpy(id->bytes + TEXT_BYTES, f.host_name, TPF_ID_HOST_BYTES);
  return TPF_OK;
}

tpf_status_t tpf_id_decode(const tpf_unique_id_t *id, tpf_id_fields_t *out) {
  if (memcmp(id->bytes, MAGIC, 4) != 0)
    return tpf_fail(TPF_ERR_INVALID, "id is not a tpfuse unique id (make one with tpf_get_unique_id or `tpfuse id`)");
  memcpy(out->random, id->bytes + 4, TPF_ID_RANDOM_BYTES);
  memcpy(&out->host_hash, id->bytes + 4 + TPF_ID_RANDOM_BYTES, 8);
  memcpy(out->host_name, id->bytes + TEXT_BYTES, TPF_ID_HOST_BYTES);
  out->host_name[TPF_ID_HOST_BYTES - 1] = '\0';
  return TPF_OK;
}

tpf_status_t tpf_unique_id_to_string(const tpf_unique_id_t *id, char *text, size_t size) {
  if (!id || !text) return tpf_fail(TPF_ERR_INVALID, "%s is NULL", id ? "text" : "id");
  tpf_id_fields_t f;
  tpf_status_t s = tpf_id_decode(id, &f);
  if (s != TPF_OK) return s;
  if (size < TPF_UNIQUE_ID_STRING_BYTES)
    return tpf_fail(TPF_ERR_INVALID, "size=%zu is too small: the text of an id needs %d bytes", size,
                    TPF_UNIQUE_ID_STRING_BYTES);
  /* the random bytes and the host hash, in hex; the host name after a colon */
  char *p = text;
  p += sprintf(p, "tpf1-");
  for (int i = 4; i < TEXT_BYTES; i++) p += sprintf(p, "%02x", id->bytes[i]);
  snprintf(p, (size_t)(text + size - p), ":%s", f.host_name);
  return TPF_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

tpf_status_t tpf_unique_id_from_string(const char *text, tpf_unique_id_t *id) {
  if (!text || !id) return tpf_fail(TPF_ERR_INVALID, "%s is NULL", text ? "id" : "text");
  tpf_unique_id_t out;
  memset(&out, 0, sizeof out);
  memcpy(out.bytes, MAGIC, 4);
  if (strncmp(text, "tpf1-", 5) != 0)
    return tpf_fail(TPF_ERR_INVALID, "'%.40s' is not the text of a tpfuse id (it starts with tpf1-)", text);
  const char *p = text + 5;
  for (int i = 4; i < TEXT_BYTES; i++, p += 2) {
    int hi = hex_value(p[0]), lo = hi < 0 ? -1 : hex_value(p[1]);
    if (hi < 0 || lo < 0)
      return tpf_fail(TPF_ERR_INVALID, "the text of a tpfuse id has %d hex digits after tpf1-; '%.80s' does not",
                      2 * (TEXT_BYTES - 4), text);
    out.bytes[i] = (unsigned char)(hi * 16 + lo);
  }
  if (*p == ':') snprintf((char *)out.bytes + TEXT_BYTES, TPF_ID_HOST_BYTES, "%s", p + 1);
  else if (*p != '\0')
    return tpf_fail(TPF_ERR_INVALID, "unexpected '%c' after the hex digits of a tpfuse id", *p);
  *id = out;
  return TPF_OK;
}
