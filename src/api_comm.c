/* Public entry points for communicators. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/env.h"
#include "common/log.h"
#include "common/alloc.h"
#include "common/status.h"
#include "api_comm.h"
#include "ops/calibrate.h"
#include "internal.h"
#include "registry.h"

const char *tpf_version(void) { return TPF_VERSION_TEXT; }

enum { TPF_MAX_THREADS_PER_RANK = 1024 };

/* The cores this process may run on, shared fairly among `ranks` ranks on
 * this host, so that ranks do not oversubscribe the cores. */
static int tpf_default_threads(int ranks) {
  int cores = tpf_cpu_count();
  return cores / ranks > 1 ? cores / ranks : 1;
}

/* The fields of tpf_config_t that a caller of each size knows about. */
#define CONFIG_HAS(cfg, field) \
  ((cfg) && (cfg)->size >= offsetof(tpf_config_t, field) + sizeof((cfg)->field))

typedef struct settings {
  const tpf_gemm_isa_t *isa;
  const char *shm_dir;
  int threads; /* 0: the host's cores divided among the ranks on it */
  int timeout_ms, spin_us;
  tpf_algo_t algo;
  int measure_costs; /* TPF_COST_MODEL=measured (else the shipped table) */
} settings_t;

static tpf_status_t parse_algo(const char *text, tpf_algo_t *algo) {
  if (strcmp(text, "auto") == 0) *algo = TPF_ALGO_AUTO;
  else if (strcmp(text, "unfused") == 0) *algo = TPF_ALGO_UNFUSED;
  else if (strcmp(text, "ring") == 0) *algo = TPF_ALGO_RING;
  else if (strcmp(text, "direct") == 0) *algo = TPF_ALGO_DIRECT;
  else return tpf_fail(TPF_ERR_INVALID, "TPF_ALGO='%s' must be auto, unfused, ring or direct", text);
  return TPF_OK;
}

tpf_status_t tpf_env_setting_int(tpf_env_id_t id, int lo, int hi, int *value) {
  if (tpf_env_int(id, lo, hi, value)) return TPF_OK;
  return tpf_fail(TPF_ERR_INVALID, "%s='%s' must be an integer in [%d, %d]", tpf_env_name(id), tpf_env_string(id),
                  lo, hi);
}

/* A config field if the caller set it, else its environment variable. */
static tpf_status_t resolve(const tpf_config_t *cfg, settings_t *out) {
  if (cfg && cfg->size < offsetof(tpf_config_t, threads_per_rank))
    return tpf_fail(TPF_ERR_INVALID, "cfg->size=%zu is too small for a tpf_config_t (use TPF_CONFIG_INIT)",
                    cfg->size);
  if (tpf_log_parse(tpf_env_string(TPF_ENV_LOG)) < 0)
    return tpf_fail(TPF_ERR_INVALID, "TPF_LOG='%s' must be off, warn, info, debug or trace",
                    tpf_env_string(TPF_ENV_LOG));
  if (cfg && cfg->size > sizeof(tpf_config_t))
    return tpf_fail(TPF_ERR_UNSUPPORTED, "cfg->size=%zu is larger than this library's tpf_config_t (%zu): built against a newer tpfuse.h?",
                    cfg->size, sizeof(tpf_config_t));
  tpf_status_t s;
  out->threads = CONFIG_HAS(cfg, threads_per_rank) ? cfg->threads_per_rank : 0;
  if (out->threads < 0 || out->threads > TPF_MAX_THREADS_PER_RANK)
    return tpf_fail(TPF_ERR_INVALID, "cfg->threads_per_rank=%d must be in [0, %d]", out->threads,
                    TPF_MAX_THREADS_PER_RANK);
  if (out->threads == 0 &&
      (s = tpf_env_setting_int(TPF_ENV_THREADS_PER_RANK, 0, TPF_MAX_THREADS_PER_RANK, &out->threads)) != TPF_OK)
    return s;
  out->timeout_ms = CONFIG_HAS(cfg, timeout_ms) ? cfg->timeout_ms : 0;
  if (out->timeout_ms < 0)
    return tpf_fail(TPF_ERR_INVALID, "cfg->timeout_ms=%d must be > 0 (or 0 for the default)", out->timeout_ms);
  if (out->timeout_ms == 0 && (s = tpf_env_setting_int(TPF_ENV_TIMEOUT_MS, 1, 1 << 30, &out->timeout_ms)) != TPF_OK)
    return s;
  out->algo = CONFIG_HAS(cfg, algo) ? cfg->algo : TPF_ALGO_AUTO;
  if (out->algo < TPF_ALGO_AUTO || out->algo > TPF_ALGO_DIRECT)
    return tpf_fail(TPF_ERR_INVALID, "cfg->algo=%d is not a tpf_algo_t", (int)out->algo);
  if (out->algo == TPF_ALGO_AUTO && (s = parse_algo(tpf_env_string(TPF_ENV_ALGO), &out->algo)) != TPF_OK)
    return s;
  out->spin_us = CONFIG_HAS(cfg, spin_us) ? cfg->spin_us : 0;
  if (out->spin_us < 0)
    return tpf_fail(TPF_ERR_INVALID, "cfg->spin_us=%d must be >= 0", out->spin_us);
  if (out->spin_us == 0 && (s = tpf_env_setting_int(TPF_ENV_SPIN_US, 0, 1 << 30, &out->spin_us)) != TPF_OK)
    return s;
  const char *model = tpf_env_string(TPF_ENV_COST_MODEL);
  out->measure_costs = strcmp(model, "measured") == 0;
  if (!out->measure_costs && strcmp(model, "table") != 0)
    return tpf_fail(TPF_ERR_INVALID, "TPF_COST_MODEL='%s' must be measured or table", model);
  out->shm_dir = CONFIG_HAS(cfg, shm_dir) && cfg->shm_dir ? cfg->shm_dir : tpf_env_string(TPF_ENV_SHM_DIR);
  const char *isa = CONFIG_HAS(cfg, isa) ? cfg->isa : NULL;
  if (isa && strcmp(isa, "auto") != 0) return tpf_gemm_isa_find(isa, "cfg->isa", &out->isa);
  return tpf_gemm_isa_select(&out->isa);
}

static void comm_free(tpf_comm_t *c) {
  if (!c) return;
  if (c->ep) c->ep->transport->destroy(c->ep);
  tpf_links_free(&c->links);
  for (int i = 0; i < TPF_OP_KINDS; i++) free(c->op_state[i]);
  tpf_gemm_engine_free(&c->gemm);
  free(c->row_offsets);
  free(c->peer_scratch);
  free(c->ld_scratch);
  free(c->fingerprints);
  tpf_free(c->bias);
  free(c->row_sources);
  c->magic = 0;
  free(c);
}

static tpf_status_t comm_make(tpf_endpoint_t *ep, const tpf_gemm_isa_t *isa,
                              const settings_t *set, const char *name, tpf_comm_t **made) {
  tpf_comm_t *c = calloc(1, sizeof *c);
  if (!c) return tpf_fail(TPF_ERR_NOMEM, "could not allocate a communicator");
  c->magic = TPF_COMM_MAGIC;
  c->ep = ep;
  c->rank = ep->rank;
  c->size = ep->size;
  c->algo = set->algo;
  c->costs = tpf_costs; /* (one rank never chooses; see agree_on_costs) */
  c->reach = !tpf_transport_all_shared(ep)                ? TPF_REACH_MESSAGES
             : ep->peer_reads == TPF_PEER_READS_IN_PLACE ? TPF_REACH_IN_PLACE
                                                          : TPF_REACH_SHARED;
  snprintf(c->name, sizeof c->name, "%s", name);
  c->row_offsets = calloc((size_t)ep->size + 1, sizeof *c->row_offsets);
  c->peer_scratch = calloc((size_t)ep->size, sizeof *c->peer_scratch);
  c->fingerprints = calloc((size_t)ep->size, sizeof *c->fingerprints);
  c->ld_scratch = calloc((size_t)ep->size, sizeof *c->ld_scratch);
  c->row_sources = calloc((size_t)ep->size, sizeof *c->row_sources);
  tpf_status_t s = c->row_offsets && c->peer_scratch && c->fingerprints && c->ld_scratch && c->row_sources
                       ? tpf_links_init(&c->links, ep)
                       : tpf_fail(TPF_ERR_NOMEM, "could not allocate a communicator");
  if (s == TPF_OK) s = tpf_gemm_engine_init(&c->gemm, isa, set->threads);
  if (s != TPF_OK) {
    c->ep = NULL; /* the caller still owns the endpoint */
    comm_free(c);
    return s;
  }
  *made = c;
  return TPF_OK;
}

/* The cost model rank 0 brings (calibrate.h), which every rank takes, so
 * that TPF_ALGO_AUTO picks the same algorithm everywhere; the others bring
 * the table, unused: they do not probe (nor slow rank 0's probes down). */
static tpf_costs_t brought_costs(tpf_comm_t *c, const settings_t *set) {
  return set->measure_costs && c->rank == 0 ? tpf_costs_for(&c->gemm) : tpf_costs;
}

/* A communicator whose ranks are processes: every rank takes rank 0's. */
static tpf_status_t agree_on_costs(tpf_comm_t *c, const settings_t *set) {
  if (c->size < 2) return TPF_OK;
  const tpf_costs_t mine = brought_costs(c, set);
  tpf_costs_t *all = malloc(sizeof mine * (size_t)c->size);
  if (!all) return tpf_fail(TPF_ERR_NOMEM, "could not allocate the ranks' cost models");
  tpf_status_t s = c->ep->transport->exchange(c->ep, &mine, all, sizeof mine);
  if (s == TPF_OK) c->costs = all[0];
  free(all);
  return s;
}

enum { MAX_RANKS = 4096 };

tpf_status_t tpf_comm_init_all(tpf_comm_t **comms, int world_size, const tpf_config_t *cfg) {
  if (!comms) return tpf_fail(TPF_ERR_INVALID, "comms is NULL");
  if (world_size < 1 || world_size > MAX_RANKS)
    return tpf_fail(TPF_ERR_INVALID, "world_size=%d must be in [1, %d]", world_size, MAX_RANKS);
  settings_t set;
  tpf_status_t s = resolve(cfg, &set);
  if (s != TPF_OK) return s;
  if (set.threads == 0) set.threads = tpf_default_threads(world_size);

  tpf_endpoint_t **eps = calloc((size_t)world_size, sizeof *eps);
  tpf_comm_t **made = calloc((size_t)world_size, sizeof *made);
  if (!eps || !made) {
    free(eps);
    free(made);
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate %d communicators", world_size);
  }
  tpf_transport_config_t tcfg = {(int64_t)set.timeout_ms * 1000000, (int64_t)set.spin_us * 1000, set.shm_dir};
  s = tpf_transport_threads_create(world_size, &tcfg, eps);
  static _Atomic unsigned groups;
  unsigned group = atomic_fetch_add(&groups, 1) + 1;
  for (int r = 0; s == TPF_OK && r < world_size; r++) {
    char name[64];
    snprintf(name, sizeof name, "tpf-threads-%d-%u-r%d", (int)getpid(), group, r);
    s = comm_make(eps[r], set.isa, &set, name, &made[r]);
  }
  if (s == TPF_OK && world_size > 1) { /* one process: one table for all */
    const tpf_costs_t costs = brought_costs(made[0], &set);
    for (int r = 0; r < world_size; r++) made[r]->costs = costs;
  }
  if (s != TPF_OK) {
    for (int r = 0; r < world_size; r++) {
      if (made[r]) comm_free(made[r]);
      else if (eps[r]) eps[r]->transport->destroy(eps[r]);
    }
  } else {
    for (int r = 0; r < world_size; r++) {
      tpf_registry_add(made[r]);
      comms[r] = made[r];
    }
  }
  free(eps);
  free(made);
  return s;
}

static int all_zero(const tpf_unique_id_t *id) {
  for (size_t i = 0; i < sizeof id->bytes; i++)
    if (id->bytes[i]) return 0;
  return 1;
}

typedef struct shm_setup {
  int world_size, rank;
  tpf_unique_id_t id;
} shm_setup_t;

static tpf_status_t make_shm_endpoint(void *arg, const tpf_transport_config_t *tcfg, tpf_endpoint_t **ep) {
  const shm_setup_t *setup = arg;
  return tpf_transport_shm_create(setup->world_size, setup->rank, &setup->id, tcfg->shm_dir, tcfg, ep);
}

tpf_status_t tpf_comm_init_rank(tpf_comm_t **comm, int world_size, tpf_unique_id_t id, int rank,
                                const tpf_config_t *cfg) {
  if (!comm) return tpf_fail(TPF_ERR_INVALID, "comm is NULL");
  if (world_size < 1 || world_size > MAX_RANKS)
    return tpf_fail(TPF_ERR_INVALID, "world_size=%d must be in [1, %d]", world_size, MAX_RANKS);
  if (rank < 0 || rank >= world_size)
    return tpf_fail(TPF_ERR_INVALID, "rank=%d must be in [0, world_size=%d)", rank, world_size);
  tpf_status_t s = tpf_config_check(cfg);
  if (s != TPF_OK) return s;
  if (all_zero(&id)) {
    const char *text = tpf_env_string(TPF_ENV_UNIQUE_ID);
    if (!*text)
      return tpf_fail(TPF_ERR_INVALID, "id is all zero bytes and TPF_UNIQUE_ID is not set (`tpfuse id` prints one)");
    if ((s = tpf_unique_id_from_string(text, &id)) != TPF_OK)
      return tpf_fail(s, "TPF_UNIQUE_ID: %s", tpf_last_error());
  }
  shm_setup_t setup = {world_size, rank, id};
  char prefix[48];
  snprintf(prefix, sizeof prefix, "tpf-shm-%02x%02x%02x%02x", id.bytes[4], id.bytes[5], id.bytes[6], id.bytes[7]);
  return tpf_comm_init_endpoint(comm, cfg, world_size, make_shm_endpoint, &setup, prefix);
}

tpf_status_t tpf_config_check(const tpf_config_t *cfg) {
  settings_t set;
  return resolve(cfg, &set);
}

int tpf_config_timeout_ms(const tpf_config_t *cfg) {
  settings_t set;
  return resolve(cfg, &set) == TPF_OK ? set.timeout_ms : 30000;
}

tpf_status_t tpf_comm_init_endpoint(tpf_comm_t **comm, const tpf_config_t *cfg, int ranks_on_host,
                                    tpf_endpoint_maker_fn make, void *arg, const char *name_prefix) {
  if (!comm) return tpf_fail(TPF_ERR_INVALID, "comm is NULL");
  settings_t set;
  tpf_status_t s = resolve(cfg, &set);
  if (s != TPF_OK) return s;
  if (set.threads == 0) set.threads = tpf_default_threads(ranks_on_host);
  tpf_transport_config_t tcfg = {(int64_t)set.timeout_ms * 1000000, (int64_t)set.spin_us * 1000, set.shm_dir};
  tpf_endpoint_t *ep;
  if ((s = make(arg, &tcfg, &ep)) != TPF_OK) return s;
  char name[64];
  snprintf(name, sizeof name, "%s-r%d", name_prefix, ep->rank);
  tpf_comm_t *made;
  if ((s = comm_make(ep, set.isa, &set, name, &made)) != TPF_OK) {
    ep->transport->destroy(ep);
    return s;
  }
  if ((s = agree_on_costs(made, &set)) != TPF_OK) {
    comm_free(made); /* (with its endpoint) */
    return s;
  }
  tpf_registry_add(made);
  *comm = made;
  return TPF_OK;
}

/* Async-signal-safe: no lock, no allocation, no stdio, no last error. */
tpf_status_t tpf_comm_abort(tpf_comm_t *comm) {
  if (!tpf_registry_hold(comm)) return TPF_ERR_INVALID;
  char why[96] = "the communicator was aborted (tpf_comm_abort on rank ";
  size_t at = strlen(why);
  char digits[12];
  int n = 0;
  for (unsigned r = (unsigned)comm->rank; n == 0 || r > 0; r /= 10) digits[n++] = (char)('0' + r % 10);
  while (n > 0) why[at++] = digits[--n];
  why[at++] = ')';
  why[at] = '\0';
  comm->ep->transport->abort(comm->ep, why);
  tpf_registry_release();
  return TPF_OK;
}

tpf_status_t tpf_comm_destroy(tpf_comm_t *comm) {
  if (!comm) return TPF_OK;
  int inherited = 0;
  tpf_status_t s = tpf_registry_remove(comm, &inherited);
  if (s != TPF_OK) return s;
  /* A forked child's copy: its threads and peers live in the parent. */
  if (!inherited) comm_free(comm);
  return TPF_OK;
}

int tpf_comm_rank(const tpf_comm_t *comm) {
  return comm && tpf_registry_contains(comm) ? comm->rank : -1;
}

int tpf_comm_size(const tpf_comm_t *comm) {
  return comm && tpf_registry_contains(comm) ? comm->size : -1;
}

const char *tpf_comm_name(const tpf_comm_t *comm) {
  return comm && tpf_registry_contains(comm) ? comm->name : NULL;
}

tpf_comm_t *tpf_comm_find(const char *name) { return name ? tpf_registry_find(name) : NULL; }

int tpf_comm_cost_get(const tpf_comm_t *comm, int i, tpf_cost_t *out) {
  return comm && tpf_registry_contains(comm) ? tpf_cost_entry(&comm->costs, i, out) : 0;
}
