/*
 * The interpreter structure offsets boundcheck's own stack reader uses
 * (src/sample/pyread/layout.rs), printed from a CPython version's own
 * headers: `key value` per line, the keys of `Layout::fields`.
 *
 * Built and run by tests/pyread.rs against every installed CPython 3.11-3.14
 * (GIL builds, x86_64):
 *   cc -DPy_BUILD_CORE -I INCLUDE/pythonX.Y -I INCLUDE tests/pyread_offsets.c
 * A field that moved in some release then fails that test, not a flamegraph.
 * Py_BUILD_CORE makes the internal headers (frames, interpreter state, GIL)
 * available; nothing is linked, only sizes and offsets are printed.
 */
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_gil.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_stackref.h"
#endif

#define P(key, value) printf("%s %lu\n", key, (unsigned long)(value))

/* The lowest set bit of a mask, and the mask shifted down. */
static unsigned lowest_bit(unsigned mask) {
    unsigned i = 0;
    while (i < 32 && !(mask & (1u << i)))
        i++;
    return i;
}

/* A PyASCIIObject's `state` bit field as the bits one field occupies. */
#define STATE_MASK(field, ones)                                  \
    do {                                                         \
        PyASCIIObject o;                                         \
        unsigned bits = 0;                                       \
        memset(&o, 0, sizeof o);                                 \
        o.state.field = ones;                                    \
        memcpy(&bits, &o.state, sizeof bits);                    \
        P("str.state_" #field "_shift", lowest_bit(bits));       \
        P("str.state_" #field "_mask", bits >> lowest_bit(bits)); \
    } while (0)

int main(void) {
    P("version.minor", PY_MINOR_VERSION);

    P("interp.threads_head", offsetof(PyInterpreterState, threads.head));

    P("tstate.next", offsetof(PyThreadState, next));
    P("tstate.thread_id", offsetof(PyThreadState, thread_id));
    P("tstate.native_thread_id", offsetof(PyThreadState, native_thread_id));
#if PY_VERSION_HEX < 0x030D0000
    /* 3.11, 3.12: tstate->cframe->current_frame */
    P("tstate.cframe", offsetof(PyThreadState, cframe));
    P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
#else
    P("tstate.current_frame", offsetof(PyThreadState, current_frame));
#endif
    P("tstate.datastack_chunk", offsetof(PyThreadState, datastack_chunk));
    P("tstate.datastack_top", offsetof(PyThreadState, datastack_top));
    P("chunk.previous", offsetof(_PyStackChunk, previous));
    P("chunk.size", offsetof(_PyStackChunk, size));
    P("chunk.top", offsetof(_PyStackChunk, top));
    P("chunk.data", offsetof(_PyStackChunk, data));

#if PY_VERSION_HEX < 0x030D0000
    P("frame.code", offsetof(_PyInterpreterFrame, f_code));
    P("frame.instr", offsetof(_PyInterpreterFrame, prev_instr));
#else
    P("frame.code", offsetof(_PyInterpreterFrame, f_executable));
    P("frame.instr", offsetof(_PyInterpreterFrame, instr_ptr));
#endif
    P("frame.previous", offsetof(_PyInterpreterFrame, previous));
    P("frame.owner", offsetof(_PyInterpreterFrame, owner));
    P("frame.size", offsetof(_PyInterpreterFrame, localsplus));
#if PY_VERSION_HEX < 0x030C0000
    P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
#if PY_VERSION_HEX >= 0x030C0000
    P("owner.cstack", FRAME_OWNED_BY_CSTACK);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    P("owner.interpreter", FRAME_OWNED_BY_INTERPRETER);
    P("frame.tag_bits", Py_TAG_BITS);
#endif

    P("code.filename", offsetof(PyCodeObject, co_filename));
    P("code.name", offsetof(PyCodeObject, co_name));
    P("code.qualname", offsetof(PyCodeObject, co_qualname));
    P("code.linetable", offsetof(PyCodeObject, co_linetable));
    P("code.firstlineno", offsetof(PyCodeObject, co_firstlineno));
    P("code.code_adaptive", offsetof(PyCodeObject, co_code_adaptive));

    P("bytes.size", offsetof(PyBytesObject, ob_base.ob_size));
    P("bytes.sval", offsetof(PyBytesObject, ob_sval));

    P("str.length", offsetof(PyASCIIObject, length));
    P("str.state", offsetof(PyASCIIObject, state));
    P("str.ascii_size", sizeof(PyASCIIObject));
    P("str.compact_size", sizeof(PyCompactUnicodeObject));
    P("str.data_any", offsetof(PyUnicodeObject, data.any));
    P("str.object_size", sizeof(PyUnicodeObject));
    STATE_MASK(kind, 7);
    STATE_MASK(compact, 1);
    STATE_MASK(ascii, 1);

#if PY_VERSION_HEX >= 0x030C0000
    P("gil.last_holder", offsetof(struct _gil_runtime_state, last_holder));
    P("gil.locked", offsetof(struct _gil_runtime_state, locked));
#endif
    return 0;
}
