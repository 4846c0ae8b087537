/* Python bindings for the EmbeddingBag family. */
#include "pyutil.h"

static int parse_options(PyObject *mode, PyObject *last, PyObject *pad, mc_embedding_bag_options *o) {
    long m = PyLong_AsLong(mode);
    if (m == -1 && PyErr_Occurred()) return -1;
    int l = PyObject_IsTrue(last);
    if (l < 0) return -1;
    long long p = PyLong_AsLongLong(pad);
    if (p == -1 && PyErr_Occurred()) return -1;
    o->mode = (mc_embedding_bag_mode)m;
    o->include_last_offset = l;
    o->padding_idx = (int64_t)p;
    return 0;
}

/* embedding_bag_forward(weight, indices, offsets|None, psw|None, mode, include_last_offset,
 *                       padding_idx, out, bag_count|None, max_pos|None, errors|None) */
static PyObject *py_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "embedding_bag_forward(weight, indices, offsets, psw, mode, "
                        "include_last_offset, padding_idx, out, bag_count, max_pos, errors)");
        return NULL;
    }
    mc_tensor w, idx, off, psw, out, cnt, mp, err;
    int has_off, has_psw, has_cnt, has_mp, has_err;
    mc_embedding_bag_options o;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &w, "weight") || mcpy_tensor(args[1], &idx, "indices") ||
        mcpy_optional_tensor(args[2], &off, &has_off, "offsets") ||
        mcpy_optional_tensor(args[3], &psw, &has_psw, "per_sample_weights") ||
        parse_options(args[4], args[5], args[6], &o) || mcpy_tensor(args[7], &out, "out") ||
        mcpy_optional_tensor(args[8], &cnt, &has_cnt, "bag_count") ||
        mcpy_optional_tensor(args[9], &mp, &has_mp, "max_pos") ||
        mcpy_optional_tensor(args[10], &err, &has_err, "errors") || mcpy_stream(&w, &stream))
        return NULL;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_embedding_bag_forward(&w, &idx, has_off ? &off : NULL, has_psw ? &psw : NULL, &o, &out,
                                 has_cnt ? &cnt : NULL, has_mp ? &mp : NULL, has_err ? &err : NULL, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

/* embedding_bag_backward_workspace_size(weight, indices, deterministic) -> bytes */
static PyObject *py_ws(PyObject *self, PyObject *args) {
    PyObject *wo, *io;
    int det;
    if (!PyArg_ParseTuple(args, "OOp", &wo, &io, &det)) return NULL;
    mc_tensor w, idx;
    if (mcpy_tensor(wo, &w, "weight") || mcpy_tensor(io, &idx, "indices")) return NULL;
    size_t bytes = 0;
    mc_status s = mc_embedding_bag_backward_workspace_size(&w, &idx, det, &bytes);
    if (s) return mcpy_raise(s);
    return PyLong_FromSize_t(bytes);
}

/* embedding_bag_backward(dout, weight, indices, offsets|None, psw|None, mode,
 *     include_last_offset, padding_idx, bag_count|None, max_pos|None, sorted|None, perm|None,
 *     dweight|None, dpsw|None, workspace|None) */
static PyObject *py_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 15) {
        PyErr_SetString(PyExc_TypeError, "embedding_bag_backward(dout, weight, indices, offsets, psw, mode, "
                        "include_last_offset, padding_idx, bag_count, max_pos, sorted, perm, dweight, dpsw, workspace)");
        return NULL;
    }
    mc_tensor dout, w, idx, off, psw, cnt, mp, srt, perm, dw, dpsw, ws;
    int has_off, has_psw, has_cnt, has_mp, has_srt, has_perm, has_dw, has_dpsw, has_ws;
    mc_embedding_bag_options o;
    mc_stream_t stream;
    if (mcpy_tensor(args[0], &dout, "dout") || mcpy_tensor(args[1], &w, "weight") ||
        mcpy_tensor(args[2], &idx, "indices") || mcpy_optional_tensor(args[3], &off, &has_off, "offsets") ||
        mcpy_optional_tensor(args[4], &psw, &has_psw, "per_sample_weights") ||
        parse_options(args[5], args[6], args[7], &o) ||
        mcpy_optional_tensor(args[8], &cnt, &has_cnt, "bag_count") ||
        mcpy_optional_tensor(args[9], &mp, &has_mp, "max_pos") ||
        mcpy_optional_tensor(args[10], &srt, &has_srt, "sorted_indices") ||
        mcpy_optional_tensor(args[11], &perm, &has_perm, "sorted_positions") ||
        mcpy_optional_tensor(args[12], &dw, &has_dw, "dweight") ||
        mcpy_optional_tensor(args[13], &dpsw, &has_dpsw, "dpsw") ||
        mcpy_optional_tensor(args[14], &ws, &has_ws, "workspace") || mcpy_stream(&w, &stream))
        return NULL;
    size_t ws_bytes = has_ws ? (size_t)mc_tensor_numel(&ws) * mc_dtype_size(ws.dtype) : 0;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_embedding_bag_backward(&dout, &w, &idx, has_off ? &off : NULL, has_psw ? &psw : NULL, &o,
                                  has_cnt ? &cnt : NULL, has_mp ? &mp : NULL, has_srt ? &srt : NULL,
                                  has_perm ? &perm : NULL, has_dw ? &dw : NULL, has_dpsw ? &dpsw : NULL,
                                  has_ws ? ws.data : NULL, ws_bytes, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_embedding_bag_methods[] = {
    {"embedding_bag_forward", (PyCFunction)(void (*)(void))py_forward, METH_FASTCALL,
     "embedding_bag_forward(weight, indices, offsets, psw, mode, include_last_offset, padding_idx, out, "
     "bag_count, max_pos, errors)"},
    {"embedding_bag_backward_workspace_size", py_ws, METH_VARARGS,
     "embedding_bag_backward_workspace_size(weight, indices, deterministic) -> bytes"},
    {"embedding_bag_backward", (PyCFunction)(void (*)(void))py_backward, METH_FASTCALL,
     "embedding_bag_backward(dout, weight, indices, offsets, psw, mode, include_last_offset, padding_idx, "
     "bag_count, max_pos, sorted, perm, dweight, dpsw, workspace)"},
    {NULL, NULL, 0, NULL},
};
