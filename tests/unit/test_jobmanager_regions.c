/*
 * test_jobmanager_regions.c: the pipelined regions of an ExecutionGraph
 * (src/jobmanager/regions.c): independent FORWARD pipelines, all-to-all
 * edges (HASH, REBALANCE, BROADCAST), RESCALE and FORWARD with unequal
 * parallelisms (Flink's pointwise patterns), vertices without edges, a
 * vertex with a pointwise and an all-to-all input, wide graphs, and
 * malformed graphs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h> /* CF_PARTITION_* */

#include "jobmanager_int.h"

#define HASH 7 /* the partitioner of key_by edges */

/* ------------------------------------------------------------------ */
/* A small graph builder (decoded protobuf structs, on the stack).     */
/* ------------------------------------------------------------------ */

#define MAXV 8
#define MAXE 8

typedef struct tgraph_s {
    Cflink__JobGraph g;
    Cflink__JobVertex v[MAXV];
    Cflink__JobVertex *vp[MAXV];
    Cflink__JobOutput o[MAXV][MAXE];
    Cflink__JobOutput *op[MAXV][MAXE];
    Cflink__JobInput in[MAXV][MAXE];
    Cflink__JobInput *inp[MAXV][MAXE];
} tgraph_t;

static void
tg_init(tgraph_t *t, int nv, const int *par)
{
    Cflink__JobGraph gi = CFLINK__JOB_GRAPH__INIT;

    memset(t, 0, sizeof *t);
    t->g = gi;
    t->g.n_vertices = (size_t)nv;
    t->g.vertices = t->vp;
    for (int v = 0; v < nv; v++) {
        Cflink__JobVertex vi = CFLINK__JOB_VERTEX__INIT;

        t->v[v] = vi;
        t->v[v].parallelism = par[v];
        t->v[v].outputs = t->op[v];
        t->v[v].inputs = t->inp[v];
        t->vp[v] = &t->v[v];
    }
}

/* An edge from vertex a to vertex b with partitioner part. */
static void
tg_edge(tgraph_t *t, int a, int b, int part)
{
    Cflink__JobOutput oi = CFLINK__JOB_OUTPUT__INIT;
    Cflink__JobInput ii = CFLINK__JOB_INPUT__INIT;
    size_t o = t->v[a].n_outputs++, i = t->v[b].n_inputs++;

    t->o[a][o] = oi;
    t->o[a][o].target_vertex = b;
    t->o[a][o].target_input = (int)i;
    t->o[a][o].partitioner = part;
    t->op[a][o] = &t->o[a][o];
    t->in[b][i] = ii;
    t->in[b][i].source_vertex = a;
    t->in[b][i].source_output = (int)o;
    t->inp[b][i] = &t->in[b][i];
}

static int
region(const cf_regions_t *r, int v, int k)
{
    return r->region_of[r->base[v] + k];
}

static void
compute_ok(tgraph_t *t, cf_regions_t *r)
{
    cf_error_t *err = NULL;
    int rc = cf_regions_compute(&t->g, r, &err);

    if (rc != 0)
        fprintf(stderr, "%s\n", cf_error_msg(err));
    assert_int_equal(rc, 0);
    assert_null(err);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* source -> map -> sink, FORWARD, parallelism 2: one region per
 * pipeline, numbered by first subtask. */
static void
test_forward_pipelines(void **state)
{
    const int par[] = {2, 2, 2};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 3, par);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    tg_edge(&t, 1, 2, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 2);
    assert_int_equal(r.nvertices, 3);
    assert_int_equal(r.base[3], 6);
    for (int v = 0; v < 3; v++) {
        assert_int_equal(region(&r, v, 0), 0);
        assert_int_equal(region(&r, v, 1), 1);
    }
    assert_int_equal(r.region_size[0], 3);
    assert_int_equal(r.region_size[1], 3);
    cf_regions_free(&r);
    assert_null(r.region_of);
}

/* An all-to-all edge anywhere joins everything it connects. */
static void
test_all_to_all(void **state)
{
    const int parts[] = {HASH, CF_PARTITION_REBALANCE, CF_PARTITION_SHUFFLE,
                         CF_PARTITION_BROADCAST};
    const int par[] = {3, 4, 4};

    (void)state;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        tgraph_t t;
        cf_regions_t r;

        tg_init(&t, 3, par);
        tg_edge(&t, 0, 1, parts[i]);
        tg_edge(&t, 1, 2, CF_PARTITION_FORWARD);
        compute_ok(&t, &r);
        assert_int_equal(r.nregions, 1);
        assert_int_equal(r.region_size[0], 11);
        cf_regions_free(&r);
    }
}

/* A keyed edge after FORWARD pipelines joins them all. */
static void
test_keyed_downstream(void **state)
{
    const int par[] = {2, 2, 1};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 3, par);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    tg_edge(&t, 1, 2, HASH);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 1);
    cf_regions_free(&r);
}

/* RESCALE 4 -> 2: consumer k reads producers [2k, 2k+2); then FORWARD
 * 2 -> 2: two regions of 2 + 1 + 1 subtasks. */
static void
test_rescale_down(void **state)
{
    const int par[] = {4, 2, 2};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 3, par);
    tg_edge(&t, 0, 1, CF_PARTITION_RESCALE);
    tg_edge(&t, 1, 2, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 2);
    assert_int_equal(region(&r, 0, 0), 0);
    assert_int_equal(region(&r, 0, 1), 0);
    assert_int_equal(region(&r, 0, 2), 1);
    assert_int_equal(region(&r, 0, 3), 1);
    assert_int_equal(region(&r, 1, 0), 0);
    assert_int_equal(region(&r, 1, 1), 1);
    assert_int_equal(region(&r, 2, 0), 0);
    assert_int_equal(region(&r, 2, 1), 1);
    assert_int_equal(r.region_size[0], 4);
    assert_int_equal(r.region_size[1], 4);
    cf_regions_free(&r);
}

/* RESCALE 2 -> 4: producer i feeds consumers [2i, 2i+2). */
static void
test_rescale_up(void **state)
{
    const int par[] = {2, 4};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 2, par);
    tg_edge(&t, 0, 1, CF_PARTITION_RESCALE);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 2);
    assert_int_equal(region(&r, 1, 0), region(&r, 0, 0));
    assert_int_equal(region(&r, 1, 1), region(&r, 0, 0));
    assert_int_equal(region(&r, 1, 2), region(&r, 0, 1));
    assert_int_equal(region(&r, 1, 3), region(&r, 0, 1));
    assert_int_not_equal(region(&r, 0, 0), region(&r, 0, 1));
    cf_regions_free(&r);
}

/* FORWARD 3 -> 2 (Flink's connectPointwise when P does not divide):
 * consumer 0 reads producer 0, consumer 1 producers 1 and 2. */
static void
test_pointwise_uneven(void **state)
{
    const int par[] = {3, 2};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 2, par);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 2);
    assert_int_equal(region(&r, 0, 0), 0);
    assert_int_equal(region(&r, 1, 0), 0);
    assert_int_equal(region(&r, 0, 1), 1);
    assert_int_equal(region(&r, 0, 2), 1);
    assert_int_equal(region(&r, 1, 1), 1);
    assert_int_equal(r.region_size[0], 2);
    assert_int_equal(r.region_size[1], 3);
    cf_regions_free(&r);
}

/* Two unconnected vertices: every subtask is its own region, numbered
 * in graph order. */
static void
test_no_edges(void **state)
{
    const int par[] = {2, 3};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 2, par);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r.region_of[i], i);
        assert_int_equal(r.region_size[i], 1);
    }
    cf_regions_free(&r);
}

/* A vertex with a FORWARD input and a HASH input (a union / connect):
 * the HASH input joins every subtask of the vertex, so all of it. */
static void
test_mixed_inputs(void **state)
{
    const int par[] = {2, 2, 2, 2};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 4, par);
    tg_edge(&t, 0, 2, CF_PARTITION_FORWARD);
    tg_edge(&t, 1, 2, HASH);
    tg_edge(&t, 2, 3, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 1);
    cf_regions_free(&r);

    /* Both inputs FORWARD: two regions across the four vertices. */
    tg_init(&t, 4, par);
    tg_edge(&t, 0, 2, CF_PARTITION_FORWARD);
    tg_edge(&t, 1, 2, CF_PARTITION_FORWARD);
    tg_edge(&t, 2, 3, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 2);
    for (int v = 0; v < 4; v++) {
        assert_int_equal(region(&r, v, 0), 0);
        assert_int_equal(region(&r, v, 1), 1);
    }
    cf_regions_free(&r);
}

/* Wide graphs stay linear: 20000 FORWARD pipelines, and an all-to-all
 * edge of 32768 x 32768 (which would take 10^9 unions pairwise). */
static void
test_wide(void **state)
{
    const int par1[] = {20000, 20000};
    const int par2[] = {32768, 32768};
    tgraph_t t;
    cf_regions_t r;

    (void)state;
    tg_init(&t, 2, par1);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 20000);
    assert_int_equal(region(&r, 1, 19999), 19999);
    cf_regions_free(&r);

    tg_init(&t, 2, par2);
    tg_edge(&t, 0, 1, HASH);
    compute_ok(&t, &r);
    assert_int_equal(r.nregions, 1);
    assert_int_equal(r.region_size[0], 65536);
    cf_regions_free(&r);
}

static void
test_malformed(void **state)
{
    const int par[] = {2, 2};
    tgraph_t t;
    cf_regions_t r;
    cf_error_t *err = NULL;

    (void)state;
    /* No vertex. */
    tg_init(&t, 0, par);
    assert_true(cf_regions_compute(&t.g, &r, &err) < 0);
    assert_non_null(err);
    cf_error_free(err);
    err = NULL;

    /* An input naming a missing vertex. */
    tg_init(&t, 2, par);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    t.in[1][0].source_vertex = 5;
    assert_true(cf_regions_compute(&t.g, &r, &err) < 0);
    assert_non_null(strstr(cf_error_msg(err), "vertex 1"));
    cf_error_free(err);
    err = NULL;
    assert_null(r.base);

    /* An input naming a missing output. */
    tg_init(&t, 2, par);
    tg_edge(&t, 0, 1, CF_PARTITION_FORWARD);
    t.in[1][0].source_output = 3;
    assert_true(cf_regions_compute(&t.g, &r, &err) < 0);
    cf_error_free(err);
    err = NULL;

    /* Parallelism 0. */
    tg_init(&t, 2, par);
    t.v[1].parallelism = 0;
    assert_true(cf_regions_compute(&t.g, &r, &err) < 0);
    cf_error_free(err);
    cf_regions_free(&r); /* harmless on a cleared struct */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_pipelines),
        cmocka_unit_test(test_all_to_all),
        cmocka_unit_test(test_keyed_downstream),
        cmocka_unit_test(test_rescale_down),
        cmocka_unit_test(test_rescale_up),
        cmocka_unit_test(test_pointwise_uneven),
        cmocka_unit_test(test_no_edges),
        cmocka_unit_test(test_mixed_inputs),
        cmocka_unit_test(test_wide),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
