"""Fit the polynomials of psm_exp.h.

Exact exp: exp(r) ~ 1 + r + r^2 q(r) on |r| <= ln2/2.  Approximate exp
(approx=True): 2^f ~ 1 + f q(f) on |f| <= 1/2.  Each fit minimises the
maximum relative error (iteratively reweighted least squares on
Chebyshev nodes, in mpmath precision), then rounds the coefficients to the
target format and reports the error of the rounded polynomial evaluated in
that format with Horner's rule.  Run: python fit_exp_poly.py
"""
import mpmath
import numpy as np

mpmath.mp.prec = 128
HALF_LN2 = mpmath.log(2) / 2


def fit(degree, iterations=60, nodes=400):
    """Coefficients c2..c_degree minimising max |p(r)/exp(r) - 1|."""
    rs = [HALF_LN2 * mpmath.cos(mpmath.pi * (i + 0.5) / nodes) for i in range(nodes)]
    weights = [mpmath.mpf(1)] * nodes
    for _ in range(iterations):
        # solve min sum w (1 + r + r^2 q(r) - e^r)^2 / e^2r for q
        rows = [[w * r ** (k + 2) / mpmath.exp(r) for k in range(degree - 1)]
                for r, w in zip(rs, weights)]
        rhs = [w * (mpmath.exp(r) - 1 - r) / mpmath.exp(r) for r, w in zip(rs, weights)]
        a, b = mpmath.matrix(rows), mpmath.matrix(rhs)
        c = mpmath.lu_solve(a.T * a, a.T * b)
        q = list(reversed(c))
        errs = [abs((1 + r + r * r * mpmath.polyval(q, r)) / mpmath.exp(r) - 1) for r in rs]
        top = max(errs)
        weights = [w * (1 + e / top) for w, e in zip(weights, errs)]
    return [c[k] for k in range(degree - 1)], top


def horner_error(coeffs, ftype):
    r = np.linspace(-0.3466, 0.3466, 200001).astype(ftype)
    p = np.full_like(r, ftype(coeffs[-1]))
    for c in reversed([1.0, 1.0] + [float(c) for c in coeffs[:-1]]):
        p = p * r + ftype(c)
    exact = np.array([mpmath.exp(mpmath.mpf(float(v))) for v in r[::100]], dtype=np.float64)
    return np.max(np.abs(p[::100].astype(np.float64) / exact - 1))


def fit_exp2(degree, iterations=60, nodes=400):
    """Coefficients c1..c_degree minimising max |(1 + f q(f)) / 2^f - 1|."""
    fs = [mpmath.cos(mpmath.pi * (i + 0.5) / nodes) / 2 for i in range(nodes)]
    weights = [mpmath.mpf(1)] * nodes
    for _ in range(iterations):
        rows = [[w * f ** (k + 1) / 2 ** f for k in range(degree)] for f, w in zip(fs, weights)]
        rhs = [w * (2 ** f - 1) / 2 ** f for f, w in zip(fs, weights)]
        a, b = mpmath.matrix(rows), mpmath.matrix(rhs)
        c = mpmath.lu_solve(a.T * a, a.T * b)
        errs = [abs((1 + sum(c[k] * f ** (k + 1) for k in range(degree))) / 2 ** f - 1) for f in fs]
        top = max(errs)
        weights = [w * (1 + e / top) for w, e in zip(weights, errs)]
    return [c[k] for k in range(degree)], top


for name, ftype, degree in (("float", np.float32, 5), ("double", np.float64, 11)):
    coeffs, err = fit(degree)
    print(f"{name}: degree {degree}, max rel error {float(err):.2e}, "
          f"evaluated in {name}: {horner_error(coeffs, ftype):.2e}")
    for k, c in enumerate(coeffs, start=2):
        print(f"  c{k} = {repr(float(ftype(float(c))))}")

for name, ftype, degree in (("float", np.float32, 4), ("double", np.float64, 7)):
    coeffs, err = fit_exp2(degree)
    print(f"approx {name}: 2^f, degree {degree}, max rel error {float(err):.2e}")
    for k, c in enumerate(coeffs, start=1):
        print(f"  c{k} = {repr(float(ftype(float(c))))}")
