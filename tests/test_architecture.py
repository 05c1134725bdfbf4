"""The package's modules import one way (issue 15).

A static read of every module of pysoftmax/ (the source tree, not the
installed copy): every ``import`` and ``from ... import`` statement anywhere
in a file, inside functions too, relative imports resolved.  An import of a
submodule is an edge to that submodule only, not to the packages above it
(which Python runs first, but which must not be what a module depends on).
The compiled modules (.pyx) are read with a regular expression for the same
statements (and ``cimport``).  pysoftmax/src/ holds the C kernels and a
script, no modules.
"""
import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "pysoftmax"

# The layering, lowest first: each module imports only modules before it.
LAYERS = [
    "pysoftmax._version",               # __version__
    "pysoftmax._typing",                # type aliases of the public API
    "pysoftmax._openmp",                # compiled: thread defaults, forked children
    "pysoftmax._pool",                  # compiled: the result pool (large results' memory)
    "pysoftmax._problem",               # Problem: a call in canonical form
    "pysoftmax._plan",                  # argument checks -> Plan
    "pysoftmax._weighted",              # logsumexp with weights, array-API operations only
    "pysoftmax.strategies._common",     # what the compiled strategies share
    "pysoftmax.strategies._kernels",    # compiled: the one owner of the C kernels and their ISA
    "pysoftmax.strategies._vectorized",  # compiled drivers
    "pysoftmax.strategies._mkl",
    "pysoftmax.strategies._onednn",
    "pysoftmax.strategies.reference",   # the strategies
    "pysoftmax.strategies.vectorized",
    "pysoftmax.strategies.mkl",
    "pysoftmax.strategies.onednn",
    "pysoftmax.strategies",             # STRATEGIES, status, library versions
    "pysoftmax._context",               # this context's strategy and thread count
    "pysoftmax._table",                 # the table: format, files, CPU fingerprint
    "pysoftmax._select",                # the active table, select -> Choice
    "pysoftmax._execute",               # a Plan run by a Choice
    "pysoftmax._slices",                # per-slice statistics, combine, normalise (logsumexp, Dask)
    "pysoftmax._fast",                  # compiled: the common call, straight to the kernel
    "pysoftmax._interop",               # array-API / DLPack arrays: viewed, or their namespace
    "pysoftmax._dask",                  # Dask arrays, lazily (imports Dask only when given one)
    "pysoftmax._api",                   # softmax etc.: plan -> select -> execute
    "pysoftmax._logsumexp",             # logsumexp: _slices' statistics, or _weighted
    "pysoftmax._explain",               # explain -> Explanation
    "pysoftmax._config",                # get_config, available_strategies
    "pysoftmax._timing",                # rounds of best-of-n timing
    "pysoftmax._tune",                  # tune -> Table
    "pysoftmax._bench",                 # the bench harness
    "pysoftmax._bench_dask",            # bench --dask: out of core
    "pysoftmax.dispatch",               # public facade of the dispatch layers
    "pysoftmax",                        # the package: the public API
    "pysoftmax.__main__",               # the command line
]

_PYX_IMPORT = re.compile(
    r"^\s*(?:from\s+(?P<base>[.\w]+)\s+c?import\s+(?P<names>[^#\n]+)"
    r"|c?import\s+(?P<modules>[^#\n]+))", re.M)


def _module_files():
    """module name -> path, for every module of the package."""
    files = {}
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE.parent)
        if path.suffix not in (".py", ".pyx") or "src" in rel.parts[1:-1] or \
                rel.parts[1:2] == ("src",):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _is_package(path):
    return path.name == "__init__.py"


def _resolve(base, level, module, path):
    """The absolute name of a (possibly relative) `from` target."""
    if level == 0:
        return base
    parts = module.split(".")
    if not _is_package(path):
        parts.pop()                     # a module's own package
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([base] if base else []))


def _targets(module, path, known):
    """(target, line) for every import of a module of the package in `path`."""
    found = []

    def add(name, line, from_base=None):
        if from_base is not None and f"{from_base}.{name}" in known:
            found.append((f"{from_base}.{name}", line))
        elif from_base is not None and from_base in known:
            found.append((from_base, line))
        elif from_base is None and name in known:
            found.append((name, line))

    if path.suffix == ".pyx":
        text = path.read_text()
        for m in _PYX_IMPORT.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            if m.group("base"):
                base = m.group("base")
                level = len(base) - len(base.lstrip("."))
                target = _resolve(base.lstrip("."), level, module, path)
                for name in m.group("names").replace("(", "").replace(")", "").split(","):
                    add(name.split()[0] if name.split() else "", line, target)
            else:
                for name in m.group("modules").split(","):
                    add(name.split()[0] if name.split() else "", line)
        return found
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, module, path)
            for alias in node.names:
                add(alias.name, node.lineno, target)
    return found


def import_graph():
    """module -> {imported module: first line}, intra-package imports only."""
    files = _module_files()
    graph = {}
    for module, path in files.items():
        edges = {}
        for target, line in _targets(module, path, files):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan),
    each as a sorted list."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_the_reader_sees_the_imports():
    """The static read finds what it must: a sanity check of the parser."""
    graph = import_graph()
    assert "pysoftmax.strategies.vectorized" in graph["pysoftmax.strategies"]
    assert "pysoftmax.strategies._vectorized" in graph["pysoftmax.strategies.vectorized"]
    assert "pysoftmax._openmp" in graph["pysoftmax.strategies.onednn"]   # from .. import
    assert "pysoftmax.dispatch" in graph["pysoftmax"]
    assert graph["pysoftmax.__main__"], "absolute imports are read too"


def test_no_import_cycle():
    graph = import_graph()
    cycles = _cycles(graph)
    detail = [f"{' <-> '.join(c)}: " + "; ".join(
        f"{a} imports {b} (line {graph[a][b]})" for a in c for b in graph[a] if b in c)
        for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_layering():
    """Every module is in LAYERS, and imports only modules listed before it."""
    graph = import_graph()
    assert sorted(graph) == sorted(LAYERS), "LAYERS must list every module exactly once"
    assert len(set(LAYERS)) == len(LAYERS)
    rank = {m: i for i, m in enumerate(LAYERS)}
    upward = [f"{m} imports {t} (line {line})" for m in LAYERS
              for t, line in graph[m].items() if rank[t] >= rank[m]]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", [m for m, p in _module_files().items() if p.suffix == ".py"])
def test_modules_say_what_they_are_for(module):
    """Every Python module has a docstring."""
    path = _module_files()[module]
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no docstring"
