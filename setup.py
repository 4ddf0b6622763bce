"""Builds libtpfuse with CMake (the same build as the C library's) and ships
it inside the Python package `tpfuse`.

    python3 -m venv --system-site-packages VENV
    VENV/bin/pip install --no-build-isolation .

Needs cmake and a C compiler; no network. libtpfuse_mpi is built too when
CMake finds an MPI; where mpi4py is installed, the MPI it was built with is
chosen, since both must load the same libmpi. TPFUSE_CMAKE_ARGS adds
arguments to CMake's configure step (e.g. -DTPF_MPI=OFF).
"""
import os
import re
import shlex
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
CMAKE_BUILD = os.path.join(HERE, "build-python", "cmake")


def project_version():
    """The public header's version (TPF_VERSION_MAJOR/MINOR/PATCH), as CMake reads it."""
    with open(os.path.join(HERE, "include", "tpfuse.h")) as f:
        text = f.read()
    return ".".join(re.search(rf"#define TPF_VERSION_{part} ([0-9]+)", text).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


def mpi4py_compiler():
    """The MPI compiler wrapper of the MPI that mpi4py loads, if any."""
    try:
        import mpi4py

        mpi4py.rc.initialize = False
        from mpi4py import MPI
    except ImportError:
        return None
    vendor = MPI.get_vendor()[0]
    wrapper = {"Open MPI": "mpicc.openmpi", "MPICH": "mpicc.mpich"}.get(vendor)
    return shutil.which(wrapper) if wrapper else None


class BuildWithLibrary(build_py):
    """build_py, then libtpfuse (and libtpfuse_mpi) into the package."""

    def run(self):
        super().run()
        configure = ["cmake", "-S", HERE, "-B", CMAKE_BUILD, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"]
        mpicc = mpi4py_compiler()
        if mpicc:
            configure.append("-DMPI_C_COMPILER=" + mpicc)
        configure += shlex.split(os.environ.get("TPFUSE_CMAKE_ARGS", ""))
        subprocess.check_call(configure)
        info = os.path.join(CMAKE_BUILD, "python", "_build_info.py")
        with open(info) as f:
            has_mpi = 'MPI_VENDOR = ""' not in f.read()
        targets = ["tpfuse"] + (["tpfuse_mpi"] if has_mpi else [])
        jobs = str(os.cpu_count() or 2)
        subprocess.check_call(["cmake", "--build", CMAKE_BUILD, "-j", jobs, "--target", *targets])
        package = os.path.join(self.build_lib, "tpfuse")
        os.makedirs(package, exist_ok=True)
        for target in targets:
            # the file itself under its soname (libtpfuse.so.0), the name
            # libtpfuse_mpi asks for beside itself
            soname = os.readlink(os.path.join(CMAKE_BUILD, f"lib{target}.so"))
            shutil.copyfile(os.path.realpath(os.path.join(CMAKE_BUILD, f"lib{target}.so")),
                            os.path.join(package, soname))
        shutil.copyfile(info, os.path.join(package, "_build_info.py"))


class BinaryDistribution(Distribution):
    """The package holds a shared library: a wheel for this platform."""

    def has_ext_modules(self):
        return True


setup(
    version=project_version(),
    cmdclass={"build_py": BuildWithLibrary},
    distclass=BinaryDistribution,
    options={"build": {"build_base": os.path.join("build-python", "setuptools")}},
)
