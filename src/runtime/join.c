/*
 * join.c: connect + co-process and window joins (two-input operators).
 */
#include "eventtime.h"

/* Until implemented: the call fails the submission with a message, and
 * returns a handle the entry can go on with. */
static cf_stream_t *
cf_b_two_input_refused(cf_stream_t *a, cf_stream_t *b, const char *name,
                       const char *def, const char *what)
{
    cf_stream_t *r;
    cf_env_error(a->env, "'%s': %s is not supported yet",
                 name && *name ? name : def, what);
    (void)b;
    r = cf_stream_new(a->env, a->nrefs);
    for (int i = 0; i < a->nrefs; i++) {
        r->refs[i] = a->refs[i];
        r->refs[i].partitioner = 0;
        r->refs[i].key_fn = NULL;
        r->refs[i].key_udata = NULL;
    }
    return r;
}

cf_stream_t *
cf_b_connect_process(cf_stream_t *a, cf_stream_t *b, const char *name,
                     const cf_co_process_ops_t *ops, void *udata)
{
    (void)ops;
    (void)udata;
    return cf_b_two_input_refused(a, b, name, "Co-Process", "connect()");
}

cf_stream_t *
cf_b_window_join(cf_stream_t *a, cf_stream_t *b,
                 const cf_window_assigner_t *w, const char *name,
                 cf_join_fn fn, void *udata)
{
    (void)w;
    (void)fn;
    (void)udata;
    return cf_b_two_input_refused(a, b, name, "Window Join", "join()");
}
