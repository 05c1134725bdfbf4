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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pysoftmax",
                                     description="pysoftmax command line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("info", help="versions, CPU, strategies")
    args = parser.parse_args(argv)
    if args.command == "info":
        return info()
    return 2


if __name__ == "__main__":
    sys.exit(main())
