/*
 * interval_join.c: the interval join of two keyed streams.
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
cf_b_interval_join(cf_stream_t *a, cf_stream_t *b, int64_t lower_ms,
                   int64_t upper_ms, const char *name, cf_join_fn fn,
                   void *udata)
{
    (void)lower_ms;
    (void)upper_ms;
    (void)fn;
    (void)udata;
    return cf_b_two_input_refused(a, b, name, "Interval Join",
                                  "intervalJoin()");
}
