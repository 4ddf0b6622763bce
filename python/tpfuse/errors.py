"""Exceptions: one class per tpfuse status, under tpfuse.Error.

Every exception has `.status`, the C status name ("TPF_ERR_MISMATCH"), and
the library's own words as its message. Bad arguments are also ValueError
(TypeError for a dtype tpfuse does not take); a timeout is also the builtin
TimeoutError, out of memory MemoryError, a refusal of the OS OSError.
"""
import builtins


class Error(Exception):
    """A tpfuse call failed; `.status` names the C status."""

    status = "TPF_ERR_INTERNAL"

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidArgumentError(Error, ValueError):
    """A bad argument (TPF_ERR_INVALID); nothing was written."""

    status = "TPF_ERR_INVALID"


class DtypeError(InvalidArgumentError, TypeError):
    """An argument of a dtype or type tpfuse does not take (TPF_ERR_INVALID)."""


class UnsupportedError(Error):
    """Valid, but not supported by this build, CPU or setup (TPF_ERR_UNSUPPORTED)."""

    status = "TPF_ERR_UNSUPPORTED"


class OutOfMemoryError(Error, MemoryError):
    """Memory (or shared memory in /dev/shm) ran out (TPF_ERR_NOMEM)."""

    status = "TPF_ERR_NOMEM"


class SystemCallError(Error, OSError):
    """The operating system refused (TPF_ERR_SYSTEM)."""

    status = "TPF_ERR_SYSTEM"


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 (also the builtin)
    """A peer made no progress within the communicator's timeout (TPF_ERR_TIMEOUT)."""

    status = "TPF_ERR_TIMEOUT"


class PeerError(Error):
    """A peer failed, or rejected its own arguments (TPF_ERR_PEER)."""

    status = "TPF_ERR_PEER"


class MismatchError(Error):
    """Ranks called with different arguments (TPF_ERR_MISMATCH)."""

    status = "TPF_ERR_MISMATCH"


class AbortedError(Error):
    """The communicator was aborted (TPF_ERR_ABORTED)."""

    status = "TPF_ERR_ABORTED"


class InternalError(Error):
    """A bug in tpfuse (TPF_ERR_INTERNAL): please report it."""

    status = "TPF_ERR_INTERNAL"


BY_CODE = {
    -1: InvalidArgumentError,
    -2: UnsupportedError,
    -3: OutOfMemoryError,
    -4: SystemCallError,
    -5: TimeoutError,
    -6: PeerError,
    -7: MismatchError,
    -8: AbortedError,
    -9: InternalError,
}
CODE_OF = {cls.status: code for code, cls in BY_CODE.items()}
