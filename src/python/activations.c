/* Python bindings for the activations family (SiLU, GELU, SwiGLU). */
#include "pyutil.h"

/* activation_forward(act, x, y) */
static PyObject *py_activation_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "activation_forward(act, x, y)");
        return NULL;
    }
    long act = PyLong_AsLong(args[0]);
    if (act == -1 && PyErr_Occurred()) return NULL;
    mc_tensor x, y;
    mc_stream_t stream;
    if (mcpy_tensor(args[1], &x, "x") || mcpy_tensor(args[2], &y, "y") || mcpy_stream(&x, &stream)) return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_activation_forward((mc_activation)act, &x, &y, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* activation_backward(act, dy, x, dx) */
static PyObject *py_activation_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "activation_backward(act, dy, x, dx)");
        return NULL;
    }
    long act = PyLong_AsLong(args[0]);
    if (act == -1 && PyErr_Occurred()) return NULL;
    mc_tensor dy, x, dx;
    mc_stream_t stream;
    if (mcpy_tensor(args[1], &dy, "dy") || mcpy_tensor(args[2], &x, "x") || mcpy_tensor(args[3], &dx, "dx") ||
        mcpy_stream(&x, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_activation_backward((mc_activation)act, &dy, &x, &dx, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* swiglu_forward(gate, up, y) */
static PyObject *py_swiglu_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "swiglu_forward(gate, up, y)");
        return NULL;
    }
    mc_tensor g, u, y;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &g, "gate") || mcpy_tensor(args[1], &u, "up") || mcpy_tensor(args[2], &y, "y") ||
        mcpy_stream(&g, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_swiglu_forward(&g, &u, &y, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* swiglu_backward(dy, gate, up, dgate, dup[, h]); h: None or a tensor for silu(gate) * up */
static PyObject *py_swiglu_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "swiglu_backward(dy, gate, up, dgate, dup[, h])");
        return NULL;
    }
    mc_tensor dy, g, u, dg, du, h;
    int want_h = 0;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &dy, "dy") || mcpy_tensor(args[1], &g, "gate") || mcpy_tensor(args[2], &u, "up") ||
        mcpy_tensor(args[3], &dg, "dgate") || mcpy_tensor(args[4], &du, "dup") ||
        (nargs == 6 && mcpy_optional_tensor(args[5], &h, &want_h, "h")) || mcpy_stream(&g, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_swiglu_backward(&dy, &g, &u, &dg, &du, want_h ? &h : NULL, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_activations_methods[] = {
    {"activation_forward", (PyCFunction)(void (*)(void))py_activation_forward, METH_FASTCALL,
     "activation_forward(act, x, y); act: 0 silu, 1 gelu, 2 gelu tanh"},
    {"activation_backward", (PyCFunction)(void (*)(void))py_activation_backward, METH_FASTCALL,
     "activation_backward(act, dy, x, dx)"},
    {"swiglu_forward", (PyCFunction)(void (*)(void))py_swiglu_forward, METH_FASTCALL,
     "swiglu_forward(gate, up, y)"},
    {"swiglu_backward", (PyCFunction)(void (*)(void))py_swiglu_backward, METH_FASTCALL,
     "swiglu_backward(dy, gate, up, dgate, dup[, h]); h (optional) receives silu(gate) * up"},
    {NULL, NULL, 0, NULL},
};
