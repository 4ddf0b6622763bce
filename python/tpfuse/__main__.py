"""python -m tpfuse demo|bench|info [options]; `python -m tpfuse <command> --help`."""
import sys

USAGE = """usage: python -m tpfuse <command> [options]

commands:
  demo    the reference example of torch_npu.npu_mm_reduce_scatter_base: 8
          processes in a gloo group, fp16 input 128x512 @ x2 512x64, every
          rank checked against float64
  bench   the operator against torch.matmul + gloo all_reduce in one run
          (fp32, bf16; world sizes 2 and 4), and the Python layer's cost;
          with --mlp, a tensor-parallel MLP training step (tpfuse.nn)
          against the same model with torch and gloo collectives
  info    versions, the library shipped, CPU features, GEMM kernels

`python -m tpfuse <command> --help` describes a command's options.
"""


def info():
    import tpfuse
    from tpfuse import _build_info, _lib

    lib = _lib.core()
    print(f"tpfuse {tpfuse.__version__} (library {lib.tpf_version().decode()}: {lib.path})")
    print(f"cpu features:  {lib.tpf_cpu_features().decode()}")
    kernel = lib.tpf_gemm_kernel()
    print(f"gemm kernel:   {kernel.decode() if kernel else lib.tpf_last_error().decode()}")
    print(f"MPI transport: {_build_info.MPI_VENDOR or 'not built'}")
    return 0


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from . import demo

        return demo.main(rest)
    if command == "bench":
        from . import bench

        return bench.main(rest)
    if command == "info":
        return info()
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
