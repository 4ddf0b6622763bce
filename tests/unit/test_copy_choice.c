/* The staged reduce-scatter's choice of copy (copy_choice.h) against a
 * simulated machine whose two ways cost known times: it settles on the
 * faster way, tries the other less and less often while it keeps losing,
 * follows a change of the machine, ignores a class's first call and noise
 * under 5%, and keeps its size classes apart. */
#include <string.h>

#include "../test.h"
#include "ops/copy_choice.h"

/* Runs `calls` calls of class cls on a machine where a call copied each
 * way takes cost[way] ns; returns how many were copied streamed. */
static int run(tpf_copy_choice_t *choice, int cls, int calls, const int64_t cost[2]) {
  int streamed = 0;
  for (int i = 0; i < calls; i++) {
    int way = tpf_copy_pick(choice, cls);
    streamed += way == TPF_COPY_STREAMED;
    tpf_copy_learn(choice, cls, way, cost[way]);
  }
  return streamed;
}

int main(void) {
  const int64_t cached_wins[2] = {2500000, 3000000}, streamed_wins[2] = {8500000, 2100000};
  const int64_t close_call[2] = {1000000, 970000}; /* streamed 3% faster: not worth a switch */

  tpf_copy_choice_t choice;
  memset(&choice, 0, sizeof choice);
  CHECK(tpf_copy_pick(&choice, 5) == TPF_COPY_CACHED, "a new class starts cached");
  /* Where cached wins, streamed is tried at calls 8, 16, 32, ..., 1024
   * apart: few tries in 5000 calls, and fewer in the second half. */
  int early = run(&choice, 5, 2500, cached_wins), late = run(&choice, 5, 2500, cached_wins);
  CHECK(early >= 3 && early <= 10, "streamed tried %d times in the first 2500 calls where cached wins", early);
  CHECK(late >= 1 && late <= 3, "streamed tried %d times in the next 2500 (once in 1024 calls)", late);
  /* The machine changes: streamed now wins; the choice follows within
   * 1024 calls and then copies streamed. */
  int changed = run(&choice, 5, 1100, streamed_wins);
  CHECK(tpf_copy_pick(&choice, 5) == TPF_COPY_STREAMED || choice.classes[5].best == TPF_COPY_STREAMED,
        "streamed taken after the machine changed (best %d)", choice.classes[5].best);
  CHECK(changed > 0, "streamed never tried after the change");
  int after = run(&choice, 5, 1000, streamed_wins);
  CHECK(after >= 990, "streamed in %d of the 1000 calls after it won", after);

  /* Another class is unaffected, and a 3% gain does not switch. */
  CHECK(choice.classes[6].best == TPF_COPY_CACHED && choice.classes[6].calls == 0, "class 6 was touched");
  int close = run(&choice, 6, 3000, close_call);
  CHECK(choice.classes[6].best == TPF_COPY_CACHED && close < 15, "a 3%% gain switched (best %d, %d streamed)",
        choice.classes[6].best, close);

  /* A class's first call is ignored: a slow first call (buffers grown)
   * does not make the first try of streamed look better. */
  tpf_copy_learn(&choice, 7, TPF_COPY_CACHED, 50 * cached_wins[0]);
  int tried = run(&choice, 7, 10, cached_wins); /* streamed tried once, at the eighth call */
  CHECK(tried == 1 && choice.classes[7].best == TPF_COPY_CACHED,
        "a slow first call switched class 7 to streamed (%d tried)", tried);

  /* Size classes: 4 KiB and less share class 0; then one per doubling,
   * the largest sizes in the last. */
  CHECK(tpf_copy_class(0) == 0 && tpf_copy_class(4096) == 0 && tpf_copy_class(8191) == 0, "small sizes");
  CHECK(tpf_copy_class(8192) == 1 && tpf_copy_class(16384) == 2 && tpf_copy_class((size_t)32 << 20) == 13,
        "class of 8 KiB %d, 16 KiB %d, 32 MiB %d", tpf_copy_class(8192), tpf_copy_class(16384),
        tpf_copy_class((size_t)32 << 20));
  CHECK(tpf_copy_class((size_t)1 << 62) == TPF_COPY_CLASSES - 1, "huge sizes share the last class");
  return test_summary();
}
