/*
 * aarch64_smoke.c -- the C kernels built for another machine: .ci/cross-aarch64
 * compiles src/kernels.c for aarch64 (where only the generic kernels exist)
 * and links this program, which runs under qemu-aarch64 if it is installed.
 * It checks that every instruction-set name gives the generic kernels there,
 * and that softmax and log_softmax of rows and columns, float and double,
 * exact and approximate exp, are within docs/contract.md's bounds of a long
 * double computation (the full test suite needs a Python for aarch64; this is
 * the part of it an x86-64 machine can run).  Exits 1 on a failure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

/* softmax (log: log_softmax) of x[i*stride] for i < n, in long double. */
static void exact(const double *x, long double *r, int n, int stride, int log)
{
    long double m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++)
        m = fmaxl(m, x[i * stride]);
    for (int i = 0; i < n; i++)
        s += expl(x[i * stride] - m);
    for (int i = 0; i < n; i++)
        r[i] = log ? x[i * stride] - m - logl(s) : expl(x[i * stride] - m) / s;
}

/* The bound of docs/contract.md at the true value t; approx: 1e-4 relative. */
static long double bound(long double t, int is_float, int log, int approx)
{
    long double a = fabsl(t);
    if (approx)
        return log ? 1e-4L + 1e-4L * a : 1e-4L * a + 1e-30L;
    if (is_float)
        return log ? 1e-5L + 1e-6L * a : (a >= 1e-30L ? fminl(1e-6L, 1e-5L * a) : 1e-6L);
    return log ? 1e-13L * (1 + a) : (a >= 1e-300L ? 1e-13L * a : 1e-300L);
}

enum { ROWS = 3, N = 1000 };

int main(void)
{
    static double xd[ROWS * N], yd[ROWS * N];
    static float xf[ROWS * N], yf[ROWS * N];
    static long double want[N];
    static const char *names[] = {"auto", "generic", "avx2", "avx512"};
    for (int i = 0; i < 4; i++) {
        const char *got = psm_init(names[i]);
        char what[64];
        snprintf(what, sizeof what, "psm_init(\"%s\") gives generic", names[i]);
        check(got != NULL && strcmp(got, "generic") == 0, what);
    }
    check(psm_init("sse2") == NULL, "psm_init of an unknown name is NULL");

    unsigned state = 12345;
    for (int i = 0; i < ROWS * N; i++) {
        state = state * 1103515245u + 12345u;
        xd[i] = ((state >> 8) % 20000) / 1000.0 - 10.0;   /* in [-10, 10) */
        xf[i] = (float)xd[i];
        xd[i] = xf[i];                                   /* the same values in both */
    }
    for (int cols = 0; cols <= 1; cols++)
        for (int log = 0; log <= 1; log++)
            for (int approx = 0; approx <= 1; approx++) {
                /* rows: ROWS rows of N; cols: N rows of ROWS columns (axis 0) */
                if (cols) {
                    psm_cols_f64(xd, yd, N, ROWS, ROWS, 1.0, log, approx);
                    psm_cols_f32(xf, yf, N, ROWS, ROWS, 1.0f, log, approx);
                } else {
                    psm_rows_f64(xd, N, yd, N, ROWS, N, 1.0, log, approx);
                    psm_rows_f32(xf, N, yf, N, ROWS, N, 1.0f, log, approx);
                }
                int bad64 = 0, bad32 = 0;
                for (int r = 0; r < ROWS; r++) {
                    int start = cols ? r : r * N, stride = cols ? ROWS : 1;
                    exact(xd + start, want, N, stride, log);
                    for (int i = 0; i < N; i++) {
                        long double t = want[i];
                        bad64 += !(fabsl(yd[start + i * stride] - t) <= bound(t, 0, log, approx));
                        bad32 += !(fabsl(yf[start + i * stride] - t) <= bound(t, 1, log, approx));
                    }
                }
                char what[96];
                snprintf(what, sizeof what, "%s %s%s float64 within the bound",
                         cols ? "cols" : "rows", log ? "log_softmax" : "softmax",
                         approx ? " approx" : "");
                check(bad64 == 0, what);
                memcpy(strstr(what, "float64"), "float32", 7);
                check(bad32 == 0, what);
            }
    printf("%s: %s kernels, %d failure(s)\n", failures ? "FAILED" : "ok", psm_isa(), failures);
    return failures != 0;
}
