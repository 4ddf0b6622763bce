/* tpfuse clean: removes the shared-memory files of communicators whose
 * processes are all gone (killed at once, before any could remove them). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

/* tpfuse's names: "tpf-" and 32 hex digits, alone or followed by "-". */
static int is_tpfuse_name(const char *name) {
  if (strncmp(name, "tpf-", 4) != 0) return 0;
  for (int i = 4; i < 36; i++)
    if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i])) return 0;
  return name[36] == '\0' || name[36] == '-';
}

typedef struct inodes {
  ino_t *items;
  size_t count, capacity;
} inodes_t;

static void add_inode(inodes_t *set, ino_t ino) {
  if (set->count == set->capacity) {
    size_t grown = set->capacity ? 2 * set->capacity : 256;
    ino_t *more = realloc(set->items, grown * sizeof *more);
    if (!more) return;
    set->items = more, set->capacity = grown;
  }
  set->items[set->count++] = ino;
}

static int has_inode(const inodes_t *set, ino_t ino) {
  for (size_t i = 0; i < set->count; i++)
    if (set->items[i] == ino) return 1;
  return 0;
}

/* The inodes on device `dev` that some process maps or holds open (the
 * processes this user may look at: the only ones that can open files of
 * mode 0600, root aside, who can look at all). A process's open files are
 * read before its mappings: a file it is making is open until mapped. */
static void inodes_in_use(dev_t dev, inodes_t *set) {
  DIR *proc = opendir("/proc");
  for (struct dirent *p; proc && (p = readdir(proc));) {
    if (!isdigit((unsigned char)p->d_name[0])) continue;
    char path[300], line[4096];
    snprintf(path, sizeof path, "/proc/%s/fd", p->d_name);
    DIR *fds = opendir(path);
    for (struct dirent *f; fds && (f = readdir(fds));) {
      char fd_path[600];
      struct stat st;
      snprintf(fd_path, sizeof fd_path, "%s/%s", path, f->d_name);
      if (f->d_name[0] != '.' && stat(fd_path, &st) == 0 && st.st_dev == dev) add_inode(set, st.st_ino);
    }
    if (fds) closedir(fds);
    snprintf(path, sizeof path, "/proc/%s/maps", p->d_name);
    FILE *maps = fopen(path, "r");
    while (maps && fgets(line, sizeof line, maps)) {
      unsigned long long ino;
      if (sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 && ino != 0) add_inode(set, (ino_t)ino);
    }
    if (maps) fclose(maps);
  }
  if (proc) closedir(proc);
}

typedef struct candidate {
  ino_t ino;
  int ours; /* a regular file of this user */
  char name[256];
} candidate_t;

static const char *default_dir(void) {
  for (int i = 0; i < tpf_setting_count(); i++) {
    const tpf_setting_t *s = tpf_setting_get(i);
    if (s && strcmp(s->name, "TPF_SHM_DIR") == 0) return s->value && s->value[0] ? s->value : s->default_value;
  }
  return "/dev/shm";
}

int cmd_clean(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    printf("usage: tpfuse clean [--dir DIR] [--dry-run]\n\n"
           "Removes tpfuse's shared-memory files (tpf-<32 hex digits>...) of this user\n"
           "in DIR (default TPF_SHM_DIR, else /dev/shm) that no process maps or holds\n"
           "open: what communicators leave when all their ranks are killed at once.\n"
           "While one rank of a communicator lives, it removes them itself; files of\n"
           "live communicators, and files that are not tpfuse's, are never touched.\n"
           "--dry-run lists what would go.\n");
    return 0;
  }
  const char *dir = default_dir();
  int dry_run = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = option_value(argc, argv, &i, "--dir"))) dir = v;
    else if (strcmp(argv[i], "--dry-run") == 0) dry_run = 1;
    else {
      fprintf(stderr, "tpfuse clean: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  struct stat dir_st;
  DIR *d = opendir(dir);
  if (!d || fstat(dirfd(d), &dir_st) != 0) {
    fprintf(stderr, "tpfuse clean: %s: %s\n", dir, strerror(errno));
    if (d) closedir(d);
    return 1;
  }
  /* The candidates first, then who uses what: a file made after the scan
   * of its maker is no candidate. */
  candidate_t *found = NULL;
  size_t count = 0, capacity = 0;
  for (struct dirent *e; (e = readdir(d));) {
    struct stat st;
    if (!is_tpfuse_name(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (count == capacity) {
      capacity = capacity ? 2 * capacity : 64;
      candidate_t *more = realloc(found, capacity * sizeof *more);
      if (!more) break;
      found = more;
    }
    found[count].ino = st.st_ino;
    found[count].ours = S_ISREG(st.st_mode) && st.st_uid == geteuid();
    snprintf(found[count].name, sizeof found[count].name, "%s", e->d_name);
    count++;
  }
  inodes_t used = {NULL, 0, 0};
  inodes_in_use(dir_st.st_dev, &used);
  int removed = 0, kept = 0, failed = 0;
  for (size_t i = 0; i < count; i++) {
    if (!found[i].ours || has_inode(&used, found[i].ino)) {
      kept++;
      continue;
    }
    if (!dry_run && unlinkat(dirfd(d), found[i].name, 0) != 0) {
      if (errno == ENOENT) continue; /* its owner removed it meanwhile */
      fprintf(stderr, "tpfuse clean: %s/%s: %s\n", dir, found[i].name, strerror(errno));
      failed++;
      continue;
    }
    printf("%s %s/%s\n", dry_run ? "would remove" : "removed", dir, found[i].name);
    removed++;
  }
  closedir(d);
  free(found);
  free(used.items);
  printf("%s %d file%s; %d in use or not this user's\n", dry_run ? "would remove" : "removed", removed,
         removed == 1 ? "" : "s", kept);
  return failed ? 1 : 0;
}
