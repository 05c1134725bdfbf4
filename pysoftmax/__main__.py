"""Command line: ``pysoftmax info|tune|bench`` (or ``python -m pysoftmax ...``).

Imports: _config, _bench, _bench_dask (for bench --dask only), dispatch.
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

from pysoftmax import _bench, dispatch
from pysoftmax._config import available_strategies, get_config


def info(args):
    """Versions, CPU and instruction sets, strategies, the dispatch table."""
    config = get_config()
    versions = config["versions"]
    cpu = dispatch.cpu_fingerprint()
    print(f"pysoftmax {versions['pysoftmax']}  (numpy {versions['numpy']}, "
          f"Python {platform.python_version()})")
    print(f"CPU:        {_cpu(cpu)}, ISA: {' '.join(cpu['flags']) or '-'}")
    print(f"kernels:    {config['isa']} instruction set, "
          f"OpenMP {'on' if config['openmp'] else 'off'}, {config['threads']} threads")
    if "mkl" in versions:
        print(f"MKL:        {versions['mkl']}, code path: {versions['mkl_cpu_path']}, "
              f"mode {versions['mkl_vml_mode']}")
    if "onednn" in versions:
        print(f"oneDNN:     {versions['onednn']}")
    print(f"strategy:   {config['strategy']}")
    print("strategies:")
    for name, status in available_strategies().items():
        state = "available" if status.available else f"unavailable: {status.reason}"
        print(f"  {name:<12} {state}")
    table = dispatch.active()
    counts = {}
    for row in table.rules.values():
        label = f"{row.strategy}@{row.use_threads}"
        counts[label] = counts.get(label, 0) + 1
    print(f"dispatch:   {table.source} table, {len(table.rules)} rows, measured on "
          f"{_cpu(table.cpu)}; rows per strategy@threads: "
          + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    status = available_strategies()
    missing = sorted({row.strategy for row in table.rules.values()
                      if not status[row.strategy].available})
    if missing:
        print(f"            rows of {', '.join(missing)} (unavailable here) take the fallback "
              f"({', '.join(dispatch.FALLBACK)})")
    if table.foreign is not None:
        print(f"            {table.foreign}: its rows are not used here, every call takes "
              f"the fallback ({', '.join(dispatch.FALLBACK)}); `pysoftmax tune` makes a table "
              "for this CPU")
    user = dispatch.user_table_path()
    print(f"            user table: {user if user.exists() else f'none ({user} does not exist)'}")
    return 0


def _cpu(cpu):
    """'AMD EPYC (x86_64, AuthenticAMD family 25 model 17)' from a CPU fingerprint."""
    return (f"{cpu.get('model_name')!r} ({cpu.get('machine')}, {cpu.get('vendor')} "
            f"family {cpu.get('family')} model {cpu.get('model')})")


def _reason(exc):
    """An OSError as 'No such file or directory (/the/path)'."""
    if exc.strerror and exc.filename:
        return f"{exc.strerror} ({exc.filename})"
    return str(exc)


def tune(args):
    """Check the destination, measure the strategies, write the table, print it."""
    path = pathlib.Path(args.output) if args.output else dispatch.user_table_path()
    try:
        dispatch.check_writable(path)
    except OSError as exc:
        print(f"pysoftmax tune: cannot write the dispatch table to {path}: {_reason(exc)}; "
              "nothing measured (choose another file with --output or PYSOFTMAX_TABLE)",
              file=sys.stderr)
        return 1
    before = dispatch.builtin()
    table = dispatch.tune(budget=args.budget, threads=args.threads)
    try:
        failure = None
        dispatch.save(table, path)      # first: printing may fail (a closed pipe)
    except OSError as exc:
        failure = exc
    def decision(row):
        return row.strategy, row.use_threads

    changed = [key for key, row in table.rules.items() if before.foreign is None
               and key in before.rules and decision(before.rules[key]) != decision(row)]
    print(f"{'op':<12} {'dtype':<8} {'kind':<6} {'n':<22} {'rows':<18} {'threads':>7}  choice")
    for key, row in sorted(table.rules.items()):
        mark = "  (changed)" if key in changed else ""
        print(f"{key.op:<12} {key.dtype:<8} {key.kind:<6} {table.band('n', key.n_band):<22} "
              f"{table.band('rows', key.rows_band):<18} {key.threads:>7}  "
              f"{row.strategy}@{row.use_threads}{mark}")
    if before.foreign is None:
        print(f"{len(changed)} of {len(table.rules)} rows differ from the built-in table (a "
              "choice changes only where another was faster by more than 10%, in every round)")
    else:
        print(f"{len(table.rules)} rows, measured here: the built-in table's are not used on "
              f"this CPU ({before.foreign})")
    if failure is None:
        print(f"written to {path}")
        return 0
    sys.stdout.flush()
    print(f"pysoftmax tune: could not write the dispatch table to {path}: {_reason(failure)}",
          file=sys.stderr)
    try:
        fd, spare = tempfile.mkstemp(prefix="pysoftmax-dispatch-", suffix=".json")
        os.close(fd)
        dispatch.save(table, spare)
    except OSError as exc:
        print(f"pysoftmax tune: nor in the temporary directory ({_reason(exc)}): the "
              "measurements are lost", file=sys.stderr)
    else:
        print(f"pysoftmax tune: the measured table is saved in {spare} instead: copy it to "
              f"{path}, or point PYSOFTMAX_TABLE at it", file=sys.stderr)
    return 1


def bench(args):
    """Time pysoftmax and its peers against a copy of the same bytes; with
    --update, also write the run (tables, machine, targets) into a file."""
    if args.features:
        return bench_features(args)
    if args.dask:
        return bench_dask(args)
    if args.update:
        try:
            _bench.check_report(args.update)    # before measuring for minutes
        except (OSError, ValueError) as exc:
            print(f"pysoftmax bench: cannot update {args.update}: "
                  f"{_reason(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
            return 1
    strategies = _bench.default_strategies()
    columns = strategies[:1] + ["auto_out"] + strategies[1:] + list(_bench.PEERS)
    all_results, sections = [], []
    for threads in args.threads:
        results = _bench.bench(dtype=args.dtype, threads=threads, op=args.op,
                               strategies=strategies, rounds=args.rounds)
        all_results += results
        title = (f"{args.op}, {args.dtype}, {threads} thread(s): time / memcpy of the same "
                 f"bytes (median of {args.rounds} rounds of best-of-n; lower is better)")
        text = _bench.format_table(results, columns)
        skipped = sorted({(c, why) for r in results for c, why in r["skipped"].items()})
        text += "".join(f"\n  {c}: {why}" for c, why in skipped)
        sections.append((title, text))
        if not args.json:
            print(f"\n{title}\n{text}")
        if args.plot:
            path = args.plot if len(args.threads) == 1 else args.plot.replace(
                ".png", f"-{threads}t.png")
            _bench.plot(results, [c for c in columns if any(c in r["seconds"] for r in results)],
                        path)
            print(f"plot written to {path}", file=sys.stderr)
    cost = _bench.call_cost(rounds=args.rounds)
    # issue 13's targets are about softmax; they say nothing of the other ops
    goals = _bench.targets(all_results, cost) if args.op == "softmax" else []
    if args.json:
        json.dump({"results": all_results, "call_cost": cost}, sys.stdout, indent=1)
        print()
    elif goals:
        print("\ntargets (issue 13):")
        for text, met in goals:
            print(f"  [{'met' if met else 'NOT met'}] {text}")
    if args.update:
        _bench.update_report(args.update, _report(args, sections, goals))
        print(f"results written into {args.update}", file=sys.stderr)
    return 0


def _report(args, sections, goals):
    """The Markdown block `bench --update` writes: command, date, machine,
    the tables and the targets."""
    machine = io.StringIO()
    with contextlib.redirect_stdout(machine):
        info(args)
    command = " ".join(["pysoftmax bench", "--threads", *map(str, args.threads), "--dtype",
                        args.dtype, "--op", args.op, "--rounds", str(args.rounds),
                        "--update", args.update])
    lines = [f"Written by `{command}` on {datetime.date.today().isoformat()}, "
             f"on this machine (`pysoftmax info`):", "", "```", machine.getvalue().rstrip(),
             "```", "", f"CPU detail: {_cpu_line()}", ""]
    for title, text in sections:
        lines += [f"### {title}", "", "```", text, "```", ""]
    if goals:
        lines += ["### Targets (issue 13)", ""]
        lines += [f"- **{'met' if met else 'not met'}**: {text}" for text, met in goals]
    return "\n".join(lines)


def _cpu_line():
    """Model name, cores and caches from lscpu where there is one."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "L1d cache", "L2 cache", "L3 cache")
    return "; ".join(f"{k}: {fields[k].strip()}" for k in keep if k in fields)


def bench_features(args):
    """The cost of approx=, scale= and where= against a plain call."""
    all_results = []
    for threads in args.threads:
        results = _bench.feature_bench(dtype=args.dtype, threads=threads, op=args.op,
                                       rounds=args.rounds)
        all_results += results
        if not args.json:
            print(f"\n{args.op}, {args.dtype}, {threads} thread(s), automatic dispatch: each "
                  f"feature's time / a plain call's (median of {args.rounds} rounds; "
                  "below 1 is faster)")
            print(_bench.format_feature_table(results))
    if args.json:
        json.dump(all_results, sys.stdout, indent=1)
        print()
    return 0


def bench_dask(args):
    """Softmax of a Dask array larger than a quarter of the memory available,
    out of core (_bench_dask)."""
    try:
        import dask.array  # noqa: F401
    except ImportError:
        print("pysoftmax bench --dask needs dask: pip install 'pysoftmax[dask]'",
              file=sys.stderr)
        return 1
    from pysoftmax import _bench_dask

    result = _bench_dask.dask_bench(gb=args.dask_gb, numpy_gb=args.dask_numpy_gb,
                                    dtype=args.dtype, op=args.op)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(_bench_dask.format_report(result))
    return 0


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv=None):
    """Run the command line; returns the exit status."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()          # a closed pipe shows here, not at exit
    except BrokenPipeError:
        # The reader went away (`pysoftmax info | head -2`): stop quietly, and
        # send what is still buffered nowhere, so that exiting does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv):
    parser = argparse.ArgumentParser(prog="pysoftmax", description="pysoftmax command line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("info", help="versions, CPU, strategies, dispatch table")
    t = commands.add_parser("tune", help="measure the strategies here and write the dispatch table")
    t.add_argument("--budget", type=float, default=dispatch.TUNE_BUDGET,
                   help="seconds to spend measuring, at most (default: %(default)g)")
    t.add_argument("--threads", type=_positive, default=None,
                   help="thread count to measure besides 1 (default: all available)")
    t.add_argument("--output", default=None,
                   help="file to write (default: $PYSOFTMAX_TABLE or the user config directory)")
    b = commands.add_parser("bench", help="time pysoftmax and its peers against memcpy")
    b.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="dtype of the inputs (default: %(default)s)")
    b.add_argument("--threads", type=_positive, nargs="+", default=[1],
                   help="thread counts, one table each (default: 1)")
    b.add_argument("--op", choices=["softmax", "log_softmax", "logsumexp"], default="softmax",
                   help="the operation to time (default: %(default)s)")
    b.add_argument("--rounds", type=_positive, default=7,
                   help="rounds of best-of-n timing per case; the median is reported "
                        "(default: %(default)s)")
    b.add_argument("--json", action="store_true", help="print machine-readable results")
    b.add_argument("--plot", metavar="OUT.png", help="draw a bar chart (needs matplotlib)")
    b.add_argument("--update", metavar="FILE.md",
                   help="also write the run into FILE.md, between its 'pysoftmax bench "
                        "--update' markers (docs/benchmarks.md)")
    b.add_argument("--features", action="store_true",
                   help="instead: the cost of approx=, scale= and where= against a plain call")
    b.add_argument("--dask", action="store_true",
                   help="instead: softmax of a Dask array larger than a quarter of the memory "
                        "available, out of core (needs dask)")
    b.add_argument("--dask-gb", type=_positive_float, default=None, metavar="GB",
                   help="with --dask: the array's size in GiB (default: a quarter of the "
                        "memory available, plus 10%%)")
    b.add_argument("--dask-numpy-gb", type=_positive_float, default=0.5, metavar="GB",
                   help="with --dask: the size of the in-memory NumPy array timed for "
                        "comparison (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command == "tune" and args.budget <= 0:
        parser.error("--budget must be positive")
    if args.command == "bench" and args.features and args.op == "logsumexp":
        parser.error("--features times softmax and log_softmax, not logsumexp")
    if args.command == "bench" and args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'pysoftmax[bench]'")
    return {"info": info, "tune": tune, "bench": bench}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
