/* Python bindings for the RoPE family. */
#include "pyutil.h"

/* rope(q, k|None, cos, sin, q_out, k_out|None, inverse) */
static PyObject *py_rope(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "rope(q, k, cos, sin, q_out, k_out, inverse)");
        return NULL;
    }
    mc_tensor q, k, c, s, qo, ko;
    int has_k, has_ko;
    mc_stream_t stream;
    int inverse = PyObject_IsTrue(args[6]);
    if (inverse < 0) return NULL;
    if (mcpy_tensor(args[0], &q, "q") || mcpy_optional_tensor(args[1], &k, &has_k, "k") ||
        mcpy_tensor(args[2], &c, "cos") || mcpy_tensor(args[3], &s, "sin") ||
        mcpy_tensor(args[4], &qo, "q_out") || mcpy_optional_tensor(args[5], &ko, &has_ko, "k_out") ||
        mcpy_stream(&q, &stream))
        return NULL;
    mc_status st;
    Py_BEGIN_ALLOW_THREADS
    if (inverse)
        st = mc_rope_backward(&q, has_k ? &k : NULL, &c, &s, &qo, has_ko ? &ko : NULL, stream);
    else
        st = mc_rope_forward(&q, has_k ? &k : NULL, &c, &s, &qo, has_ko ? &ko : NULL, stream);
    Py_END_ALLOW_THREADS
    if (st) return mcpy_raise(st);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_rope_methods[] = {
    {"rope", (PyCFunction)(void (*)(void))py_rope, METH_FASTCALL,
     "rope(q, k, cos, sin, q_out, k_out, inverse): rotate q and k (inverse: the backward)"},
    {NULL, NULL, 0, NULL},
};
