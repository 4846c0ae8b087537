/* Python bindings for the direct factorizations: cholesky, lu_factor, lu_solve, solve, trsm, qr. */
#include "pyutil.h"

#define NARGS(n, sig)                                                                              \
    if (nargs != (n)) {                                                                            \
        PyErr_SetString(PyExc_TypeError, sig);                                                     \
        return NULL;                                                                               \
    }

static int flag(PyObject *o, int *v) {
    *v = PyObject_IsTrue(o);
    return *v < 0 ? -1 : 0;
}

static size_t ws_bytes(const mc_tensor *ws, int has) {
    return has ? (size_t)mc_tensor_numel(ws) * mc_dtype_size(ws->dtype) : 0;
}

/* cholesky(A, upper, L, info) */
static PyObject *py_cholesky(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(4, "cholesky(A, upper, L, info)");
    mc_tensor a, l, info;
    int upper;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "A") || flag(args[1], &upper) || mcpy_tensor(args[2], &l, "L") ||
        mcpy_tensor(args[3], &info, "info") || mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_cholesky(&a, upper, &l, &info, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* lu_factor(A, LU, pivots, info) */
static PyObject *py_lu_factor(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(4, "lu_factor(A, LU, pivots, info)");
    mc_tensor a, lu, piv, info;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "A") || mcpy_tensor(args[1], &lu, "LU") || mcpy_tensor(args[2], &piv, "pivots") ||
        mcpy_tensor(args[3], &info, "info") || mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_lu_factor(&a, &lu, &piv, &info, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* lu_solve(LU, pivots, B, transpose, X) */
static PyObject *py_lu_solve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(5, "lu_solve(LU, pivots, B, transpose, X)");
    mc_tensor lu, piv, b, x;
    int trans;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &lu, "LU") || mcpy_tensor(args[1], &piv, "pivots") || mcpy_tensor(args[2], &b, "B") ||
        flag(args[3], &trans) || mcpy_tensor(args[4], &x, "X") || mcpy_stream(&lu, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_lu_solve(&lu, &piv, &b, trans, &x, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* solve_workspace_size(A, B) -> bytes */
static PyObject *py_solve_workspace_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(2, "solve_workspace_size(A, B)");
    mc_tensor a, b;
    if (mcpy_tensor(args[0], &a, "A") || mcpy_tensor(args[1], &b, "B")) return NULL;
    size_t bytes = 0;
    mc_status s = mc_solve_workspace_size(&a, &b, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* solve(A, B, X, info, workspace|None) */
static PyObject *py_solve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(5, "solve(A, B, X, info, workspace)");
    mc_tensor a, b, x, info, ws;
    int has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "A") || mcpy_tensor(args[1], &b, "B") || mcpy_tensor(args[2], &x, "X") ||
        mcpy_tensor(args[3], &info, "info") || mcpy_optional_tensor(args[4], &ws, &has_ws, "workspace") ||
        mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_solve(&a, &b, &x, &info, has_ws ? ws.data : NULL, ws_bytes(&ws, has_ws), stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* trsm(A, B, lower, transpose, unit_diagonal, X) */
static PyObject *py_trsm(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(6, "trsm(A, B, lower, transpose, unit_diagonal, X)");
    mc_tensor a, b, x;
    int lower, trans, unit;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "A") || mcpy_tensor(args[1], &b, "B") || flag(args[2], &lower) ||
        flag(args[3], &trans) || flag(args[4], &unit) || mcpy_tensor(args[5], &x, "X") || mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_trsm(&a, &b, lower, trans, unit, &x, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* qr_workspace_size(A, mode) -> bytes; mode 0 reduced, 1 complete, 2 r */
static PyObject *py_qr_workspace_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(2, "qr_workspace_size(A, mode)");
    mc_tensor a;
    if (mcpy_tensor(args[0], &a, "A")) return NULL;
    int mode = (int)PyLong_AsLong(args[1]);
    if (mode == -1 && PyErr_Occurred()) return NULL;
    size_t bytes = 0;
    mc_status s = mc_qr_workspace_size(&a, (mc_qr_mode)mode, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* qr(A, mode, Q|None, R, workspace|None) */
static PyObject *py_qr(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    NARGS(5, "qr(A, mode, Q, R, workspace)");
    mc_tensor a, q, r, ws;
    int has_q, has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "A")) return NULL;
    int mode = (int)PyLong_AsLong(args[1]);
    if (mode == -1 && PyErr_Occurred()) return NULL;
    if (mcpy_optional_tensor(args[2], &q, &has_q, "Q") || mcpy_tensor(args[3], &r, "R") ||
        mcpy_optional_tensor(args[4], &ws, &has_ws, "workspace") || mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_qr(&a, (mc_qr_mode)mode, has_q ? &q : NULL, &r, has_ws ? ws.data : NULL, ws_bytes(&ws, has_ws), stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

#define FAST(name, doc) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, doc}
PyMethodDef mcpy_linalg_direct_methods[] = {
    FAST(cholesky, "cholesky(A, upper, L, info)"),
    FAST(lu_factor, "lu_factor(A, LU, pivots, info)"),
    FAST(lu_solve, "lu_solve(LU, pivots, B, transpose, X)"),
    FAST(solve_workspace_size, "solve_workspace_size(A, B) -> bytes"),
    FAST(solve, "solve(A, B, X, info, workspace)"),
    FAST(trsm, "trsm(A, B, lower, transpose, unit_diagonal, X)"),
    FAST(qr_workspace_size, "qr_workspace_size(A, mode) -> bytes"),
    FAST(qr, "qr(A, mode, Q, R, workspace)"),
    {NULL, NULL, 0, NULL},
};
