/* The codec's hottest functions in C: cutting a stream into frames and parsing a
 * well-formed frame into its fields.
 *
 * An accelerator, never the definition: fixserver/codec.py is the reference, and this
 * handles only the common case, the way it does: frames back to back whose BodyLength
 * and CheckSum are where they belong; frames whose BeginString, BodyLength and
 * CheckSum are right, MsgType third, every tag written as the plain decimal number of
 * a tag below 10000 and no length-prefixed data field. For anything else it stops
 * (framing) or returns None (parsing) and the Python code decides, so errors, noise
 * and slow paths stay in one place. Built when a C compiler is there (setup.py:
 * optional); without it, or with FIXSERVER_PURE_PYTHON=1, codec.py runs alone.
 * tests/fixserver/test_speedups.py checks the two agree on any input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define SOH '\x01'

/* The digits s[0..n) as a number; -1 if empty, not all digits, or too long. */
static long long
digits(const char *s, Py_ssize_t n)
{
    long long v = 0;
    if (n <= 0 || n > 18)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* parse_fields(raw: bytes, length_tags: set[int]) -> (begin_string, fields) | None */
static PyObject *
parse_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "parse_fields(raw: bytes, length_tags)");
        return NULL;
    }
    PyObject *raw = args[0], *length_tags = args[1];
    const char *s = PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);

    if (n < 2 || s[0] != '8' || s[1] != '=' || s[n - 1] != SOH)
        Py_RETURN_NONE;
    const char *p = memchr(s, SOH, n);
    Py_ssize_t bs_end = p - s;
    if (bs_end + 3 > n || s[bs_end + 1] != '9' || s[bs_end + 2] != '=')
        Py_RETURN_NONE;
    p = memchr(s + bs_end + 1, SOH, n - bs_end - 1);
    if (p == NULL)
        Py_RETURN_NONE;
    Py_ssize_t len_end = p - s, body_start = len_end + 1;
    /* The last "\x0110=" that ends before the final SOH. */
    Py_ssize_t cs_at = -1;
    for (Py_ssize_t i = n - 5; i >= 0; i--) {
        if (s[i] == SOH && s[i + 1] == '1' && s[i + 2] == '0' && s[i + 3] == '=') {
            cs_at = i;
            break;
        }
    }
    if (cs_at < body_start)
        Py_RETURN_NONE;
    if (digits(s + bs_end + 3, len_end - bs_end - 3) != cs_at + 1 - body_start)
        Py_RETURN_NONE;
    unsigned int sum = 0;
    for (Py_ssize_t i = 0; i <= cs_at; i++)
        sum += (unsigned char)s[i];
    if (digits(s + cs_at + 4, n - 1 - cs_at - 4) != (long long)(sum & 0xFF))
        Py_RETURN_NONE;
    if (cs_at - body_start < 3 || memcmp(s + body_start, "35=", 3) != 0)
        Py_RETURN_NONE;

    PyObject *fields = PyList_New(0);
    if (fields == NULL)
        return NULL;
    Py_ssize_t pos = body_start;
    while (pos <= cs_at) {
        const char *item = s + pos;
        const char *end = memchr(item, SOH, cs_at + 1 - pos);   /* cs_at is an SOH */
        Py_ssize_t len = end - item;
        const char *eq = memchr(item, '=', len);
        Py_ssize_t tag_len = eq == NULL ? 0 : eq - item;
        /* A plain tag: 1 to 4 digits, no leading zero (codec._TAGS). */
        if (tag_len < 1 || tag_len > 4 || (item[0] == '0' && tag_len > 1))
            goto fallback;
        long tag = (long)digits(item, tag_len);
        if (tag < 0)
            goto fallback;
        PyObject *key = PyLong_FromLong(tag);
        if (key == NULL)
            goto error;
        int data = PySet_Contains(length_tags, key);
        if (data != 0) {
            Py_DECREF(key);
            if (data < 0)
                goto error;
            goto fallback;       /* a data field follows: the Python slow path */
        }
        PyObject *value = PyBytes_FromStringAndSize(eq + 1, len - tag_len - 1);
        if (value == NULL) {
            Py_DECREF(key);
            goto error;
        }
        PyObject *field = PyTuple_Pack(2, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (field == NULL)
            goto error;
        int failed = PyList_Append(fields, field);
        Py_DECREF(field);
        if (failed)
            goto error;
        pos += len + 1;
    }
    PyObject *begin_string = PyBytes_FromStringAndSize(s + 2, bs_end - 2);
    if (begin_string == NULL)
        goto error;
    PyObject *out = PyTuple_Pack(2, begin_string, fields);
    Py_DECREF(begin_string);
    Py_DECREF(fields);
    return out;

fallback:
    Py_DECREF(fields);
    Py_RETURN_NONE;
error:
    Py_DECREF(fields);
    return NULL;
}

/* next_frames(buf, max_size) -> (frames, pos): the well-formed frames back to back
 * from the start of ``buf``, and where they stop: at the first byte that is not such a
 * frame, or a frame not complete yet, which codec.Framer takes from there. */
static PyObject *
next_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "next_frames(buf: bytes, max_size: int)");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t max_size = PyLong_AsSsize_t(args[1]);
    if (max_size == -1 && PyErr_Occurred())
        return NULL;
    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    for (;;) {
        /* "8=FIX", the first SOH right before "9=", BodyLength digits, then the
         * CheckSum exactly where BodyLength puts it (codec.Framer.feed's common case). */
        if (n - pos < 5 || memcmp(s + pos, "8=FIX", 5) != 0)
            break;
        const char *soh = memchr(s + pos, SOH, n - pos);
        if (soh == NULL)
            break;
        Py_ssize_t length_at = soh - s;
        if (length_at + 3 > n || s[length_at + 1] != '9' || s[length_at + 2] != '=')
            break;
        const char *length_soh = memchr(s + length_at + 3, SOH, n - length_at - 3);
        if (length_soh == NULL)
            break;
        Py_ssize_t length_end = length_soh - s;
        long long length = digits(s + length_at + 3, length_end - length_at - 3);
        if (length < 0)
            break;
        Py_ssize_t body_end = length_end + 1 + (Py_ssize_t)length;
        if (body_end - pos > max_size || body_end + 4 > n)
            break;
        if (memcmp(s + body_end - 1, "\x01" "10=", 4) != 0)
            break;
        const char *end = memchr(s + body_end + 3, SOH, n - body_end - 3);
        if (end == NULL)
            break;
        Py_ssize_t next = end - s + 1;
        PyObject *frame = PyBytes_FromStringAndSize(s + pos, next - pos);
        if (frame == NULL || PyList_Append(frames, frame) < 0) {
            Py_XDECREF(frame);
            Py_DECREF(frames);
            return NULL;
        }
        Py_DECREF(frame);
        pos = next;
    }
    PyObject *out = Py_BuildValue("(Nn)", frames, pos);
    return out;
}

/* frame(begin_string, payload) -> bytes: codec.frame, BeginString, BodyLength and
 * CheckSum around a payload, in one allocation. */
static PyObject *
frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "frame(begin_string: bytes, payload: bytes)");
        return NULL;
    }
    const char *bs = PyBytes_AS_STRING(args[0]), *payload = PyBytes_AS_STRING(args[1]);
    Py_ssize_t nbs = PyBytes_GET_SIZE(args[0]), np = PyBytes_GET_SIZE(args[1]);
    char length[24];
    int nlen = snprintf(length, sizeof length, "%zd", np);
    Py_ssize_t head = 2 + nbs + 3 + nlen + 1, total = head + np + 7;
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    memcpy(o, "8=", 2);
    memcpy(o + 2, bs, nbs);
    memcpy(o + 2 + nbs, "\x01" "9=", 3);
    memcpy(o + 5 + nbs, length, nlen);
    o[head - 1] = SOH;
    memcpy(o + head, payload, np);
    unsigned int sum = 0;
    for (Py_ssize_t i = 0; i < head + np; i++)
        sum += (unsigned char)o[i];
    snprintf(o + head + np, 7, "10=%03u", sum & 0xFF);   /* its NUL: where SOH goes */
    o[total - 1] = SOH;
    return out;
}

/* The value checks validation.Validator.fast_valid knows by a number (the others it
 * calls): the numbers of validation.C_CHECKS. */
enum { CHECK_INT = 1, CHECK_FLOAT = 2, CHECK_CHAR = 3, CHECK_BOOLEAN = 4 };

static int
value_ok(int kind, const char *v, Py_ssize_t n)
{
    Py_ssize_t i = 0, digits_before = 0, digits_after = 0;
    switch (kind) {
    case CHECK_INT:               /* -?\d+ */
        if (i < n && v[i] == '-')
            i++;
        if (i == n)
            return 0;
        for (; i < n; i++)
            if (v[i] < '0' || v[i] > '9')
                return 0;
        return 1;
    case CHECK_FLOAT:             /* -?(?:\d+\.?\d*|\.\d+) */
        if (i < n && v[i] == '-')
            i++;
        for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
            digits_before++;
        if (i < n && v[i] == '.') {
            i++;
            for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
                digits_after++;
        }
        return i == n && (digits_before > 0 || digits_after > 0);
    case CHECK_CHAR:
        return n == 1;
    case CHECK_BOOLEAN:
        return n == 1 && (v[0] == 'Y' || v[0] == 'N');
    }
    return 0;
}

#define MAX_FAST_TAG 16384

/* fast_valid(fields, sections, checks, required) -> bool, or None for a tag past
 * MAX_FAST_TAG: validation.Validator.fast_valid's single pass (see there). */
static PyObject *
fast_valid(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "fast_valid(fields, sections, checks, required)");
        return NULL;
    }
    if (!PyList_Check(args[0]))
        Py_RETURN_NONE;
    PyObject *fields = args[0], *sections = args[1], *checks = args[2];
    unsigned char seen[MAX_FAST_TAG / 8];
    memset(seen, 0, sizeof seen);
    long section = 0;
    Py_ssize_t n = PyList_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *field = PyList_GET_ITEM(fields, i);
        if (!PyTuple_Check(field) || PyTuple_GET_SIZE(field) != 2)
            Py_RETURN_NONE;
        PyObject *tag = PyTuple_GET_ITEM(field, 0), *value = PyTuple_GET_ITEM(field, 1);
        if (!PyBytes_Check(value))
            Py_RETURN_NONE;
        long t = PyLong_AsLong(tag);
        if (t == -1 && PyErr_Occurred())
            return NULL;
        if (t < 0 || t >= MAX_FAST_TAG)
            Py_RETURN_NONE;
        PyObject *sec = PyDict_GetItemWithError(sections, tag);
        if (sec == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_FALSE;
        }
        long s = PyLong_AsLong(sec);
        Py_ssize_t len = PyBytes_GET_SIZE(value);
        if (s < section || len == 0)
            Py_RETURN_FALSE;
        section = s;
        PyObject *check = PyDict_GetItemWithError(checks, tag);
        if (check != NULL) {
            int ok;
            if (PyLong_CheckExact(check))
                ok = value_ok((int)PyLong_AsLong(check), PyBytes_AS_STRING(value), len);
            else if (PyAnySet_Check(check))
                ok = PySet_Contains(check, value);
            else {
                PyObject *r = PyObject_CallOneArg(check, value);
                if (r == NULL)
                    return NULL;
                ok = PyObject_IsTrue(r);
                Py_DECREF(r);
            }
            if (ok < 0)
                return NULL;
            if (!ok)
                Py_RETURN_FALSE;
        }
        else if (PyErr_Occurred())
            return NULL;
        if (seen[t >> 3] & (1 << (t & 7)))
            Py_RETURN_FALSE;                 /* a tag twice */
        seen[t >> 3] |= (unsigned char)(1 << (t & 7));
    }
    PyObject *it = PyObject_GetIter(args[3]), *r;
    if (it == NULL)
        return NULL;
    while ((r = PyIter_Next(it)) != NULL) {
        long t = PyLong_AsLong(r);
        Py_DECREF(r);
        if (t < 0 || t >= MAX_FAST_TAG || !(seen[t >> 3] & (1 << (t & 7)))) {
            Py_DECREF(it);
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_FALSE;                 /* a required tag missing */
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"fast_valid", (PyCFunction)(void (*)(void))fast_valid, METH_FASTCALL,
     "fast_valid(fields, sections, checks, required) -> bool | None: Validator.fast_valid"},
    {"frame", (PyCFunction)(void (*)(void))frame, METH_FASTCALL,
     "frame(begin_string, payload) -> bytes: codec.frame"},
    {"next_frames", (PyCFunction)(void (*)(void))next_frames, METH_FASTCALL,
     "next_frames(buf, max_size) -> (frames, pos): the whole frames at the start of buf"},
    {"parse_fields", (PyCFunction)(void (*)(void))parse_fields, METH_FASTCALL,
     "parse_fields(raw, length_tags) -> (begin_string, fields), or None: codec.parse "
     "decides"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fixserver._speedups",
    "The codec's framing and parse of well-formed frames, in C (see fixserver/codec.py).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
