/* The MPI add-on's reach into libtpfuse (addon.h): a leaf of the add-on,
 * used by its transport and its entry points. */
#include "addon.h" /* last */

const tpf_internal_v1_t *tpf_addon;

tpf_status_t tpf_addon_attach(void) {
  const tpf_internal_v1_t *found = tpf_internal_v1();
  if (found->size < sizeof *found)
    return found->fail(TPF_ERR_UNSUPPORTED, "libtpfuse_mpi %s needs a libtpfuse at least as new as itself (the "
                       "one loaded is %s)", TPF_VERSION_TEXT, tpf_version());
  tpf_addon = found;
  return TPF_OK;
}
