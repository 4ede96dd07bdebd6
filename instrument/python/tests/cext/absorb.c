/* A test extension: an awaitable implemented in C that absorbs a cancellation with no Python frame.
 *
 * `await absorb.Absorb(awaitable)` awaits `awaitable` through this object's iterator. A CancelledError
 * thrown into it is not passed on: the inner awaitable is closed, the error is dropped and the await
 * returns "absorbed", as a compiled library's wrapper that eats the cancel would. With
 * `Absorb(awaitable, True)` the CancelledError is first thrown into the inner awaitable, and dropped
 * when it comes back out of it. Any other exception goes on to the inner awaitable. Built at test time
 * by tests/test_swallow_site.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *inner; /* the inner awaitable's iterator */
    int forward;     /* a CancelledError goes into the inner awaitable before it is dropped */
} Absorb;

static PyObject *cancelled_error; /* asyncio.CancelledError */

static PyObject *
absorb_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *awaitable;
    int forward = 0;
    if (!PyArg_ParseTuple(args, "O|p", &awaitable, &forward)) {
        return NULL;
    }
    Absorb *self = (Absorb *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->forward = forward;
    self->inner = PyObject_CallMethod(awaitable, "__await__", NULL);
    if (self->inner == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
absorb_dealloc(Absorb *self)
{
    Py_XDECREF(self->inner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
absorb_await(PyObject *self)
{
    Py_INCREF(self); /* the awaitable is its own iterator */
    return self;
}

static PyObject *
absorb_send(Absorb *self, PyObject *value)
{
    return PyObject_CallMethod(self->inner, "send", "O", value);
}

static PyObject *
absorb_next(Absorb *self)
{
    return absorb_send(self, Py_None);
}

static PyObject *
absorb_close(Absorb *self, PyObject *unused)
{
    return PyObject_CallMethod(self->inner, "close", NULL);
}

static PyObject *
absorb_throw(Absorb *self, PyObject *args)
{
    /* throw(exc) or the older throw(type[, value[, traceback]]) */
    PyObject *exc = PyTuple_GET_SIZE(args) > 1 && PyTuple_GET_ITEM(args, 1) != Py_None
                        ? PyTuple_GET_ITEM(args, 1)
                        : PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    int cancel = PyType_Check(exc) ? PyObject_IsSubclass(exc, cancelled_error)
                                   : PyObject_IsInstance(exc, cancelled_error);
    if (cancel < 0) {
        return NULL;
    }
    if (!cancel || self->forward) {
        PyObject *throw = PyObject_GetAttrString(self->inner, "throw");
        if (throw == NULL) {
            return NULL;
        }
        PyObject *result = PyObject_CallObject(throw, args);
        Py_DECREF(throw);
        if (result != NULL || !cancel || !PyErr_ExceptionMatches(cancelled_error)) {
            return result;
        }
        PyErr_Clear(); /* the CancelledError came back out of the inner awaitable: dropped */
    }
    else {
        PyObject *closed = PyObject_CallMethod(self->inner, "close", NULL);
        if (closed == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(closed);
    }
    /* the await ends with this value: the cancellation is gone */
    PyObject *value = PyUnicode_FromString("absorbed");
    if (value != NULL) {
        PyErr_SetObject(PyExc_StopIteration, value);
        Py_DECREF(value);
    }
    return NULL;
}

static PyMethodDef absorb_methods[] = {
    {"send", (PyCFunction)absorb_send, METH_O, NULL},
    {"throw", (PyCFunction)absorb_throw, METH_VARARGS, NULL},
    {"close", (PyCFunction)absorb_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods absorb_as_async = {
    .am_await = absorb_await,
};

static PyTypeObject AbsorbType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "absorb.Absorb",
    .tp_basicsize = sizeof(Absorb),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = absorb_new,
    .tp_dealloc = (destructor)absorb_dealloc,
    .tp_as_async = &absorb_as_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)absorb_next,
    .tp_methods = absorb_methods,
};

static struct PyModuleDef absorb_module = {
    PyModuleDef_HEAD_INIT, "absorb", NULL, -1, NULL,
};

PyMODINIT_FUNC
PyInit_absorb(void)
{
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return NULL;
    }
    cancelled_error = PyObject_GetAttrString(asyncio, "CancelledError");
    Py_DECREF(asyncio);
    if (cancelled_error == NULL || PyType_Ready(&AbsorbType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&absorb_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&AbsorbType);
    if (PyModule_AddObject(m, "Absorb", (PyObject *)&AbsorbType) < 0) {
        Py_DECREF(&AbsorbType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
