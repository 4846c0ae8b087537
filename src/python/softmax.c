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

/* softmax_eager(x, dim) -> y, or None: fused_softmax's plain eager call (no gradient recorded, no
 * functorch transform, x contiguous and not empty, dim in range, a dtype the device runs, rows short
 * enough to need no workspace) made in one C call, y from torch.empty_like(x). None sends the
 * caller down the general path (the custom op, workspaces, the error messages). On a tiny input
 * the Python layers of that path cost more host time than the launch itself. */
static PyObject *py_softmax_eager(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "softmax_eager(x, dim)");
        return NULL;
    }
    const int nd = mcpy_needs_dispatch(args[0]);
    if (nd) return nd < 0 ? NULL : Py_NewRef(Py_None);
    mc_tensor x;
    int dim;
    if (mcpy_tensor(args[0], &x, "x") || as_dim(args[1], &dim)) return NULL;
    const int rank = x.ndim ? x.ndim : 1;
    if (dim < -rank || dim >= rank) Py_RETURN_NONE;
    if (dim < 0) dim += rank;
    const int cuda = x.device.type == MC_DEVICE_CUDA;
    const int dtype_ok = x.dtype == MC_DTYPE_F32 || x.dtype == MC_DTYPE_F16 || x.dtype == MC_DTYPE_BF16 ||
                         (x.dtype == MC_DTYPE_F64 && !cuda);
    if (!dtype_ok || !mc_tensor_is_contiguous(&x) || mc_tensor_numel(&x) == 0 ||
        (cuda && x.ndim && x.shape[dim] >= MC_SOFTMAX_SPLIT_MIN_COLS))
        Py_RETURN_NONE;
    mc_stream_t stream;
    if (mcpy_stream(&x, &stream)) return NULL;
    PyObject *out = mcpy_empty_like(args[0]);
    if (!out) return NULL;
    mc_tensor y = x; /* empty_like of a contiguous tensor: same shape, strides, dtype, device */
    if (mcpy_data_ptr(out, &y.data)) {
        Py_DECREF(out);
        return NULL;
    }
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_softmax_forward(&x, dim, &y, NULL, 0, stream);
    Py_END_ALLOW_THREADS
    if (s) {
        Py_DECREF(out);
        return mcpy_raise(s);
    }
    return out;
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
    {"softmax_eager", (PyCFunction)(void (*)(void))py_softmax_eager, METH_FASTCALL,
     "softmax_eager(x, dim) -> y, or None where the general path must run"},
    {"softmax_workspace_size", (PyCFunction)(void (*)(void))py_softmax_workspace_size, METH_FASTCALL,
     "softmax_workspace_size(x, dim) -> bytes"},
    {NULL, NULL, 0, NULL},
};
