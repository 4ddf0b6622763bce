/* What shared memory leaves in a tmpfs directory, for the tests that check
 * that nothing stays behind. */
#ifndef TPF_TESTS_SHM_FILES_H
#define TPF_TESTS_SHM_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

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

#endif
