/* How the staged reduce-scatter hands its copies over: through the caches
 * (an owner reads the lines from its peer's cache) or streamed past them
 * (from memory). Through the caches is the faster way when the two cores
 * share a cache nearby; streamed is, several times over, when passing a
 * line from core to core costs more than a trip through memory (cores on
 * different dies; on the shared 2-core machine of the README, for minutes
 * at a time). Where the ranks run can change while they run, so each rank
 * learns the answer from its own calls' times, per size class: it copies
 * the way that has been faster, and now and then the other way, less often
 * the longer the other way keeps losing; the class's call count picks
 * those calls, so ranks whose choices agree try them together. Both ways
 * copy the same bytes: the results do not depend on the choice. */
#ifndef TPF_OPS_COPY_CHOICE_H
#define TPF_OPS_COPY_CHOICE_H

#include <stddef.h>
#include <stdint.h>

enum { TPF_COPY_CACHED, TPF_COPY_STREAMED };
enum { TPF_COPY_CLASSES = 24 };

typedef struct tpf_copy_way {
  int64_t cost_ns[2]; /* the recent time of a call copied each way; 0: none yet */
  uint32_t calls;     /* calls of this class so far */
  uint32_t period;    /* the other way every `period` calls */
  int best;           /* the way taken otherwise */
} tpf_copy_way_t;

typedef struct tpf_copy_choice {
  tpf_copy_way_t classes[TPF_COPY_CLASSES];
} tpf_copy_choice_t;

/* The size class of a call whose inputs hold `bytes` per rank (the same
 * on every rank of the call). */
int tpf_copy_class(size_t bytes);

/* The way to copy in the next call of class `cls`. */
int tpf_copy_pick(const tpf_copy_choice_t *choice, int cls);

/* Records that a call of class `cls`, copied `way`, took `ns`. */
void tpf_copy_learn(tpf_copy_choice_t *choice, int cls, int way, int64_t ns);

#endif
