/* Python bindings for the AdamW family: descriptor conversion for plan packing, the per-step
 * gradient-pointer collection, and the step itself. */
#include "pyutil.h"

#include <stdlib.h>

static PyObject *s_grad_layout, *s_is_contiguous, *s_numel, *s_data_ptr2;

/* adamw_plan(out_u8, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs|None, masters|None, steps,
 *            group_ids, amsgrad_of_group, dry) -> (bytes, n_chunks)
 * Packs the plan into out_u8 (a CPU uint8 tensor) unless dry; lists are of equal length; steps is
 * a list of f32 scalar tensors; masters entries may be None. */
static PyObject *py_adamw_plan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "adamw_plan(out, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, "
                        "masters, steps, group_ids, amsgrad_of_group, dry)");
        return NULL;
    }
    PyObject *lists[7] = {args[1], args[2], args[3], args[4], args[5], args[6], args[7]};
    Py_ssize_t n = PyList_Check(args[1]) ? PyList_GET_SIZE(args[1]) : -1;
    for (int k = 0; k < 7; ++k)
        if (!(lists[k] == Py_None && (k == 3 || k == 4)) && (!PyList_Check(lists[k]) || PyList_GET_SIZE(lists[k]) != n)) {
            PyErr_SetString(PyExc_ValueError, "adamw_plan: the lists must have equal lengths");
            return NULL;
        }
    if (!PyTuple_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError, "adamw_plan: amsgrad_of_group must be a tuple");
        return NULL;
    }
    int dry = PyObject_IsTrue(args[9]);
    if (dry < 0) return NULL;
    Py_ssize_t ng = PyTuple_GET_SIZE(args[8]);
    mc_adamw_tensor *ts = (mc_adamw_tensor *)calloc((size_t)(n > 0 ? n : 1), sizeof *ts);
    int32_t *ams = (int32_t *)calloc((size_t)(ng > 0 ? ng : 1), sizeof *ams);
    PyObject *result = NULL;
    mc_dtype dtype = MC_DTYPE_F32;
    if (!ts || !ams) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t g = 0; g < ng; ++g) {
        int v = PyObject_IsTrue(PyTuple_GET_ITEM(args[8], g));
        if (v < 0) goto done;
        ams[g] = v;
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
        mc_tensor p, m, v, vm, ms, st;
        int has_vm = 0, has_ms = 0;
        if (mcpy_tensor(PyList_GET_ITEM(lists[0], i), &p, "param") ||
            mcpy_tensor(PyList_GET_ITEM(lists[1], i), &m, "exp_avg") ||
            mcpy_tensor(PyList_GET_ITEM(lists[2], i), &v, "exp_avg_sq") ||
            (lists[3] != Py_None && mcpy_optional_tensor(PyList_GET_ITEM(lists[3], i), &vm, &has_vm, "max_exp_avg_sq")) ||
            (lists[4] != Py_None && mcpy_optional_tensor(PyList_GET_ITEM(lists[4], i), &ms, &has_ms, "master")) ||
            mcpy_tensor(PyList_GET_ITEM(lists[5], i), &st, "step"))
            goto done;
        long gid = PyLong_AsLong(PyList_GET_ITEM(lists[6], i));
        if (gid == -1 && PyErr_Occurred()) goto done;
        mc_status s = mc_adamw_tensor_init(&ts[i], &p, &m, &v, has_vm ? &vm : NULL, has_ms ? &ms : NULL, &st,
                                           (int32_t)gid);
        if (s) {
            mcpy_raise(s);
            goto done;
        }
        if (i == 0) dtype = p.dtype;
        else if (p.dtype != dtype) {
            PyErr_SetString(PyExc_ValueError, "adamw_plan: all params of a plan must share a dtype");
            goto done;
        }
    }
    size_t bytes;
    int64_t nc;
    mc_status s = mc_adamw_plan_bytes(ts, n, &bytes, &nc);
    if (s) {
        mcpy_raise(s);
        goto done;
    }
    if (!dry) {
        mc_tensor out;
        if (mcpy_tensor(args[0], &out, "out")) goto done;
        if (out.device.type != MC_DEVICE_CPU || out.dtype != MC_DTYPE_U8 || !mc_tensor_is_contiguous(&out) ||
            (size_t)mc_tensor_numel(&out) < bytes) {
            PyErr_SetString(PyExc_ValueError, "adamw_plan: out must be a contiguous CPU uint8 tensor of the plan's size");
            goto done;
        }
        s = mc_adamw_plan_pack(ts, n, ams, (int)ng, dtype, out.data, (size_t)mc_tensor_numel(&out));
        if (s) {
            mcpy_raise(s);
            goto done;
        }
    }
    result = Py_BuildValue("nL", (Py_ssize_t)bytes, (long long)nc);
done:
    free(ts);
    free(ams);
    return result;
}

/* adamw_collect_grads(grads, has_grad_u8, numels_i64, out_u64, prev_u64|None, strided) -> int
 * grads: list (one entry per param of the bucket, None where no gradient). has_grad marks the
 * params the plan holds; numels (one per planned tensor) their sizes. Writes each planned
 * gradient's data pointer into out (CPU u64 tensor). Returns -1 when the None pattern differs
 * from has_grad (the plan must be rebuilt), 1 when a pointer differs from prev (or prev is None),
 * 0 otherwise. Gradient shape, dtype and device are guaranteed equal to the param's by torch's
 * .grad setter; layout, contiguity and numel are checked here. */
static PyObject *py_adamw_collect_grads(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "adamw_collect_grads(grads: list, has_grad, numels, out, prev, strided)");
        return NULL;
    }
    if (!s_grad_layout) {
        if (!(s_grad_layout = PyUnicode_InternFromString("layout")) ||
            !(s_is_contiguous = PyUnicode_InternFromString("is_contiguous")) ||
            !(s_numel = PyUnicode_InternFromString("numel")) || !(s_data_ptr2 = PyUnicode_InternFromString("data_ptr")))
            return NULL;
    }
    mc_tensor hg, nu, out, prev;
    int has_prev;
    if (mcpy_tensor(args[1], &hg, "has_grad") || mcpy_tensor(args[2], &nu, "numels") ||
        mcpy_tensor(args[3], &out, "out") || mcpy_optional_tensor(args[4], &prev, &has_prev, "prev"))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(args[0]);
    int64_t np = mc_tensor_numel(&nu);
    if (hg.dtype != MC_DTYPE_U8 || mc_tensor_numel(&hg) != n || nu.dtype != MC_DTYPE_I64 ||
        out.dtype != MC_DTYPE_I64 || mc_tensor_numel(&out) != np || (has_prev && mc_tensor_numel(&prev) != np) ||
        hg.device.type != MC_DEVICE_CPU || nu.device.type != MC_DEVICE_CPU || out.device.type != MC_DEVICE_CPU ||
        !mc_tensor_is_contiguous(&hg) || !mc_tensor_is_contiguous(&nu) || !mc_tensor_is_contiguous(&out)) {
        PyErr_SetString(PyExc_ValueError, "adamw_collect_grads: bad bookkeeping tensors");
        return NULL;
    }
    const uint8_t *has = (const uint8_t *)hg.data;
    const int64_t *numels = (const int64_t *)nu.data;
    int64_t *dst = (int64_t *)out.data;
    const int64_t *old = has_prev ? (const int64_t *)prev.data : NULL;
    int changed = old == NULL;
    int64_t k = 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject *g = PyList_GET_ITEM(args[0], i);
        if ((g == Py_None) != (has[i] == 0) || k > np) return PyLong_FromLong(-1);
        if (g == Py_None) continue;
        if (k >= np) return PyLong_FromLong(-1);
        PyObject *lay = PyObject_GetAttr(g, s_grad_layout);
        if (!lay) return NULL;
        Py_DECREF(lay);
        if (lay != args[5]) {
            PyErr_SetString(PyExc_RuntimeError, "MetalAdamW does not support sparse gradients (as torch.optim.AdamW); "
                            "please consider SparseAdam instead");
            return NULL;
        }
        PyObject *c = PyObject_CallMethodNoArgs(g, s_is_contiguous);
        if (!c) return NULL;
        int contig = PyObject_IsTrue(c);
        Py_DECREF(c);
        PyObject *ne = PyObject_CallMethodNoArgs(g, s_numel);
        if (!ne) return NULL;
        long long nel = PyLong_AsLongLong(ne);
        Py_DECREF(ne);
        if (contig != 1 || nel != numels[k]) {
            PyErr_Format(PyExc_ValueError, "MetalAdamW: gradient %lld of this device/dtype is %s with %lld elements; "
                         "expected a contiguous gradient of %lld elements", (long long)k,
                         contig == 1 ? "contiguous" : "non-contiguous", nel, (long long)numels[k]);
            return NULL;
        }
        PyObject *ptr = PyObject_CallMethodNoArgs(g, s_data_ptr2);
        if (!ptr) return NULL;
        void *pv = PyLong_AsVoidPtr(ptr);
        Py_DECREF(ptr);
        if (PyErr_Occurred()) return NULL;
        dst[k] = (int64_t)(intptr_t)pv;
        if (old && old[k] != dst[k]) changed = 1;
        ++k;
    }
    if (k != np) return PyLong_FromLong(-1);
    return PyLong_FromLong(changed);
}

/* adamw_step(plan, n_tensors, n_chunks, grads_u64, groups_u8, n_groups, param0, grad_scale|None,
 *            found_inf|None): plan, grads and groups on the params' device. */
static PyObject *py_adamw_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "adamw_step(plan, n_tensors, n_chunks, grads, groups, n_groups, param0, "
                        "grad_scale, found_inf)");
        return NULL;
    }
    mc_tensor plan, grads, groups, p0, gs, fi;
    int has_gs, has_fi;
    mc_stream_t stream;
    long long nt = PyLong_AsLongLong(args[1]), nc = PyLong_AsLongLong(args[2]);
    long ng = PyLong_AsLong(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (mcpy_tensor(args[0], &plan, "plan") || mcpy_tensor(args[3], &grads, "grads") ||
        mcpy_tensor(args[4], &groups, "groups") || mcpy_tensor(args[6], &p0, "param") ||
        mcpy_optional_tensor(args[7], &gs, &has_gs, "grad_scale") ||
        mcpy_optional_tensor(args[8], &fi, &has_fi, "found_inf") || mcpy_stream(&p0, &stream))
        return NULL;
    const mc_tensor *all[5] = {&plan, &grads, &groups, has_gs ? &gs : NULL, has_fi ? &fi : NULL};
    for (int k = 0; k < 5; ++k)
        if (all[k] && (all[k]->device.type != p0.device.type || all[k]->device.index != p0.device.index)) {
            PyErr_SetString(PyExc_ValueError, "adamw_step: plan, grads, groups, grad_scale and found_inf must be "
                            "on the params' device");
            return NULL;
        }
    if ((has_gs && (gs.dtype != MC_DTYPE_F32 || mc_tensor_numel(&gs) != 1)) ||
        (has_fi && (fi.dtype != MC_DTYPE_F32 || mc_tensor_numel(&fi) != 1)) ||
        (size_t)mc_tensor_numel(&groups) * mc_dtype_size(groups.dtype) < (size_t)ng * sizeof(mc_adamw_group) ||
        mc_tensor_numel(&grads) * (int64_t)mc_dtype_size(grads.dtype) < (int64_t)nt * 8) {
        PyErr_SetString(PyExc_ValueError, "adamw_step: grad_scale/found_inf must be float32 scalars; groups and "
                        "grads must be large enough");
        return NULL;
    }
    size_t plan_bytes = (size_t)mc_tensor_numel(&plan) * mc_dtype_size(plan.dtype);
    mc_device dev = p0.device;
    mc_status s;
    Py_BEGIN_ALLOW_THREADS
    s = mc_adamw_step(plan.data, plan_bytes, nt, nc, (const void *const *)grads.data,
                      (const mc_adamw_group *)groups.data, (int)ng, p0.dtype, dev,
                      has_gs ? (const float *)gs.data : NULL, has_fi ? (const float *)fi.data : NULL, stream);
    Py_END_ALLOW_THREADS
    if (s) return mcpy_raise(s);
    Py_RETURN_NONE;
}

PyMethodDef mcpy_adamw_methods[] = {
    {"adamw_plan", (PyCFunction)(void (*)(void))py_adamw_plan, METH_FASTCALL,
     "adamw_plan(out, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, masters, steps, group_ids, amsgrad_of_group, dry)"},
    {"adamw_collect_grads", (PyCFunction)(void (*)(void))py_adamw_collect_grads, METH_FASTCALL,
     "adamw_collect_grads(grads, has_grad, numels, out, prev, strided) -> -1 | 0 | 1"},
    {"adamw_step", (PyCFunction)(void (*)(void))py_adamw_step, METH_FASTCALL,
     "adamw_step(plan, n_tensors, n_chunks, grads, groups, n_groups, param0, grad_scale, found_inf)"},
    {NULL, NULL, 0, NULL},
};
