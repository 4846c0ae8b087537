/* Python bindings for the RMSNorm family. */
#include "pyutil.h"

/* rmsnorm_forward(x, weight|None, eps, y, rstd|None) */
static PyObject *py_rmsnorm_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "rmsnorm_forward(x, weight, eps, y, rstd)");
        return NULL;
    }
    mc_tensor x, w, y, rstd;
    int has_w, has_rstd;
    mc_stream_t stream;
    double eps = PyFloat_AsDouble(args[2]);
    if (eps == -1.0 && PyErr_Occurred()) return NULL;
    if (mcpy_tensor(args[0], &x, "x") || mcpy_optional_tensor(args[1], &w, &has_w, "weight") ||
        mcpy_tensor(args[3], &y, "y") || mcpy_optional_tensor(args[4], &rstd, &has_rstd, "rstd") ||
        mcpy_stream(&x, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_rmsnorm_forward(&x, has_w ? &w : NULL, eps, &y, has_rstd ? &rstd : NULL, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* rmsnorm_backward_workspace_size(x, weight|None, want_dweight) -> bytes */
static PyObject *py_rmsnorm_backward_workspace_size(PyObject *self, PyObject *args) {
    PyObject *xo, *wo;
    int want;
    if (!PyArg_ParseTuple(args, "OOp", &xo, &wo, &want)) return NULL;
    mc_tensor x, w;
    int has_w;
    if (mcpy_tensor(xo, &x, "x") || mcpy_optional_tensor(wo, &w, &has_w, "weight")) return NULL;
    size_t bytes = 0;
    mc_status s = mc_rmsnorm_backward_workspace_size(&x, has_w ? &w : NULL, want, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* rmsnorm_backward(dy, x, weight|None, rstd, dx, dweight|None, workspace|None) */
static PyObject *py_rmsnorm_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "rmsnorm_backward(dy, x, weight, rstd, dx, dweight, workspace)");
        return NULL;
    }
    mc_tensor dy, x, w, rstd, dx, dw, ws;
    int has_w, has_dw, has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &dy, "dy") || mcpy_tensor(args[1], &x, "x") ||
        mcpy_optional_tensor(args[2], &w, &has_w, "weight") || mcpy_tensor(args[3], &rstd, "rstd") ||
        mcpy_tensor(args[4], &dx, "dx") || mcpy_optional_tensor(args[5], &dw, &has_dw, "dweight") ||
        mcpy_optional_tensor(args[6], &ws, &has_ws, "workspace") || mcpy_stream(&x, &stream))
        return NULL;
    size_t ws_bytes = has_ws ? (size_t)mc_tensor_numel(&ws) * mc_dtype_size(ws.dtype) : 0;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_rmsnorm_backward(&dy, &x, has_w ? &w : NULL, &rstd, &dx, has_dw ? &dw : NULL,
                            has_ws ? ws.data : NULL, ws_bytes, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* add_rmsnorm_forward(x, residual, weight|None, eps, y, h, rstd|None) */
static PyObject *py_add_rmsnorm_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "add_rmsnorm_forward(x, residual, weight, eps, y, h, rstd)");
        return NULL;
    }
    mc_tensor x, r, w, y, h, rstd;
    int has_w, has_rstd;
    mc_stream_t stream;
    double eps = PyFloat_AsDouble(args[3]);
    if (eps == -1.0 && PyErr_Occurred()) return NULL;
    if (mcpy_tensor(args[0], &x, "x") || mcpy_tensor(args[1], &r, "residual") ||
        mcpy_optional_tensor(args[2], &w, &has_w, "weight") || mcpy_tensor(args[4], &y, "y") ||
        mcpy_tensor(args[5], &h, "h") || mcpy_optional_tensor(args[6], &rstd, &has_rstd, "rstd") ||
        mcpy_stream(&x, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_add_rmsnorm_forward(&x, &r, has_w ? &w : NULL, eps, &y, &h, has_rstd ? &rstd : NULL, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* add_rmsnorm_backward(dy, dh|None, h, weight|None, rstd, dx, dweight|None, workspace|None) */
static PyObject *py_add_rmsnorm_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "add_rmsnorm_backward(dy, dh, h, weight, rstd, dx, dweight, workspace)");
        return NULL;
    }
    mc_tensor dy, dh, h, w, rstd, dx, dw, ws;
    int has_dh, has_w, has_dw, has_ws;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &dy, "dy") || mcpy_optional_tensor(args[1], &dh, &has_dh, "dh") ||
        mcpy_tensor(args[2], &h, "h") || mcpy_optional_tensor(args[3], &w, &has_w, "weight") ||
        mcpy_tensor(args[4], &rstd, "rstd") || mcpy_tensor(args[5], &dx, "dx") ||
        mcpy_optional_tensor(args[6], &dw, &has_dw, "dweight") ||
        mcpy_optional_tensor(args[7], &ws, &has_ws, "workspace") || mcpy_stream(&h, &stream))
        return NULL;
    size_t ws_bytes = has_ws ? (size_t)mc_tensor_numel(&ws) * mc_dtype_size(ws.dtype) : 0;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_add_rmsnorm_backward(&dy, has_dh ? &dh : NULL, &h, has_w ? &w : NULL, &rstd, &dx,
                                has_dw ? &dw : NULL, has_ws ? ws.data : NULL, ws_bytes, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_rmsnorm_methods[] = {
    {"rmsnorm_forward", (PyCFunction)(void (*)(void))py_rmsnorm_forward, METH_FASTCALL,
     "rmsnorm_forward(x, weight, eps, y, rstd)"},
    {"rmsnorm_backward_workspace_size", py_rmsnorm_backward_workspace_size, METH_VARARGS,
     "rmsnorm_backward_workspace_size(x, weight, want_dweight) -> bytes"},
    {"rmsnorm_backward", (PyCFunction)(void (*)(void))py_rmsnorm_backward, METH_FASTCALL,
     "rmsnorm_backward(dy, x, weight, rstd, dx, dweight, workspace)"},
    {"add_rmsnorm_forward", (PyCFunction)(void (*)(void))py_add_rmsnorm_forward, METH_FASTCALL,
     "add_rmsnorm_forward(x, residual, weight, eps, y, h, rstd)"},
    {"add_rmsnorm_backward", (PyCFunction)(void (*)(void))py_add_rmsnorm_backward, METH_FASTCALL,
     "add_rmsnorm_backward(dy, dh, h, weight, rstd, dx, dweight, workspace)"},
    {NULL, NULL, 0, NULL},
};
