/*
 * tpfuse.h - tensor-parallel fused matmul + collective operators.
 *
 * The only public header of libtpfuse. Everything declared here works;
 * what is not declared here is not API.
 *
 * Conventions that hold for every function:
 *  - fallible calls return tpf_status_t; on failure tpf_last_error() says why,
 *    in words that name the argument, the value and the rule;
 *  - outputs are the last arguments and are written only on success;
 *  - the library never aborts or exits on user input;
 *  - every operator call is collective over its communicator and synchronous:
 *    when it returns on a rank, that rank's output is complete.
 */
#ifndef TPFUSE_H
#define TPFUSE_H

#include <stddef.h>
#include <stdint.h>

#if defined(TPF_BUILDING_LIBRARY) && defined(__GNUC__)
#define TPF_API __attribute__((visibility("default")))
#else
#define TPF_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TPF_VERSION_MAJOR 0
#define TPF_VERSION_MINOR 1
#define TPF_VERSION_PATCH 0

/* "0.1.0": the version of the library actually linked. */
TPF_API const char *tpf_version(void);

/* ------------------------------------------------------------------ status */

typedef enum tpf_status { /* never renumbered */
  TPF_OK = 0,
  TPF_ERR_INVALID = -1,     /* a bad argument; nothing was touched */
  TPF_ERR_UNSUPPORTED = -2, /* valid, but not supported by this build / CPU */
  TPF_ERR_NOMEM = -3,
  TPF_ERR_SYSTEM = -4,      /* the operating system refused (errno in the message) */
  TPF_ERR_TIMEOUT = -5,     /* a peer made no progress within the timeout */
  TPF_ERR_PEER = -6,        /* a peer failed or rejected its own arguments */
  TPF_ERR_MISMATCH = -7,    /* ranks called with different arguments */
  TPF_ERR_ABORTED = -8,     /* the communicator was aborted */
  TPF_ERR_INTERNAL = -9     /* a bug in tpfuse: please report it */
} tpf_status_t;

/* A constant name for a status, e.g. "TPF_ERR_MISMATCH"; "TPF_UNKNOWN_STATUS"
 * for a value that is not a status. */
TPF_API const char *tpf_status_string(tpf_status_t s);

/* The calling thread's most recent failure, in words ("" if none yet). The
 * text stays valid until this thread's next failing call into tpfuse. */
TPF_API const char *tpf_last_error(void);

/* ------------------------------------------------------------ environment */

/* One environment variable that tpfuse reads. */
typedef struct tpf_setting {
  const char *name;          /* e.g. "TPF_TIMEOUT_MS" */
  const char *value;         /* as set in this process's environment, or NULL */
  const char *default_value; /* what applies when it is not set */
  const char *meaning;       /* one line: what it controls, its choices */
} tpf_setting_t;

/* The settings are numbered 0 .. tpf_setting_count() - 1. tpf_setting_get
 * returns NULL outside that range; the pointer is valid until the calling
 * thread's next tpf_setting_get. */
TPF_API int tpf_setting_count(void);
TPF_API const tpf_setting_t *tpf_setting_get(int i);

/* One parameter of the cost model that TPF_ALGO_AUTO chooses with: what
 * MatmulReduceScatter's ring and unfused path should take for a call's
 * shape, per kernel family (gemm.fp32: fp32 and fp16 inputs; gemm.bf16)
 * and per way the ranks reach each other (threads: one address space;
 * host: processes of one host; messages: MPI across hosts). The model is
 * in docs/usage.md ("Choosing the algorithm"). */
typedef struct tpf_cost {
  const char *name;    /* e.g. "host.step_latency" */
  double value;        /* in `unit` */
  const char *unit;    /* e.g. "us", "GB/s", "" */
  const char *meaning; /* one line */
} tpf_cost_t;

/* The parameters are numbered 0 .. tpf_cost_count() - 1; tpf_cost_get
 * fills *out with the table as shipped (fit on one machine) and returns 1,
 * or returns 0 outside that range. */
TPF_API int tpf_cost_count(void);
TPF_API int tpf_cost_get(int i, tpf_cost_t *out);

/* The CPU features tpfuse detected, space-separated (e.g. "sse2 avx2 fma f16c
 * avx512f avx512bw avx512_bf16"); each only when the OS also saves the
 * registers it needs. */
TPF_API const char *tpf_cpu_features(void);

/* The instruction set whose GEMM kernels communicators use by default
 * (TPF_ISA, else the best this CPU runs), e.g. "avx512_bf16". If TPF_ISA
 * names one that does not exist or that this CPU cannot run, this returns
 * NULL and tpf_last_error() says why; making a communicator then fails with
 * the same error. */
TPF_API const char *tpf_gemm_kernel(void);

/* Every instruction set with GEMM kernels built into this library, best
 * first, space-separated: "amx avx512_bf16 avx512 avx2 portable". amx
 * multiplies bf16 with AMX tiles (TDPBF16PS; fp16/fp32 like avx512);
 * avx512_bf16 multiplies bf16 with vdpbf16ps (and fp16/fp32 like avx512);
 * avx512 and avx2 multiply in fp32 with FMA, converting fp16/bf16 while
 * packing; portable is plain C. */
TPF_API const char *tpf_gemm_kernels_built(void);

/* ------------------------------------------------------------------- data */

typedef enum tpf_dtype { TPF_FLOAT16, TPF_BFLOAT16, TPF_FLOAT32 } tpf_dtype_t;
typedef enum tpf_reduce_op { TPF_SUM, TPF_AVG } tpf_reduce_op_t;

/* A row-major view of a matrix; nothing is copied.
 * Element (i, j) of the logical (rows x cols) matrix lives at
 *   data[i * ld + j]   when transposed == 0 (storage is rows x cols),
 *   data[j * ld + i]   when transposed == 1 (storage is cols x rows).
 * ld = 0 means dense: ld equals the number of stored columns. */
typedef struct tpf_matrix {
  void *data;
  tpf_dtype_t dtype;
  int64_t rows, cols; /* logical shape */
  int64_t ld;         /* elements between stored rows; 0 = dense */
  int transposed;     /* 1: storage holds the transpose (cols x rows) */
} tpf_matrix_t;

/* Converts n elements from src (src_dtype) to dst (dst_dtype), rounding to
 * nearest even; NaN stays NaN, Inf stays Inf, overflow becomes Inf. src and
 * dst must not overlap unless they are the same array of the same dtype. */
TPF_API tpf_status_t tpf_convert(const void *src, tpf_dtype_t src_dtype, void *dst,
                                 tpf_dtype_t dst_dtype, size_t n);

/* ---------------------------------------------------------- communicators */

/* How a fused operator runs. AUTO lets tpfuse choose per call. */
typedef enum tpf_algo {
  TPF_ALGO_AUTO = 0,
  TPF_ALGO_UNFUSED = 1, /* whole GEMM, then the collective: the baseline */
  TPF_ALGO_RING = 2,    /* chunked ring-accumulate, pipelined with the GEMM */
  TPF_ALGO_DIRECT = 3   /* each rank makes every owner's chunks; owners sum
                           their chunks between their own GEMM chunks */
} tpf_algo_t;

/* Per-communicator settings. Start from TPF_CONFIG_INIT; a field left at 0
 * takes its value from the environment variable named beside it, or else
 * the documented default (`tpfuse info` lists them). New fields are only
 * ever appended; `size` lets older callers keep working. */
typedef struct tpf_config {
  size_t size;          /* sizeof(tpf_config_t) */
  int threads_per_rank; /* TPF_THREADS_PER_RANK, default 0: the cores this
                           process may use divided among the ranks on this
                           host. The compute threads of each rank's GEMM
                           (a persistent pool); results do not depend on it */
  int timeout_ms;       /* TPF_TIMEOUT_MS, default 30000: the longest any wait
                           for a peer may last before TPF_ERR_TIMEOUT. After a
                           timeout, a dead peer or an abort the communicator
                           refuses every call: destroy it on every rank */
  tpf_algo_t algo;      /* TPF_ALGO (auto|unfused|ring|direct): the default algorithm
                           of calls whose options say TPF_ALGO_AUTO */
  int spin_us;          /* TPF_SPIN_US, default 50: how long a wait spins
                           before it sleeps on a futex */
  const char *isa;      /* TPF_ISA, default "auto": the GEMM kernels, by the
                           instruction-set names `tpfuse info` lists */
  const char *shm_dir;  /* TPF_SHM_DIR, default "/dev/shm": the tmpfs where
                           tpf_comm_init_rank puts its shared memory */
} tpf_config_t;
#define TPF_CONFIG_INIT {sizeof(tpf_config_t), 0, 0, TPF_ALGO_AUTO, 0, NULL, NULL}

typedef struct tpf_comm tpf_comm_t; /* opaque */

/* Makes world_size communicators whose ranks are threads of this process:
 * comms[r] is used by the thread acting as rank r. Every operator call must
 * be made by all world_size threads, each with its own comms[r]. cfg may be
 * NULL (defaults). Writes comms[0..world_size-1] only on success. */
TPF_API tpf_status_t tpf_comm_init_all(tpf_comm_t **comms, int world_size,
                                       const tpf_config_t *cfg);

/* What the ranks of a communicator across processes agree on: 16 random
 * bytes (which name its shared memory) and the host that made it. Make one
 * in any process, hand it to every rank by any means (fork, a pipe, a file,
 * MPI_Bcast, or as text in TPF_UNIQUE_ID). */
typedef struct tpf_unique_id {
  unsigned char bytes[128];
} tpf_unique_id_t;

/* A fresh id (getrandom). */
TPF_API tpf_status_t tpf_get_unique_id(tpf_unique_id_t *id);

/* The text form of an id ("tpf1-<56 hex digits>:<host>"), for environment
 * variables and command lines; size >= TPF_UNIQUE_ID_STRING_BYTES. */
#define TPF_UNIQUE_ID_STRING_BYTES 128
TPF_API tpf_status_t tpf_unique_id_to_string(const tpf_unique_id_t *id, char *text, size_t size);
TPF_API tpf_status_t tpf_unique_id_from_string(const char *text, tpf_unique_id_t *id);

/* Makes this process rank `rank` of a communicator of world_size processes
 * on this host, over shared memory; every rank passes the same id and
 * world_size. An id of all zero bytes means: read it from the environment
 * variable TPF_UNIQUE_ID (text form; `tpfuse id` prints a fresh one). Waits
 * up to the timeout for every rank to join; a rank that dies meanwhile
 * makes the others fail at once. A rank on another host than the id's is
 * refused at once (TPF_ERR_INVALID); a tmpfs too small for the control
 * segment is TPF_ERR_NOMEM, here rather than SIGBUS later. An id is for one
 * communicator: two started with one id (two jobs given one TPF_UNIQUE_ID)
 * fail with TPF_ERR_INVALID and words, rather than mix their ranks; make a
 * fresh id per job. The shared memory has no name left once every rank has
 * attached (each buffer's name goes once every rank has mapped it); a rank
 * that dies makes the others return TPF_ERR_PEER within milliseconds and
 * remove what it left, so nothing stays in the directory as long as one
 * rank survives (`tpfuse clean` removes what ranks all killed at once
 * leave). Only files of this user, mode 0600, are mapped; a directory that
 * others can write without the sticky bit is refused. Writes *comm only on
 * success. */
TPF_API tpf_status_t tpf_comm_init_rank(tpf_comm_t **comm, int world_size, tpf_unique_id_t id, int rank,
                                        const tpf_config_t *cfg);

/* Marks the whole communicator (every rank of it) as aborted and wakes every
 * rank that waits inside a call: they return TPF_ERR_ABORTED promptly, and so
 * does every later call. Safe to call from any thread at any time, also
 * while another thread destroys the communicator, and async-signal-safe (a
 * SIGINT handler may call it): it takes no lock, allocates nothing, logs
 * nothing and does not set tpf_last_error(); TPF_ERR_INVALID for a handle
 * that is not a live communicator of this process. Over MPI the ranks of
 * other hosts learn of it from this rank's next wait or call (MPI may not
 * be called from a signal handler); this host's ranks at once. */
TPF_API tpf_status_t tpf_comm_abort(tpf_comm_t *comm);

/* Releases this rank's communicator. Call it after the rank's last call has
 * returned; the memory shared by the ranks is freed with the last of them.
 * While a call of this rank runs (on another thread) it is refused with
 * TPF_ERR_INVALID. NULL is a no-op.
 *
 * A rank is used by one call at a time: a second call on the same
 * communicator (an operator, tpf_gemm with it, tpf_mem_*) while one runs is
 * TPF_ERR_INVALID. After fork() the child may not use its parent's
 * communicators (TPF_ERR_INVALID, and tpf_comm_abort refuses them too, so a
 * child cannot abort its parent's job); tpf_comm_destroy lets the child
 * forget one (its memory stays with the child's copy), and the child may
 * make communicators of its own. */
TPF_API tpf_status_t tpf_comm_destroy(tpf_comm_t *comm);

/* Rank and size of a live communicator; -1 for NULL or a destroyed one. */
TPF_API int tpf_comm_rank(const tpf_comm_t *comm);
TPF_API int tpf_comm_size(const tpf_comm_t *comm);

/* The communicator's name (the "hcom" string of the torch_npu-style
 * operators), unique in this process, e.g. "tpf-threads-4242-1-r3"; NULL
 * for NULL or a destroyed one. */
TPF_API const char *tpf_comm_name(const tpf_comm_t *comm);

/* The live communicator of this process with that name, or NULL. */
TPF_API tpf_comm_t *tpf_comm_find(const char *name);

/* The same parameters as communicator `comm` uses them: the shipped table
 * scaled to this machine by short probes when it was made (a GEMM per
 * kernel family on the rank's own threads, a row sum through memory),
 * rank 0's on every rank, so that every rank picks the same algorithm;
 * the table itself where TPF_COST_MODEL=table. Returns 0 (and fills
 * nothing) outside the range or for an invalid comm. */
TPF_API int tpf_comm_cost_get(const tpf_comm_t *comm, int i, tpf_cost_t *out);

/* -------------------------------------------------------------- operators */

/* What a rank did during one call, for timelines (tpfuse bench --trace and
 * --timeline). Times are CLOCK_MONOTONIC nanoseconds, comparable across
 * the processes of one host. */
typedef enum tpf_event_kind {
  TPF_EVENT_COMPUTE = 0, /* a GEMM of one chunk (or of the whole product) */
  TPF_EVENT_WAIT = 1,    /* waiting for a peer */
  TPF_EVENT_REDUCE = 2,  /* summing partials */
  TPF_EVENT_COPY = 3     /* handing data to a peer */
} tpf_event_kind_t;

typedef struct tpf_event {
  int64_t begin_ns, end_ns;
  int32_t kind;  /* tpf_event_kind_t */
  int32_t step;  /* the schedule's step (ring: 0 .. W-1), or -1 */
  int32_t chunk; /* the chunk within the step, or -1 */
  int32_t peer;  /* the rank waited for or handed to, or -1 */
} tpf_event_t;

/* A caller-owned log: the operator appends up to `capacity` events (and
 * counts the rest in `dropped`); set count and dropped to 0 before a call.
 * Recording allocates nothing and costs two clock reads per event. */
typedef struct tpf_trace {
  tpf_event_t *events;
  int capacity;
  int count;
  int dropped;
} tpf_trace_t;

/* Options shared by the operators. Start from TPF_MM_OPTIONS_INIT; NULL
 * means all defaults. Every rank must pass the same options (TPF_ERR_MISMATCH
 * otherwise), except the bias pointer, which is each rank's own. */
typedef struct tpf_mm_options {
  size_t size;               /* sizeof(tpf_mm_options_t) */
  tpf_reduce_op_t reduce_op; /* TPF_SUM (default) or TPF_AVG (the sum / W) */
  const void *bias;          /* NULL, or n elements in a's dtype, added once
                                after the reduction (and after the average) */
  int comm_turn;             /* 0 = automatic chunking; N > 0 = N chunks per
                                owner block (at most the rows of the largest
                                block: a larger N is taken as that many) */
  const int64_t *row_counts; /* NULL = even split (m must divide by W); else
                                world_size counts >= 0 summing to m: rank r
                                owns rows [sum(counts[<r]), +counts[r]) */
  tpf_algo_t algo;           /* TPF_ALGO_AUTO (default) or a forced choice */
  int64_t bias_len;          /* 0, or the number of elements `bias` holds:
                                then it is checked to equal n */
  tpf_trace_t *trace;        /* NULL, or where this rank logs what it did */
  /* tpf_mm_all_reduce only (torch_npu's form; NULL and 0 elsewhere): */
  const tpf_matrix_t *addend; /* NULL, or this rank's m x n addend (x3) in
                                a's dtype, added to its own a @ b before
                                the reduction */
  int bias_per_rank;         /* 1: each rank's bias enters its own partial
                                before the reduction (so the sum holds W of
                                them); 0: the bias is added once, after */
} tpf_mm_options_t;
#define TPF_MM_OPTIONS_INIT {sizeof(tpf_mm_options_t), TPF_SUM, NULL, 0, NULL, TPF_ALGO_AUTO, 0, NULL, NULL, 0}

/* MatmulReduceScatter: every rank r holds a_r (m x k) and b_r (k x n) of one
 * dtype (fp16, bf16 or fp32); out on rank r receives its rows of
 *     sum over ranks of a_i @ b_i       (divided by W for TPF_AVG)
 * plus bias, accumulated in fp32 and rounded once to out's dtype, which must
 * be a's dtype. The rows rank j owns are summed over ranks in the ring's
 * order, j+1, j+2, ..., W-1, 0, ..., j, whatever the algorithm: every
 * algorithm gives the same bits, so results are bitwise identical from run
 * to run for the same inputs, world size, comm_turn and kernels (TPF_ISA),
 * whatever TPF_ALGO_AUTO picks. out is (rows owned by r) x n and must not
 * overlap a, b or the bias. a and b may be transposed views; out may not.
 * m x n and k x n are at most 2^45 elements (their fp32 copies must fit the
 * address space). */
TPF_API tpf_status_t tpf_mm_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *a,
                                           const tpf_matrix_t *b, tpf_matrix_t *out,
                                           const tpf_mm_options_t *opt);

/* ReduceScatter, the communication half of MatmulReduceScatter on its own:
 * every rank holds `in` (m x n, fp16, bf16 or fp32, row-major); out on rank
 * r receives its rows of the sum over ranks of in (divided by W for
 * TPF_AVG) plus opt->bias, accumulated in fp32 in the order of
 * tpf_mm_reduce_scatter (rank j's rows over ranks j+1, ..., W-1, 0, ..., j)
 * and rounded once to in's dtype. Rows split as in tpf_mm_reduce_scatter
 * (opt->row_counts); opt->comm_turn sets the chunks per block; algo is
 * ignored. Collective, with the same checks, fingerprints and faults. */
TPF_API tpf_status_t tpf_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                        const tpf_mm_options_t *opt);

/* AllGatherMatmul: rank r holds a_r (its block of rows, m_r x k) and b_r
 * (k x n) of one dtype; out on rank r (m x n, m the sum of the blocks)
 * receives
 *     [a_0; a_1; ...; a_{W-1}] @ b_r      (plus bias, once)
 * accumulated in fp32 and rounded once to a's dtype. With opt->row_counts
 * rank q's block has row_counts[q] rows (a rank may hold none); without,
 * every block has m / W rows. gathered_a, when not NULL, receives the
 * gathered a (m x k, a's dtype, row-major, any leading dimension); a may
 * be gathered_a's own rows (rows sum(counts[<r]) on, the same leading
 * dimension: an in-place gather). out must not overlap a, b, the bias or
 * gathered_a. a may be transposed, b too. opt->algo: TPF_ALGO_UNFUSED
 * gathers a whole, then multiplies; TPF_ALGO_RING and TPF_ALGO_DIRECT (one
 * fused schedule) multiply the own block first and every other block as
 * soon as it has come, in the order r-1, r-2, ...; AUTO takes the fused
 * one. Every algorithm gives the same bits. reduce_op must be TPF_SUM. */
TPF_API tpf_status_t tpf_all_gather_mm(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                       tpf_matrix_t *out, tpf_matrix_t *gathered_a, const tpf_mm_options_t *opt);

/* MatmulAllReduce: every rank r holds a_r (m x k) and b_r (k x n); out on
 * every rank (m x n) receives
 *     sum over ranks of a_i @ b_i       (divided by W for TPF_AVG)
 * plus bias, accumulated in fp32 in tpf_mm_reduce_scatter's order (the
 * rows' owner last) and rounded once to a's dtype: identical bits on every
 * rank, whatever the algorithm. Any m (m need not divide by W; the
 * rows are reduced by their owners as in tpf_mm_reduce_scatter, split
 * evenly or by opt->row_counts, then gathered). The torch_npu form: with
 * opt->addend (x3) and opt->bias_per_rank, each rank's partial is
 * a_r @ b_r + x3_r + bias_r before the reduction. opt->algo picks the
 * reduce-scatter half as in tpf_mm_reduce_scatter (a call with per-rank
 * terms runs TPF_ALGO_DIRECT for TPF_ALGO_RING). out must not overlap a,
 * b, the bias or the addend. */
TPF_API tpf_status_t tpf_mm_all_reduce(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                       tpf_matrix_t *out, const tpf_mm_options_t *opt);

/* AllGather: rank r holds `in` (its block of rows, m_r x n, row-major);
 * out on every rank (m x n) receives [in_0; in_1; ...; in_{W-1}], blocks
 * split as in tpf_all_gather_mm (opt->row_counts, or m / W each). in may
 * be out's own rows (an in-place gather); any other overlap is
 * TPF_ERR_INVALID. fp16, bf16 or fp32; the bits are copied. Only
 * row_counts, comm_turn (chunks per block) and trace are read. */
TPF_API tpf_status_t tpf_all_gather(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                    const tpf_mm_options_t *opt);

/* AllReduce: every rank holds `in` (m x n, any m, row-major); out on every
 * rank receives the sum over ranks of in (divided by W for TPF_AVG) plus
 * opt->bias, accumulated in fp32 in tpf_reduce_scatter's order (the rows'
 * owner last) and rounded once to in's dtype: identical bits on every rank,
 * the same as tpf_reduce_scatter's rows. out must not overlap in. */
TPF_API tpf_status_t tpf_all_reduce(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                    const tpf_mm_options_t *opt);

/* Collective: takes this rank's part in a collective call that the caller
 * refused before it reached tpfuse, such as a binding's own check of its
 * arguments (a dtype tpfuse does not have, a wrong world_size). The peers,
 * inside whatever collective call they made, return TPF_ERR_PEER promptly
 * with `why` in their message ("rank 1 rejected its arguments
 * (TPF_ERR_INVALID: why)") and write nothing, as when a rank's own
 * arguments fail tpfuse's checks: on one host the communicator stays
 * usable; between ranks that talk by MPI messages it fails (tpfuse_mpi.h).
 * Returns `status` with `why` as this thread's last error; a status that is
 * not an error (TPF_ERR_*) is taken as TPF_ERR_INVALID with words that say
 * so. */
TPF_API tpf_status_t tpf_comm_reject(tpf_comm_t *comm, tpf_status_t status, const char *why);

/* ------------------------------------------------------------ shared memory */

/* Collective: allocates `bytes` (> 0; may differ between ranks) of zeroed
 * memory, aligned to 64 bytes and its pages touched, that the other ranks
 * of comm can read where it is. When the input of tpf_reduce_scatter lies
 * in such memory on every rank, process ranks (shm, or MPI ranks of one
 * host) read each other's inputs in place, as thread ranks do, instead of
 * copying what they hand out through the communicator's buffers: a faster
 * reduce-scatter (see the README). Over MPI the ranks of each host share
 * with each other; ranks on other hosts still get messages. Any memory
 * works with every call; this one only saves the copy. Every rank calls it
 * at the same point of its sequence of collective calls (TPF_ERR_MISMATCH
 * otherwise). If a rank cannot allocate its part (a full /dev/shm:
 * TPF_ERR_NOMEM) every rank fails (the others with TPF_ERR_PEER) and
 * nothing stays allocated. The memory leaves no name in /dev/shm and lives
 * until tpf_mem_free or tpf_comm_destroy. Writes *ptr only on success. */
TPF_API tpf_status_t tpf_mem_alloc(tpf_comm_t *comm, size_t bytes, void **ptr);

/* Collective: every rank releases the memory tpf_mem_alloc gave it on
 * comm (a pointer it did not give is TPF_ERR_INVALID, and the others fail
 * with TPF_ERR_PEER, releasing nothing). */
TPF_API tpf_status_t tpf_mem_free(tpf_comm_t *comm, void *ptr);

/* ------------------------------------------------------------------- GEMM */

/* Options of tpf_gemm. Start from TPF_GEMM_OPTIONS_INIT; NULL = defaults. */
typedef struct tpf_gemm_options {
  size_t size;      /* sizeof(tpf_gemm_options_t) */
  const void *bias; /* NULL, or n elements in a's dtype, added to every row */
  int64_t bias_len; /* 0, or the number of elements `bias` holds (checked == n) */
  int accumulate;   /* 1: out (fp32 only) += a @ b (+ bias) */
} tpf_gemm_options_t;
#define TPF_GEMM_OPTIONS_INIT {sizeof(tpf_gemm_options_t), NULL, 0, 0}

/* out = a @ b (+ bias), or out += a @ b (+ bias) with opt->accumulate: a
 * (m x k) and b (k x n) of one dtype, accumulated in fp32 and rounded once
 * to out's dtype, which is a's dtype or fp32. a and b may be transposed
 * views; out may not, and must not overlap a, b or the bias. The same checks
 * as the operators, with the same messages.
 *
 * With comm = NULL the product runs on this process's GEMM context: its
 * threads are TPF_THREADS_PER_RANK (0 = every core this process may use),
 * and concurrent NULL calls take turns; a forked child gets a context of its
 * own on its first call. With a communicator it runs on that
 * rank's threads and buffers; it is not collective, but must not run at the
 * same time as another call on the same communicator. Results do not depend
 * on the number of threads. Allocates only when a larger b than before
 * needs packing space. */
TPF_API tpf_status_t tpf_gemm(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                              tpf_matrix_t *out, const tpf_gemm_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* TPFUSE_H */
