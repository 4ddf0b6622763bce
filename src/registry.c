#include "registry.h"

#include <pthread.h>
#include <string.h>

#include "common/status.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static tpf_comm_t *live;

void tpf_registry_add(tpf_comm_t *comm) {
  pthread_mutex_lock(&lock);
  comm->next_live = live;
  live = comm;
  pthread_mutex_unlock(&lock);
}

int tpf_registry_remove(tpf_comm_t *comm) {
  int found = 0;
  pthread_mutex_lock(&lock);
  for (tpf_comm_t **at = &live; *at; at = &(*at)->next_live)
    if (*at == comm) {
      *at = comm->next_live;
      found = 1;
      break;
    }
  pthread_mutex_unlock(&lock);
  return found;
}

int tpf_registry_contains(const tpf_comm_t *comm) {
  int found = 0;
  pthread_mutex_lock(&lock);
  for (tpf_comm_t *c = live; c && !found; c = c->next_live) found = c == comm;
  pthread_mutex_unlock(&lock);
  return found;
}

tpf_comm_t *tpf_registry_find(const char *name) {
  tpf_comm_t *hit = NULL;
  pthread_mutex_lock(&lock);
  for (tpf_comm_t *c = live; c && !hit; c = c->next_live)
    if (strcmp(c->name, name) == 0) hit = c;
  pthread_mutex_unlock(&lock);
  return hit;
}

tpf_status_t tpf_check_comm(const tpf_comm_t *comm) {
  if (!comm) return tpf_fail(TPF_ERR_INVALID, "comm is NULL");
  if (!tpf_registry_contains(comm))
    return tpf_fail(TPF_ERR_INVALID, "comm %p is not a live communicator (destroyed, or never made)",
                    (const void *)comm);
  return TPF_OK;
}
