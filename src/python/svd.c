/* Python bindings for the svd family. */
#include "pyutil.h"

static size_t nbytes(const mc_tensor *t) { return (size_t)mc_tensor_numel(t) * mc_dtype_size(t->dtype); }

/* svd_workspace_size(a, full_matrices) -> bytes */
static PyObject *py_svd_workspace_size(PyObject *self, PyObject *args) {
    PyObject *ao;
    int full;
    if (!PyArg_ParseTuple(args, "Op", &ao, &full)) return NULL;
    mc_tensor a;
    if (mcpy_tensor(ao, &a, "a")) return NULL;
    size_t bytes = 0;
    mc_status s = mc_svd_workspace_size(&a, full, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* svd_forward(a, full_matrices, u, s, v, info, workspace|None) */
static PyObject *py_svd_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "svd_forward(a, full_matrices, u, s, v, info, workspace)");
        return NULL;
    }
    mc_tensor a, u, sv, v, info, ws;
    int has_ws;
    mc_stream_t stream;
    int full = PyObject_IsTrue(args[1]);
    if (full < 0) return NULL;
    if (mcpy_tensor(args[0], &a, "a") || mcpy_tensor(args[2], &u, "u") || mcpy_tensor(args[3], &sv, "s") ||
        mcpy_tensor(args[4], &v, "v") || mcpy_tensor(args[5], &info, "info") ||
        mcpy_optional_tensor(args[6], &ws, &has_ws, "workspace") || mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_svd_forward(&a, full, &u, &sv, &v, &info, has_ws ? ws.data : NULL, has_ws ? nbytes(&ws) : 0, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_svd_methods[] = {
    {"svd_workspace_size", py_svd_workspace_size, METH_VARARGS, "svd_workspace_size(a, full_matrices) -> bytes"},
    {"svd_forward", (PyCFunction)(void (*)(void))py_svd_forward, METH_FASTCALL,
     "svd_forward(a, full_matrices, u, s, v, info, workspace)"},
    {NULL, NULL, 0, NULL},
};
