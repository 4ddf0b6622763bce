"""A fresh venv, the package installed from the source tree as the README
says, and a call; the seed example; `python -m tpfuse demo`."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def test_fresh_venv_install_then_a_call(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index", ROOT],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    call = ("import numpy as np, tpfuse\n"
            "with tpfuse.Comm.threads(1) as (c,):\n"
            "    a = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
            "    print(tpfuse.npu_mm_reduce_scatter_base(a, a.T, c.name, 1).tolist(), tpfuse.__file__)\n")
    run = subprocess.run([str(venv / "bin" / "python"), "-c", call], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("[[5.0, 14.0], [14.0, 50.0]] " + str(venv)), run.stdout


def test_seed_example():
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "seed_example.py")], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    # (the ranks print at once: lines may interleave)
    ranks = re.findall(r"rank (\d): output \(16, 64\) torch.float16, max \|error\| 0\.\d+", run.stdout)
    assert sorted(ranks) == [str(r) for r in range(8)], run.stdout
    assert run.stdout.rstrip().endswith("PASS"), run.stdout


def test_demo_command():
    run = subprocess.run([sys.executable, "-m", "tpfuse", "demo", "--world-size", "3", "--shape", "24,40,8",
                          "--dtype", "bf16"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert run.stdout.count("(within bound)") == 3 and run.stdout.splitlines()[-1] == "PASS", run.stdout


@pytest.mark.parametrize("args", [["--world-size", "2"], ["--world-size", "4", "--sequence-parallel"],
                                  ["--world-size", "2", "--sequence-parallel"], ["--world-size", "4"]])
def test_tp_mlp_example(args):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "tp_mlp.py"), *args], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    rows = re.findall(r"^\s+\d+  (\d\.\d{7})   (\d\.\d{7})$", run.stdout, re.M)
    assert len(rows) == 8 and run.stdout.rstrip().endswith("PASS"), run.stdout


def test_bench_commands():
    run = subprocess.run([sys.executable, "-m", "tpfuse", "bench", "--no-overhead", "--world-size", "2", "--shape",
                          "64,48,16", "--dtype", "fp32", "--reps", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all results verified"), run.stdout + run.stderr[-3000:]
    run = subprocess.run([sys.executable, "-m", "tpfuse", "bench", "--mlp", "--world-size", "2", "--shape", "64,32",
                          "--dtype", "fp32,bf16", "--reps", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all losses agree"), run.stdout + run.stderr[-3000:]
    assert len(re.findall(r"^ +64 +32 (fp32|bf16) +2 (plain|sp) +\|", run.stdout, re.M)) == 4, run.stdout
