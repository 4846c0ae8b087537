/* Python bindings for the eigh family. */
#include "pyutil.h"

static size_t nbytes(const mc_tensor *t) { return (size_t)mc_tensor_numel(t) * mc_dtype_size(t->dtype); }

/* eigh_workspace_size(a) -> bytes */
static PyObject *py_eigh_workspace_size(PyObject *self, PyObject *args) {
    PyObject *ao;
    if (!PyArg_ParseTuple(args, "O", &ao)) return NULL;
    mc_tensor a;
    if (mcpy_tensor(ao, &a, "a")) return NULL;
    size_t bytes = 0;
    mc_status s = mc_eigh_workspace_size(&a, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* eigh_forward(a, w, q, info, workspace|None) */
static PyObject *py_eigh_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "eigh_forward(a, w, q, info, workspace)");
        return NULL;
    }
    mc_tensor a, w, q, info, ws;
    int has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &a, "a") || mcpy_tensor(args[1], &w, "w") || mcpy_tensor(args[2], &q, "q") ||
        mcpy_tensor(args[3], &info, "info") || mcpy_optional_tensor(args[4], &ws, &has_ws, "workspace") ||
        mcpy_stream(&a, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_eigh_forward(&a, &w, &q, &info, has_ws ? ws.data : NULL, has_ws ? nbytes(&ws) : 0, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_eigh_methods[] = {
    {"eigh_workspace_size", py_eigh_workspace_size, METH_VARARGS, "eigh_workspace_size(a) -> bytes"},
    {"eigh_forward", (PyCFunction)(void (*)(void))py_eigh_forward, METH_FASTCALL,
     "eigh_forward(a, w, q, info, workspace)"},
    {NULL, NULL, 0, NULL},
};
