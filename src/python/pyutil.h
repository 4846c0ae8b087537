/* Helpers for the CPython extension: torch tensors -> mc_tensor descriptors, mc_status ->
 * Python exceptions, and each op family's method table. No logic of its own. */
#ifndef MC_PYUTIL_H
#define MC_PYUTIL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "metalcore.h"

/* Fills *t from a torch.Tensor; returns 0, or -1 with a Python exception set. `name` is the
 * argument's name, used in messages. */
int mcpy_tensor(PyObject *obj, mc_tensor *t, const char *name);
/* Like mcpy_tensor, but None gives 0 with *present = 0. */
int mcpy_optional_tensor(PyObject *obj, mc_tensor *t, int *present, const char *name);
/* The current torch CUDA stream of the device, as an mc_stream_t; NULL for CPU tensors. Returns
 * 0, or -1 with a Python exception set. */
int mcpy_stream(const mc_tensor *t, mc_stream_t *stream);
/* For the eager fast paths, which skip torch's dispatch: 1 when the call must go through it after
 * all (autograd would record an op on x: x.requires_grad with grad mode on; or a functorch
 * transform such as vmap is active), 0 when not, -1 with a Python exception set. */
int mcpy_needs_dispatch(PyObject *x);
/* torch.empty_like(x) (a new reference), or NULL with a Python exception set. */
PyObject *mcpy_empty_like(PyObject *x);
/* x.data_ptr(); returns 0, or -1 with a Python exception set. */
int mcpy_data_ptr(PyObject *obj, void **data);
/* Raises the Python exception for a failed status (returns NULL for `return mcpy_raise(s);`). */
PyObject *mcpy_raise(mc_status status);

/* Each op family adds its methods to the module (defined in src/python/<family>.c). */
extern PyMethodDef mcpy_rmsnorm_methods[];
extern PyMethodDef mcpy_adamw_methods[];
extern PyMethodDef mcpy_rope_methods[];
extern PyMethodDef mcpy_embedding_bag_methods[];
extern PyMethodDef mcpy_activations_methods[];
extern PyMethodDef mcpy_softmax_methods[];
extern PyMethodDef mcpy_eigh_methods[];
extern PyMethodDef mcpy_svd_methods[];
extern PyMethodDef mcpy_linalg_direct_methods[];

#endif
