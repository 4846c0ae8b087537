/* Python bindings for the softmax family. */
#include "pyutil.h"

static int as_dim(PyObject *o, int *dim) {
    long d = PyLong_AsLong(o);
    if (d == -1 && PyErr_Occurred()) return -1;
    *dim = (int)d;
    return 0;
}

/* softmax_forward(x, dim, y, workspace|None) */
static PyObject *py_softmax_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "softmax_forward(x, dim, y, workspace)");
        return NULL;
    }
    mc_tensor x, y, ws;
    int dim, has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &x, "x") || as_dim(args[1], &dim) || mcpy_tensor(args[2], &y, "y") ||
        mcpy_optional_tensor(args[3], &ws, &has_ws, "workspace") || mcpy_stream(&x, &stream))
        return NULL;
    size_t ws_bytes = has_ws ? (size_t)mc_tensor_numel(&ws) * mc_dtype_size(ws.dtype) : 0;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_softmax_forward(&x, dim, &y, has_ws ? ws.data : NULL, ws_bytes, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* softmax_backward(dy, y, dim, dx, workspace|None) */
static PyObject *py_softmax_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "softmax_backward(dy, y, dim, dx, workspace)");
        return NULL;
    }
    mc_tensor dy, y, dx, ws;
    int dim, has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &dy, "dy") || mcpy_tensor(args[1], &y, "y") || as_dim(args[2], &dim) ||
        mcpy_tensor(args[3], &dx, "dx") || mcpy_optional_tensor(args[4], &ws, &has_ws, "workspace") ||
        mcpy_stream(&y, &stream))
        return NULL;
    size_t ws_bytes = has_ws ? (size_t)mc_tensor_numel(&ws) * mc_dtype_size(ws.dtype) : 0;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_softmax_backward(&dy, &y, dim, &dx, has_ws ? ws.data : NULL, ws_bytes, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* softmax_workspace_size(x, dim) -> bytes */
static PyObject *py_softmax_workspace_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "softmax_workspace_size(x, dim)");
        return NULL;
    }
    mc_tensor x;
    int dim;
    if (mcpy_tensor(args[0], &x, "x") || as_dim(args[1], &dim)) return NULL;
    size_t bytes = 0;
    mc_status s = mc_softmax_workspace_size(&x, dim, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

PyMethodDef mcpy_softmax_methods[] = {
    {"softmax_forward", (PyCFunction)(void (*)(void))py_softmax_forward, METH_FASTCALL,
     "softmax_forward(x, dim, y, workspace)"},
    {"softmax_backward", (PyCFunction)(void (*)(void))py_softmax_backward, METH_FASTCALL,
     "softmax_backward(dy, y, dim, dx, workspace)"},
    {"softmax_workspace_size", (PyCFunction)(void (*)(void))py_softmax_workspace_size, METH_FASTCALL,
     "softmax_workspace_size(x, dim) -> bytes"},
    {NULL, NULL, 0, NULL},
};
