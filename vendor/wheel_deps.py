"""Build glue: compiler and linker arguments for MKL and oneDNN from PyPI wheels.

The `mkl-devel` and `onednn-devel-cpu-gomp` wheels install data files, not
Python modules: headers in <prefix>/include, libraries (from `mkl` and
`onednn-cpu-gomp`) in <prefix>/lib, MKL's pkg-config files in
<prefix>/lib/pkgconfig.  Under pip's build isolation <prefix> is the temporary
build environment, which neither sys.prefix nor pkg-config's default search
finds, so we ask importlib.metadata where the wheel went: its site-packages,
three levels below the prefix.  The libraries carry versioned names only
(libmkl_core.so.3, libdnnl.so.3) and are linked by full path, as MKL's own .pc
file does.

The wheels exist for x86-64 only, and our glue (versioned .so names, MKL's
.pc file) is for Linux: pyproject.toml asks for them on Linux x86-64 only
(WHEEL_PLATFORM, its environment markers), so elsewhere the wheel is absent
and we say so.

Usage: python wheel_deps.py mkl|onednn
Prints one compiler or linker argument per line (-I... first), or explains on
stderr what is missing (one line, meson puts it in the strategy's reason) and
exits 1.
"""
import importlib.metadata
import os
import pathlib
import platform
import re
import sys

# (sys.platform, platform.machine()) where pyproject.toml's markers install the
# wheels: sys_platform == 'linux' and platform_machine == 'x86_64'
WHEEL_PLATFORM = ("linux", "x86_64")
LIBRARY_NAMES = {"mkl-devel": "MKL", "onednn-devel-cpu-gomp": "oneDNN"}

MKL_PC = "mkl-dynamic-lp64-seq.pc"   # LP64 interface, sequential threading layer


def wheel_prefix(dist):
    """The installation prefix of the distribution `dist`."""
    try:
        site_packages = pathlib.Path(importlib.metadata.distribution(dist).locate_file(""))
    except importlib.metadata.PackageNotFoundError:
        here = (sys.platform, platform.machine())
        if here != WHEEL_PLATFORM:
            sys.exit(f"{LIBRARY_NAMES[dist]} has no wheel for this platform "
                     f"({here[0]} {here[1]}; the {dist} wheel we build with is for "
                     f"Linux x86-64 only)")
        sys.exit(f"the '{dist}' wheel is not installed in the build environment "
                 f"(pip install {dist})")
    return site_packages.resolve().parents[2]


def read_pc(path):
    """Cflags and Libs of a pkg-config file, with its variables expanded."""
    variables = {"pcfiledir": str(path.parent)}
    fields = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()

        def expand(s):
            return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], s)

        if re.match(r"^\w+=", line):
            name, value = line.split("=", 1)
            variables[name] = expand(value.strip())
        elif re.match(r"^\w+:", line):
            name, value = line.split(":", 1)
            fields[name] = expand(value.strip())
    return fields.get("Cflags", ""), fields.get("Libs", "")


def mkl():
    prefix = wheel_prefix("mkl-devel")
    pc = prefix / "lib" / "pkgconfig" / MKL_PC
    if not pc.exists():
        sys.exit(f"{pc} is missing (is the mkl-devel wheel complete?)")
    cflags, libs = read_pc(pc)
    args = []
    for a in cflags.replace('"', "").split():
        args.append("-I" + os.path.normpath(a[2:]) if a.startswith("-I") else a)
    for a in libs.split():
        if a.startswith("-L"):
            continue
        if not a.startswith("-"):
            a = os.path.normpath(a)
            if not os.path.exists(a):
                sys.exit(f"{a} is missing (pip install mkl)")
        args.append(a)
    return args


def onednn():
    prefix = wheel_prefix("onednn-devel-cpu-gomp")
    header = prefix / "include" / "oneapi" / "dnnl" / "dnnl.h"
    library = prefix / "lib" / "libdnnl.so.3"
    for path, wheel in ((header, "onednn-devel-cpu-gomp"), (library, "onednn-cpu-gomp")):
        if not path.exists():
            sys.exit(f"{path} is missing (pip install {wheel})")
    return [f"-I{prefix / 'include'}", str(library)]


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("mkl", "onednn"):
        sys.exit(__doc__)
    print("\n".join({"mkl": mkl, "onednn": onednn}[sys.argv[1]]()))
