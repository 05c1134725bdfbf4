"""Command line: ``pysoftmax info`` (or ``python -m pysoftmax info``)."""
import argparse
import platform
import sys


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info():
    """Print versions, CPU, threads and the strategies with their status."""
    import pysoftmax

    config = pysoftmax.get_config()
    print(f"pysoftmax {config['versions']['pysoftmax']}  "
          f"(numpy {config['versions']['numpy']}, Python {platform.python_version()})")
    print(f"CPU:       {_cpu_model()} ({platform.machine()})")
    print(f"kernels:   {config['isa']} instruction set, "
          f"OpenMP {'on' if config['openmp'] else 'off'}, {config['threads']} threads")
    print(f"strategy:  {config['strategy']}  (dispatch: {config['dispatch']})")
    print("strategies:")
    for name, status in pysoftmax.available_strategies().items():
        state = "available" if status.available else f"unavailable: {status.reason}"
        print(f"  {name:<12} {state}")
    return 0


def bench(args):
    """Time each strategy against a copy of the same bytes."""
    from . import _bench

    import pysoftmax
    strategies = ["auto"] + [n for n, s in pysoftmax.available_strategies().items() if s.available]
    results = _bench.bench(dtype=args.dtype, threads=args.threads, op=args.op,
                           strategies=strategies, rounds=args.rounds)
    print(f"{args.op}, {args.dtype}, {args.threads} thread(s): time / memcpy of the same bytes "
          f"(median of {args.rounds} rounds of best-of-n; lower is better)")
    print(_bench.format_table(results, strategies))
    declined = {(s, r) for res in results for s, r in res["declined"].items()}
    for s, r in sorted(declined):
        print(f"  declined by {s}: {r}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pysoftmax",
                                     description="pysoftmax command line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("info", help="versions, CPU, strategies")
    b = commands.add_parser("bench", help="time the strategies against memcpy")
    b.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--op", choices=["softmax", "log_softmax"], default="softmax")
    b.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "info":
        return info()
    if args.command == "bench":
        if args.threads < 1 or args.rounds < 1:
            parser.error("--threads and --rounds must be at least 1")
        return bench(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
