"""Timing harness behind `pysoftmax bench` and `pysoftmax tune`.

Each case is timed for pysoftmax (auto and every strategy), for peers (the
NumPy op sequence, scipy.special, and PyTorch and ONNX Runtime when they are
importable) and for a copy of the same bytes (`numpy.copyto`, the
memory-bound limit), all in one process: candidates are interleaved round by
round so that the machine's drift hits them alike, each round keeps its best
time per call, and the result is the median over rounds.  Ratios are what to
read: absolute times on a shared machine vary from run to run.

`--op logsumexp` times `logsumexp` (its peers: the NumPy max/exp/sum
sequence, scipy.special.logsumexp, torch.logsumexp, ONNX's ReduceLogSumExp)
against the same memcpy of its input's bytes: it writes no output, so it
can approach a read of the input.

Imports: _api, _logsumexp, _context, _plan, _timing, strategies.
"""
import sys

import numpy as np

from ._api import log_softmax, softmax
from ._context import num_threads
from ._context import strategy as _strategy
from ._logsumexp import logsumexp
from ._plan import plan_forward
from ._timing import best_of_rounds
from .strategies import STRATEGIES, status

# name -> (shape, axis): the attention rows of Intel's softmax study (14400
# rows of 50), classification, BERT-base attention rows (8 x 12 heads x 128
# rows of 128), a language-model vocabulary (32000; Llama 3's 128256), a large
# matrix, many short rows (a small attention window), and channel softmaxes
# over a non-last axis: one and four NCHW images of 21 classes (SSD's 8732
# boxes, 128x128 pixels, 16384 pixels) and SSD's 81 classes x 8732 boxes,
# batch 32.
DEFAULT_CASES = {
    "14400x50": ((14400, 50), -1),
    "64x1000": ((64, 1000), -1),
    "12288x128": ((12288, 128), -1),
    "32x32000": ((32, 32000), -1),
    "8x128256": ((8, 128256), -1),
    "4096x4096": ((4096, 4096), -1),
    "65536x32": ((65536, 32), -1),
    "1x21x8732/1": ((1, 21, 8732), 1),
    "4x21x128x128/1": ((4, 21, 128, 128), 1),
    "4x21x16384/1": ((4, 21, 16384), 1),
    "32x81x8732/1": ((32, 81, 8732), 1),
}
PEERS = ("numpy", "scipy", "torch", "onnxruntime")


def default_strategies():
    """'auto' and every strategy available here: the columns bench times."""
    return ["auto"] + [n for n, s in status().items() if s.available]


def _numpy_peer(op, x, axis):
    """The NumPy op sequence (what most code writes)."""
    if op == "logsumexp":
        def lse():
            m = x.max(axis=axis, keepdims=True)
            return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))
        return lse

    def softmax():
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def log_softmax():
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return softmax if op == "softmax" else log_softmax


def _scipy_peer(op, x, axis):
    import scipy.special
    f = {"softmax": scipy.special.softmax, "log_softmax": scipy.special.log_softmax,
         "logsumexp": scipy.special.logsumexp}[op]
    return lambda: f(x, axis=axis)


def _torch_peer(op, x, axis, threads):
    import torch
    torch.set_num_threads(threads)
    t = torch.from_numpy(x)
    f = {"softmax": torch.softmax, "log_softmax": torch.log_softmax,
         "logsumexp": torch.logsumexp}[op]
    return lambda: f(t, dim=axis)


def _onnxruntime_peer(op, x, axis, threads):
    import onnxruntime
    from onnx import TensorProto, helper

    elem = {np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE}[x.dtype]
    if op == "logsumexp":
        node = helper.make_node("ReduceLogSumExp", ["x"], ["y"], axes=[axis], keepdims=0)
        y_shape = tuple(n for i, n in enumerate(x.shape) if i != axis % x.ndim)
    else:
        node = helper.make_node("Softmax" if op == "softmax" else "LogSoftmax", ["x"], ["y"],
                                axis=axis)
        y_shape = x.shape
    graph = helper.make_graph([node], "softmax",
                              [helper.make_tensor_value_info("x", elem, x.shape)],
                              [helper.make_tensor_value_info("y", elem, y_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 9)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"x": x})


def peer(name, op, x, axis, threads):
    """A callable computing op(x) with peer library `name`, or the reason it cannot."""
    try:
        if name == "numpy":
            return _numpy_peer(op, x, axis)
        if name == "scipy":
            return _scipy_peer(op, x, axis)
        if name == "torch":
            return _torch_peer(op, x, axis, threads)
        if name == "onnxruntime":
            return _onnxruntime_peer(op, x, axis, threads)
    except ImportError as exc:
        return f"not installed ({exc.name})"
    except Exception as exc:   # a peer that cannot run this case
        return f"{type(exc).__name__}: {exc}"
    raise ValueError(name)


def candidates(op, x, axis, strategies, peers, threads):
    """name -> callable for each usable strategy ('auto' too), each peer and
    memcpy; name -> reason for each that cannot run.

    'auto' is the call users write, ``softmax(x)``: a fresh result, as every
    peer returns.  'auto_out' is the same call writing into a given `out=`,
    and so is each forced strategy (the kernels compared with each other).
    """
    if op == "logsumexp":
        fn = _forced_logsumexp
        out = np.empty(np.delete(x.shape, axis % x.ndim), x.dtype)
    else:
        fn = softmax if op == "softmax" else log_softmax
        out = np.empty(x.shape, x.dtype)
    problem = plan_forward(op, x, axis, None).problem
    calls, skipped = {}, {}
    for name in strategies:
        module = STRATEGIES.get(name)
        reason = None if name == "auto" else (module.unavailable_reason()
                                              or module.decline_reason(problem))
        if reason:
            skipped[name] = reason
        elif name == "auto":
            calls["auto"] = lambda: fn(x, axis=axis)
            calls["auto_out"] = lambda: fn(x, axis=axis, out=out)
        else:
            calls[name] = lambda s=name: fn(x, axis=axis, out=out, strategy=s)
    for name in peers:
        made = peer(name, op, x, axis, threads)
        if isinstance(made, str):
            skipped[name] = made
        else:
            calls[name] = made
    copy_out = np.empty_like(x)
    calls["memcpy"] = lambda: np.copyto(copy_out, x)
    return calls, skipped


def _forced_logsumexp(x, axis, out=None, strategy=None):
    """logsumexp(x, axis, out=out), with `strategy` forced if given (logsumexp,
    a drop-in for SciPy's, has no strategy= argument: the context does it)."""
    if strategy is None:
        return logsumexp(x, axis=axis, out=out)
    with _strategy(strategy):
        return logsumexp(x, axis=axis, out=out)


def bench(cases=None, dtype="float32", threads=1, op="softmax", strategies=None, peers=PEERS,
          rounds=7, progress=sys.stderr):
    """Time every case; returns a list of dicts (one per case)."""
    cases = DEFAULT_CASES if cases is None else cases
    if strategies is None:
        strategies = default_strategies()
    rng = np.random.default_rng(0)
    results = []
    with num_threads(threads):
        for i, (name, (shape, axis)) in enumerate(cases.items()):
            if progress:
                bar = "#" * (20 * i // len(cases))
                status = f"{i + 1}/{len(cases)} {name} {dtype} {op}, {threads} thread(s)"
                print(f"\r[{bar:<20}] {status}".ljust(78),
                      end="", file=progress, flush=True)
            x = rng.standard_normal(shape).astype(dtype)
            calls, skipped = candidates(op, x, axis, strategies, peers, threads)
            times = best_of_rounds(calls, rounds=rounds)
            results.append({"case": name, "shape": list(shape), "axis": axis, "dtype": dtype,
                            "threads": threads, "op": op, "seconds": times, "skipped": skipped})
        if progress:
            print(file=progress)
    return results


# The cost of each feature of the API against a plain call: in-cache rows
# (64x1000, 16x4000: 256 KB) and the attention shape 12288x128 (6 MB).
FEATURE_CASES = {
    "64x1000": ((64, 1000), -1),
    "16x4000": ((16, 4000), -1),
    "12288x128": ((12288, 128), -1),
}
FEATURES = {
    "plain": {},
    "approx": {"approx": True},
    "scale": {"scale": 0.088},
    "where": {"where": "full"},         # a mask of x's shape, 90% selected
    "where-row": {"where": "row"},      # one row mask broadcast to every row
    "where+scale": {"where": "full", "scale": 0.088},
}


def feature_bench(cases=None, dtype="float32", threads=1, op="softmax", rounds=7,
                  progress=sys.stderr):
    """Time each of FEATURES (automatic dispatch) and memcpy on each case."""
    cases = FEATURE_CASES if cases is None else cases
    fn = softmax if op == "softmax" else log_softmax
    rng = np.random.default_rng(0)
    results = []
    with num_threads(threads):
        for i, (name, (shape, axis)) in enumerate(cases.items()):
            if progress:
                print(f"\r{i + 1}/{len(cases)} {name} {dtype} {op} features".ljust(78),
                      end="", file=progress, flush=True)
            x = rng.standard_normal(shape).astype(dtype)
            out = np.empty_like(x)
            masks = {"full": rng.random(shape) < 0.9}
            masks["row"] = masks["full"][:1]
            calls = {}
            for feature, kwargs in FEATURES.items():
                kw = dict(kwargs)
                if "where" in kw:
                    kw["where"] = masks[kw["where"]]
                calls[feature] = (lambda kw=kw, x=x, axis=axis, out=out:
                                  fn(x, axis=axis, out=out, **kw))
            copy_out = np.empty_like(x)
            calls["memcpy"] = lambda copy_out=copy_out, x=x: np.copyto(copy_out, x)
            results.append({"case": name, "shape": list(shape), "axis": axis, "dtype": dtype,
                            "threads": threads, "op": op,
                            "seconds": best_of_rounds(calls, rounds=rounds)})
        if progress:
            print(file=progress)
    return results


def format_feature_table(results):
    """plain's time and time / memcpy, then each feature's time / plain's."""
    features = [f for f in FEATURES if f != "plain"]
    head = ["case", "plain us", "plain/memcpy"] + [f"{f}/plain" for f in features]
    rows = [head]
    for r in results:
        t = r["seconds"]
        rows.append([r["case"], f"{t['plain'] * 1e6:.1f}", f"{t['plain'] / t['memcpy']:.2f}"]
                    + [f"{t[f] / t['plain']:.2f}" for f in features])
    return _text_table(rows)


def fastest(names, seconds):
    """The one of `names` timed in `seconds` (name -> time) that took the
    least time, or None if none was timed."""
    return min((n for n in names if n in seconds), key=seconds.get, default=None)


def format_table(results, columns):
    """A text table: memcpy time, then each column's time / memcpy's, then
    the fastest peer and auto / that peer (a fresh result each), auto's
    fresh result / its `out=` call, and auto / the fastest strategy (both
    with `out=`: is the dispatch right?)."""
    strategies = [c for c in columns if c in STRATEGIES]
    peers = [c for c in columns if c in PEERS]
    head = (["case", "memcpy us"] + list(columns)
            + ["best peer", "auto/peer", "fresh/out", "best strategy", "auto/best"])
    rows = [head]
    for r in results:
        t = r["seconds"]
        ratio = {c: t[c] / t["memcpy"] for c in columns if c in t}
        best, peer_best = fastest(strategies, t), fastest(peers, t)
        has_auto = "auto" in t and "auto_out" in t
        rows.append([r["case"], f"{t['memcpy'] * 1e6:.1f}"]
                    + [f"{ratio[c]:.2f}" if c in ratio else "-" for c in columns]
                    + [peer_best or "-",
                       f"{t['auto'] / t[peer_best]:.2f}" if peer_best and has_auto else "-",
                       f"{t['auto'] / t['auto_out']:.2f}" if has_auto else "-",
                       best or "-",
                       f"{t['auto_out'] / t[best]:.2f}" if best and has_auto else "-"])
    return _text_table(rows)


def _text_table(rows):
    """Rows of cells (the first the header) as right-aligned text columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(results, columns, path):
    """A bar chart of time / memcpy per case (log scale) to `path` (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(columns)
    for k, c in enumerate(columns):
        values = [r["seconds"][c] / r["seconds"]["memcpy"] if c in r["seconds"] else np.nan
                  for r in results]
        ax.bar(np.arange(len(results)) + k * width, values, width, label=c)
    ax.set_xticks(np.arange(len(results)) + 0.4 - width / 2, [r["case"] for r in results])
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    r0 = results[0]
    ax.set_ylabel("time / memcpy of the same bytes (lower is better)")
    ax.set_title(f"{r0['op']}, {r0['dtype']}, {r0['threads']} thread(s)")
    ax.legend(ncol=len(columns), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def call_cost(rounds=7, shape=(1, 8)):
    """The fixed cost of a call: seconds per ``softmax(x)`` on a tiny array
    (1x8), float32 and float64, next to one ``numpy.exp(x)`` on the same
    array.  Returns {dtype name: {"softmax": s, "numpy.exp": s}}."""
    cost = {}
    for dtype in ("float32", "float64"):
        x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        cost[dtype] = best_of_rounds({"softmax": lambda x=x: softmax(x),
                                      "numpy.exp": lambda x=x: np.exp(x)},
                                     rounds=rounds)
    return cost


LARGE_CASE = "4096x4096"   # where a fresh result costs page faults (issue 13)


def targets(results, cost=None):
    """The performance targets of issue 13, each as (text, met) from one run
    (`results` of every thread count; `cost` from call_cost)."""
    out = []
    for threads in sorted({r["threads"] for r in results}):
        rs = [r for r in results if r["threads"] == threads and "auto" in r["seconds"]]
        worse = [r["case"] for r in rs if (peer := fastest(PEERS, r["seconds"]))
                 and r["seconds"]["auto"] > r["seconds"][peer]]
        out.append((f"{threads} thread(s): auto at or below the best peer on every case"
                    + (f" (not on {', '.join(worse)})" if worse else ""), not worse))
        last = [r["seconds"]["onnxruntime"] / r["seconds"]["auto"]
                for r in rs if r["axis"] == -1 and "onnxruntime" in r["seconds"]]
        if last:
            median = float(np.median(last))
            out.append((f"{threads} thread(s): median ONNX Runtime / auto over the last-axis "
                        f"cases {median:.2f} (target >= 1.2)", median >= 1.2))
        inner = {r["case"]: r["seconds"]["auto"] / r["seconds"]["memcpy"]
                 for r in rs if r["axis"] != -1}
        if inner:
            limit = 3.0 if threads == 1 else 2.0
            worst = max(inner, key=inner.get)
            out.append((f"{threads} thread(s): non-last axis at most {limit} x memcpy "
                        f"(worst {worst}: {inner[worst]:.2f})", inner[worst] <= limit))
        for r in rs:
            if r["case"] == LARGE_CASE and "auto_out" in r["seconds"]:
                ratio = r["seconds"]["auto"] / r["seconds"]["auto_out"]
                out.append((f"{threads} thread(s): {LARGE_CASE} fresh result / out= "
                            f"{ratio:.2f} (target <= 1.10)", ratio <= 1.10))
    for dtype, t in (cost or {}).items():
        ratio = t["softmax"] / t["numpy.exp"]
        out.append((f"1x8 {dtype}: softmax {t['softmax'] * 1e6:.2f} us, numpy.exp "
                    f"{t['numpy.exp'] * 1e6:.2f} us: {ratio:.1f}x (target <= 3x)", ratio <= 3))
    return out


REPORT_BEGIN = "<!-- pysoftmax bench --update: begin -->"
REPORT_END = "<!-- pysoftmax bench --update: end -->"


def check_report(path):
    """OSError or ValueError unless file `path` can be read and has the
    REPORT_BEGIN ... REPORT_END block that update_report replaces."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find(REPORT_BEGIN), text.find(REPORT_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no '{REPORT_BEGIN}' ... '{REPORT_END}' block to replace")
    return text, start, end


def update_report(path, block):
    """Replace the text between REPORT_BEGIN and REPORT_END in file `path`
    with `block`."""
    text, start, end = check_report(path)
    text = text[:start + len(REPORT_BEGIN)] + "\n" + block.strip("\n") + "\n" + text[end:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
