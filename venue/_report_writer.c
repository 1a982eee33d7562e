/* The ExecutionReport body in C: venue.report_writer.ReportWriter._execution_report,
 * which stays the reference and the fallback. It writes the common report the way the
 * Python code does and returns None for what it leaves to it (an OrdRejReason to map
 * through the dictionary, a code given as text, a time out of range). Built by setup.py
 * when a C compiler is there; fixserver.speedups loads it unless FIXSERVER_PURE_PYTHON
 * is set. tests/venue/test_report_writer_c.py checks the two write the same bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

/* -- the ExecutionReport body (venue.report_writer.ReportWriter._execution_report) -- */

typedef struct { char *p; Py_ssize_t n, cap; } Buf;

static int
put(Buf *b, const char *s, Py_ssize_t n)
{
    if (b->n + n > b->cap) {
        Py_ssize_t cap = (b->cap + n) * 2;
        char *p = PyMem_Realloc(b->p, cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static int
put_str(Buf *b, const char *s) { return put(b, s, (Py_ssize_t)strlen(s)); }

static int
put_int(Buf *b, long long v)
{
    char t[24];
    return put(b, t, snprintf(t, sizeof t, "%lld", v));
}

/* venue.fixedpoint.format_price: 4 decimals, trailing zeros dropped. */
static int
put_price(Buf *b, long long v)
{
    char t[32];
    unsigned long long a = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    unsigned long long whole = a / 10000, frac = a % 10000;
    int n = snprintf(t, sizeof t, "%s%llu", v < 0 ? "-" : "", whole);
    if (frac) {
        n += snprintf(t + n, sizeof t - n, ".%04llu", frac);
        while (t[n - 1] == '0')
            n--;
    }
    return put(b, t, n);
}

/* fixserver.utctime.Timestamps(3).format_ns: YYYYMMDD-HH:MM:SS.sss */
static int
put_time(Buf *b, long long ns)
{
    /* The date and time of the last second written, made again only when it changes
     * (the GIL serialises the callers). */
    static long long last_second = -1;
    static char prefix[32];
    static size_t prefix_n = 0;
    char t[48];
    long long second = ns / 1000000000;
    if (second != last_second) {
        time_t when = (time_t)second;
        struct tm tm;
        if (gmtime_r(&when, &tm) == NULL)
            return 1;
        size_t n = strftime(prefix, sizeof prefix, "%Y%m%d-%H:%M:%S", &tm);
        if (n == 0)
            return 1;
        prefix_n = n;
        last_second = second;
    }
    memcpy(t, prefix, prefix_n);
    int n = snprintf(t + prefix_n, sizeof t - prefix_n, ".%03lld",
                     (ns % 1000000000) * 1000 / 1000000000);
    return put(b, t, (Py_ssize_t)prefix_n + n);
}

/* tag, the time, SOH: 0, or put_time's -1 (an error) or 1 (out of range). */
static int
put_time_field(Buf *b, const char *tag, long long ns)
{
    if (put_str(b, tag) < 0)
        return -1;
    int bad = put_time(b, ns);
    return bad ? bad : put(b, "\x01", 1);
}

/* The attributes the body needs, read once. */
enum {
    A_EXEC_TYPE, A_ORD_STATUS, A_LEAVES, A_REPLACED, A_ACCOUNT, A_AVG_PX, A_CL_ORD_ID,
    A_COMMISSION, A_CUM_QTY, A_EXEC_ID, A_LAST_QTY, A_LAST_PX, A_ORDER_ID, A_ORDER_QTY,
    A_ORD_TYPE, A_ORIG_CL_ORD_ID, A_PRICE, A_SIDE, A_SYMBOL, A_TEXT, A_TIF, A_TRANSACT,
    A_STOP_PX, A_REJECT_CODE, A_EXPIRE, A_COUNT
};
static const char *attr_names[A_COUNT] = {
    "exec_type", "ord_status", "leaves_qty", "replaced", "account", "avg_px", "cl_ord_id",
    "commission", "cum_qty", "exec_id", "last_qty", "last_px", "order_id", "order_qty",
    "ord_type", "orig_cl_ord_id", "price", "side", "symbol", "text", "time_in_force",
    "transact_time", "stop_px", "reject_code", "expire_time",
};
static PyObject *attr_keys[A_COUNT];

#define FIELD(tag, put_value) \
    if (put_str(&b, tag) < 0 || (put_value) < 0 || put(&b, "\x01", 1) < 0) goto error;

/* execution_report(report, fix42, priced, stops, gtd) -> bytes | None (None: leave it
 * to Python: an OrdRejReason to map, a code given as text, a time out of range). */
static PyObject *
execution_report(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "execution_report(report, fix42, priced, stops, gtd)");
        return NULL;
    }
    PyObject *r = args[0], *priced = args[2], *stops = args[3];
    int fix42 = PyObject_IsTrue(args[1]);
    long gtd = PyLong_AsLong(args[4]);
    PyObject *v[A_COUNT] = {NULL};
    PyObject *out = NULL;
    Buf b = {NULL, 0, 0};
    for (int i = 0; i < A_COUNT; i++) {
        v[i] = PyObject_GetAttr(r, attr_keys[i]);
        if (v[i] == NULL)
            goto error;
    }
    /* Codes as ints (text: a rejected request's unsupported value, left to Python). */
    if (!PyLong_Check(v[A_SIDE]) || !PyLong_Check(v[A_ORD_TYPE]) || !PyLong_Check(v[A_TIF]))
        goto fallback;
    const char *exec_type = PyUnicode_AsUTF8(v[A_EXEC_TYPE]);
    const char *status = PyUnicode_AsUTF8(v[A_ORD_STATUS]);
    const char *reject_code = PyUnicode_AsUTF8(v[A_REJECT_CODE]);
    if (exec_type == NULL || status == NULL || reject_code == NULL)
        goto error;
    if (strcmp(status, "8") == 0 && reject_code[0] && strcmp(exec_type, "8") == 0)
        goto fallback;                                  /* OrdRejReason: Python maps it */
    long long leaves = PyLong_AsLongLong(v[A_LEAVES]);
    long side = PyLong_AsLong(v[A_SIDE]), ord_type = PyLong_AsLong(v[A_ORD_TYPE]);
    long tif = PyLong_AsLong(v[A_TIF]);
    long long transact = PyLong_AsLongLong(v[A_TRANSACT]), expire = PyLong_AsLongLong(v[A_EXPIRE]);
    if (PyErr_Occurred())
        goto error;
    if (transact < 0 || expire < 0)
        goto fallback;
    const char *et = exec_type, *st = status;
    if (strcmp(et, "L") == 0)
        et = "D";
    if (fix42) {
        if (strcmp(et, "F") == 0)
            et = leaves == 0 ? "2" : "1";
        else if (strcmp(et, "I") == 0)
            et = st;
        if (PyObject_IsTrue(v[A_REPLACED]))
            st = "5";
    }
    Py_ssize_t n;
    const char *s;
#define STR(i) (s = PyUnicode_AsUTF8AndSize(v[i], &n), s == NULL ? -1 : put(&b, s, n))
#define NONEMPTY(i) (PyUnicode_GET_LENGTH(v[i]) > 0)
#define INT(i) PyLong_AsLongLong(v[i])
    if (NONEMPTY(A_ACCOUNT)) FIELD("1=", STR(A_ACCOUNT))
    FIELD("6=", put_price(&b, INT(A_AVG_PX)))
    if (NONEMPTY(A_CL_ORD_ID)) FIELD("11=", STR(A_CL_ORD_ID))
    if (INT(A_COMMISSION)) {
        FIELD("12=", put_price(&b, INT(A_COMMISSION)))
        if (put_str(&b, "13=3\x01") < 0) goto error;
    }
    FIELD("14=", put_int(&b, INT(A_CUM_QTY)))
    FIELD("17=", STR(A_EXEC_ID))
    if (fix42 && put_str(&b, strcmp(exec_type, "I") == 0 ? "20=3\x01" : "20=0\x01") < 0)
        goto error;
    if (INT(A_LAST_QTY)) {
        FIELD("31=", put_price(&b, INT(A_LAST_PX)))
        FIELD("32=", put_int(&b, INT(A_LAST_QTY)))
    }
    FIELD("37=", STR(A_ORDER_ID))
    if (INT(A_ORDER_QTY)) FIELD("38=", put_int(&b, INT(A_ORDER_QTY)))
    FIELD("39=", put_str(&b, st))
    if (ord_type) FIELD("40=", put_int(&b, ord_type))
    if (NONEMPTY(A_ORIG_CL_ORD_ID)) FIELD("41=", STR(A_ORIG_CL_ORD_ID))
    if (INT(A_PRICE)) {
        int in = PySet_Contains(priced, v[A_ORD_TYPE]);
        if (in < 0) goto error;
        if (in) FIELD("44=", put_price(&b, INT(A_PRICE)))
    }
    if (side) { FIELD("54=", put_int(&b, side)) }
    else if (put_str(&b, "54=1\x01") < 0) goto error;
    if (NONEMPTY(A_SYMBOL)) { FIELD("55=", STR(A_SYMBOL)) }
    else if (put_str(&b, "55=NONE\x01") < 0) goto error;
    if (NONEMPTY(A_TEXT)) FIELD("58=", STR(A_TEXT))
    if (ord_type && tif >= 0) FIELD("59=", put_int(&b, tif))
    int timed = put_time_field(&b, "60=", transact);
    if (timed < 0) goto error;
    if (timed) goto fallback;
    if (INT(A_STOP_PX)) {
        int in = PySet_Contains(stops, v[A_ORD_TYPE]);
        if (in < 0) goto error;
        if (in) FIELD("99=", put_price(&b, INT(A_STOP_PX)))
    }
    if (expire && tif == gtd) {
        timed = put_time_field(&b, "126=", expire);
        if (timed < 0) goto error;
        if (timed) goto fallback;
    }
    FIELD("150=", put_str(&b, et))
    FIELD("151=", put_int(&b, leaves))
    if (PyErr_Occurred())
        goto error;
    out = PyBytes_FromStringAndSize(b.p, b.n);
    goto done;
fallback:
    if (PyErr_Occurred())
        goto error;
    out = Py_NewRef(Py_None);
    goto done;
error:
    out = NULL;
done:
    PyMem_Free(b.p);
    for (int i = 0; i < A_COUNT; i++)
        Py_XDECREF(v[i]);
    return out;
}

static PyMethodDef methods[] = {
    {"execution_report", (PyCFunction)(void (*)(void))execution_report, METH_FASTCALL,
     "execution_report(report, fix42, priced, stops, gtd) -> bytes | None: "
     "ReportWriter._execution_report"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "venue._report_writer",
    "The ExecutionReport body in C (see venue/report_writer.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__report_writer(void)
{
    for (int i = 0; i < A_COUNT; i++) {
        attr_keys[i] = PyUnicode_InternFromString(attr_names[i]);
        if (attr_keys[i] == NULL)
            return NULL;
    }
    return PyModule_Create(&module);
}
