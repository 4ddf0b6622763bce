/* Unique ids: what the ranks of a shared-memory communicator agree on to
 * find each other. An id holds 16 random bytes (which name the segments)
 * and the identity of the host that made it, so that a rank started on
 * another host is told so at once instead of waiting out a timeout. */
#ifndef TPF_TRANSPORT_BOOTSTRAP_H
#define TPF_TRANSPORT_BOOTSTRAP_H

#include <stdint.h>

#include "tpfuse.h"

enum { TPF_ID_RANDOM_BYTES = 16, TPF_ID_HOST_BYTES = 40 };

typedef struct tpf_id_fields {
  unsigned char random[TPF_ID_RANDOM_BYTES];
  uint64_t host_hash;                  /* boot id and host name */
  char host_name[TPF_ID_HOST_BYTES];   /* for messages */
} tpf_id_fields_t;

/* This host's identity. */
void tpf_host_identity(uint64_t *hash, char name[TPF_ID_HOST_BYTES]);

/* Reads an id made by tpf_get_unique_id; TPF_ERR_INVALID if it is not one. */
tpf_status_t tpf_id_decode(const tpf_unique_id_t *id, tpf_id_fields_t *out);

#endif
