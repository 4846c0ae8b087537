/* metalcore._C: the CPython extension. Converts torch tensors into mc_tensor descriptors, calls
 * the C API, and turns a failed status into a Python exception. */
#include "pyutil.h"

/* Set once by metalcore._backend through _C._init(...). */
static PyObject *tensor_type;      /* torch.Tensor */
static PyObject *dtype_objs[MC_DTYPE_COUNT_]; /* torch dtypes in mc_dtype order */
static PyObject *get_raw_stream;   /* torch._C._cuda_getCurrentRawStream or None */
static PyObject *linalg_error;     /* torch.linalg.LinAlgError */
static PyObject *empty_like;       /* torch.empty_like */
static PyObject *grad_enabled;     /* torch.is_grad_enabled */
static PyObject *functorch_active; /* torch._C._are_functorch_transforms_active */
static PyObject *s_requires_grad;
static PyObject *s_dtype, *s_shape, *s_stride, *s_data_ptr, *s_is_cuda, *s_is_cpu, *s_get_device;

int mcpy_tensor(PyObject *obj, mc_tensor *t, const char *name) {
    if (!tensor_type) {
        PyErr_SetString(PyExc_RuntimeError, "metalcore._C is not initialised (import metalcore)");
        return -1;
    }
    int is_tensor = PyObject_IsInstance(obj, tensor_type);
    if (is_tensor < 0) return -1;
    if (!is_tensor) {
        PyErr_Format(PyExc_TypeError, "%s must be a torch.Tensor, not %.100s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    memset(t, 0, sizeof *t);
    PyObject *dt = PyObject_GetAttr(obj, s_dtype);
    if (!dt) return -1;
    int code = -1;
    for (int i = 0; i < MC_DTYPE_COUNT_; ++i)
        if (dtype_objs[i] == dt) code = i;
    if (code < 0) {
        PyObject *r = PyObject_Repr(dt);
        PyErr_Format(PyExc_TypeError, "%s has dtype %s, which metalcore does not handle", name,
                     r ? PyUnicode_AsUTF8(r) : "?");
        Py_XDECREF(r);
        Py_DECREF(dt);
        return -1;
    }
    Py_DECREF(dt);
    t->dtype = (mc_dtype)code;

    PyObject *cuda = PyObject_GetAttr(obj, s_is_cuda);
    if (!cuda) return -1;
    int is_cuda = PyObject_IsTrue(cuda);
    Py_DECREF(cuda);
    if (is_cuda) {
        PyObject *idx = PyObject_CallMethodNoArgs(obj, s_get_device);
        if (!idx) return -1;
        t->device.type = MC_DEVICE_CUDA;
        t->device.index = (int)PyLong_AsLong(idx);
        Py_DECREF(idx);
    } else {
        PyObject *cpu = PyObject_GetAttr(obj, s_is_cpu);
        if (!cpu) return -1;
        int is_cpu = PyObject_IsTrue(cpu);
        Py_DECREF(cpu);
        if (!is_cpu) {
            PyErr_Format(PyExc_RuntimeError, "%s is on a device metalcore does not support (only cpu and cuda)", name);
            return -1;
        }
        t->device.type = MC_DEVICE_CPU;
    }

    PyObject *shape = PyObject_GetAttr(obj, s_shape);
    if (!shape) return -1;
    PyObject *stride = PyObject_CallMethodNoArgs(obj, s_stride);
    if (!stride) {
        Py_DECREF(shape);
        return -1;
    }
    Py_ssize_t nd = PyTuple_Check(shape) ? PyTuple_GET_SIZE(shape) : -1;
    if (nd < 0 || !PyTuple_Check(stride) || PyTuple_GET_SIZE(stride) != nd || nd > MC_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "%s has %zd dimensions; metalcore handles at most %d", name, nd, MC_MAX_DIMS);
        Py_DECREF(shape);
        Py_DECREF(stride);
        return -1;
    }
    t->ndim = (int)nd;
    for (Py_ssize_t i = 0; i < nd; ++i) {
        t->shape[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i));
        t->strides[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(stride, i));
    }
    Py_DECREF(shape);
    Py_DECREF(stride);
    if (PyErr_Occurred()) return -1;

    return mcpy_data_ptr(obj, &t->data);
}

int mcpy_needs_dispatch(PyObject *x) {
    PyObject *rg = PyObject_GetAttr(x, s_requires_grad);
    if (!rg) return -1;
    int on = PyObject_IsTrue(rg);
    Py_DECREF(rg);
    if (on) { /* recorded only with grad mode on */
        PyObject *g = PyObject_CallNoArgs(grad_enabled);
        if (!g) return -1;
        on = PyObject_IsTrue(g);
        Py_DECREF(g);
        if (on) return on;
    }
    PyObject *f = PyObject_CallNoArgs(functorch_active);
    if (!f) return -1;
    on = PyObject_IsTrue(f);
    Py_DECREF(f);
    return on;
}

PyObject *mcpy_empty_like(PyObject *x) { return PyObject_CallOneArg(empty_like, x); }

int mcpy_data_ptr(PyObject *obj, void **data) {
    PyObject *ptr = PyObject_CallMethodNoArgs(obj, s_data_ptr);
    if (!ptr) return -1;
    *data = PyLong_AsVoidPtr(ptr);
    Py_DECREF(ptr);
    return PyErr_Occurred() ? -1 : 0;
}

int mcpy_optional_tensor(PyObject *obj, mc_tensor *t, int *present, const char *name) {
    *present = obj != Py_None;
    if (!*present) return 0;
    return mcpy_tensor(obj, t, name);
}

int mcpy_stream(const mc_tensor *t, mc_stream_t *stream) {
    *stream = NULL;
    if (t->device.type != MC_DEVICE_CUDA) return 0;
    if (!get_raw_stream || get_raw_stream == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "torch has no CUDA support, but a CUDA tensor was given");
        return -1;
    }
    PyObject *s = PyObject_CallFunction(get_raw_stream, "i", t->device.index);
    if (!s) return -1;
    *stream = PyLong_AsVoidPtr(s);
    Py_DECREF(s);
    return PyErr_Occurred() ? -1 : 0;
}

PyObject *mcpy_raise(mc_status status) {
    PyObject *type;
    switch (status) {
    case MC_STATUS_INVALID_ARGUMENT:
    case MC_STATUS_SHAPE_MISMATCH:
    case MC_STATUS_DEVICE_MISMATCH: type = PyExc_ValueError; break;
    case MC_STATUS_UNSUPPORTED_DTYPE: type = PyExc_TypeError; break;
    case MC_STATUS_NUMERICAL_ERROR:
    case MC_STATUS_NOT_CONVERGED: type = linalg_error ? linalg_error : PyExc_RuntimeError; break;
    default: type = PyExc_RuntimeError; break;
    }
    const char *detail = mc_last_error();
    PyErr_Format(type, "metalcore: %s (%s)", detail[0] ? detail : mc_status_string(status),
                 mc_status_string(status));
    return NULL;
}

/* ---- module-level functions ----------------------------------------------------------------- */

/* _init(tensor_type, dtypes, get_raw_stream, linalg_error, empty_like, is_grad_enabled,
 * are_functorch_transforms_active): dtypes is a tuple of torch dtypes in mc_dtype order (None for
 * one torch lacks); the last three serve the eager fast paths (mcpy_needs_dispatch). */
static PyObject *py_init(PyObject *self, PyObject *args) {
    PyObject *tt, *dts, *grs, *lae, *el, *ge, *fa;
    if (!PyArg_ParseTuple(args, "OO!OOOOO", &tt, &PyTuple_Type, &dts, &grs, &lae, &el, &ge, &fa)) return NULL;
    if (PyTuple_GET_SIZE(dts) != MC_DTYPE_COUNT_) {
        PyErr_Format(PyExc_ValueError, "expected %d dtypes", MC_DTYPE_COUNT_);
        return NULL;
    }
    Py_XSETREF(tensor_type, Py_NewRef(tt));
    for (int i = 0; i < MC_DTYPE_COUNT_; ++i) Py_XSETREF(dtype_objs[i], Py_NewRef(PyTuple_GET_ITEM(dts, i)));
    Py_XSETREF(get_raw_stream, Py_NewRef(grs));
    Py_XSETREF(linalg_error, Py_NewRef(lae));
    Py_XSETREF(empty_like, Py_NewRef(el));
    Py_XSETREF(grad_enabled, Py_NewRef(ge));
    Py_XSETREF(functorch_active, Py_NewRef(fa));
    Py_RETURN_NONE;
}

static PyObject *py_version(PyObject *self, PyObject *noargs) { return PyUnicode_FromString(mc_version()); }
static PyObject *py_has_cuda(PyObject *self, PyObject *noargs) { return PyBool_FromLong(mc_has_cuda()); }
static PyObject *py_cuda_device_count(PyObject *self, PyObject *noargs) {
    return PyLong_FromLong(mc_cuda_device_count());
}
static PyObject *py_cuda_architectures(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(mc_cuda_architectures());
}

static PyMethodDef core_methods[] = {
    {"_init", py_init, METH_VARARGS, "Register torch objects the extension needs."},
    {"version", py_version, METH_NOARGS, "Library version string."},
    {"has_cuda", py_has_cuda, METH_NOARGS, "True if the CUDA backend was compiled in."},
    {"cuda_device_count", py_cuda_device_count, METH_NOARGS, "Number of usable CUDA devices."},
    {"cuda_architectures", py_cuda_architectures, METH_NOARGS, "CUDA architectures compiled in."},
    {NULL, NULL, 0, NULL},
};

static int add_methods(PyObject *m, PyMethodDef *defs) {
    return PyModule_AddFunctions(m, defs);
}

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "metalcore._C",
                                        "metalcore C extension (see metalcore.h)", -1, NULL};

PyMODINIT_FUNC PyInit__C(void) {
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) goto fail
    INTERN(s_dtype, "dtype");
    INTERN(s_shape, "shape");
    INTERN(s_stride, "stride");
    INTERN(s_data_ptr, "data_ptr");
    INTERN(s_is_cuda, "is_cuda");
    INTERN(s_is_cpu, "is_cpu");
    INTERN(s_get_device, "get_device");
    INTERN(s_requires_grad, "requires_grad");
#undef INTERN
    if (add_methods(m, core_methods) < 0) goto fail;
    if (add_methods(m, mcpy_rmsnorm_methods) < 0) goto fail;
    if (add_methods(m, mcpy_adamw_methods) < 0) goto fail;
    if (add_methods(m, mcpy_rope_methods) < 0) goto fail;
    if (add_methods(m, mcpy_embedding_bag_methods) < 0) goto fail;
    if (add_methods(m, mcpy_activations_methods) < 0) goto fail;
    if (add_methods(m, mcpy_softmax_methods) < 0) goto fail;
    if (add_methods(m, mcpy_eigh_methods) < 0) goto fail;
    if (add_methods(m, mcpy_svd_methods) < 0) goto fail;
    if (add_methods(m, mcpy_linalg_direct_methods) < 0) goto fail;
    if (PyModule_AddIntConstant(m, "softmax_split_min_cols", MC_SOFTMAX_SPLIT_MIN_COLS) < 0) goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
