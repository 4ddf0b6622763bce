/* For the tests that check that shared memory leaves nothing behind: what
 * is left in a tmpfs directory, and a small tmpfs of their own. */
#ifndef TPF_TESTS_SHM_FILES_H
#define TPF_TESTS_SHM_FILES_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tpfuse.h"

/* Entries of a directory (not . or ..). */
static inline int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

/* The segments of an id left in a directory. */
static inline int leftovers(const char *dir, const tpf_unique_id_t *id) {
  char text[TPF_UNIQUE_ID_STRING_BYTES], stem[64];
  tpf_unique_id_to_string(id, text, sizeof text);
  snprintf(stem, sizeof stem, "tpf-%.32s", text + 5); /* the 16 random bytes */
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strncmp(e->d_name, stem, strlen(stem)) == 0;
  if (d) closedir(d);
  return n;
}

/* Mounts a tmpfs of `size` (e.g. "64k") on a fresh directory, written to
 * dir (at least 32 bytes); 0, or -1 after saying why the test skips it. */
static inline int mount_small_tmpfs(const char *size, char *dir) {
  char options[64];
  snprintf(dir, 32, "/tmp/tpf-small-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(options, sizeof options, "size=%s,mode=0700", size);
  if (mount("tpf-test", dir, "tmpfs", 0, options) == 0) return 0;
  printf("SKIP small tmpfs: cannot mount one here (%s)\n", strerror(errno));
  rmdir(dir);
  return -1;
}

/* Unmounts and removes what mount_small_tmpfs made. */
static inline void unmount_small_tmpfs(const char *dir) {
  umount(dir);
  rmdir(dir);
}

#endif
