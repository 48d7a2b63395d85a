/*
 * regions.c: the pipelined regions of a job's ExecutionGraph (Flink's
 * SchedulingPipelinedRegion as computed by
 * PipelinedRegionComputeUtil), used by the JobMaster's `region` failover
 * strategy.
 *
 * Every result of a streaming job is pipelined, so a region is a
 * connected component of the ExecutionGraph: subtasks linked by any
 * channel. An all-to-all edge (HASH, REBALANCE, BROADCAST, SHUFFLE,
 * GLOBAL) links every producer subtask to every consumer subtask; a
 * pointwise edge (FORWARD, RESCALE) links producer i to the consumers
 * cf_job_edge_consumers() names. Union-find over the subtasks, each edge
 * in O(P + C): an all-to-all edge joins its consumers once and each
 * producer to the first consumer.
 *
 * Pure: no JobMaster state, no I/O (unit tested in
 * tests/unit/test_jobmanager_regions.c).
 */
#include <string.h>

#include "jobmanager_int.h"

static int
uf_find(int *parent, int x)
{
    int root = x;

    while (parent[root] != root)
        root = parent[root];
    while (parent[x] != root) { /* path compression */
        int next = parent[x];

        parent[x] = root;
        x = next;
    }
    return root;
}

/* Join the sets of a and b; the smaller index becomes the root, so a
 * set's root is its first subtask. */
static void
uf_union(int *parent, int a, int b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

int
cf_regions_compute(const Cflink__JobGraph *g, cf_regions_t *r,
                   cf_error_t **errp)
{
    int nv, total = 0, *parent;

    memset(r, 0, sizeof *r);
    if (g == NULL || g->n_vertices == 0)
        return cf_error_set(errp, CF_EGRAPH,
                            "regions: the job graph has "
                            "no vertex");
    nv = (int)g->n_vertices;
    r->base = cf_calloc((size_t)nv + 1, sizeof *r->base);
    for (int v = 0; v < nv; v++) {
        const Cflink__JobVertex *jv = g->vertices[v];

        if (jv == NULL || jv->parallelism < 1 ||
            jv->parallelism > CF_MAX_PARALLELISM_UPPER) {
            cf_regions_free(r);
            return cf_error_set(errp, CF_EGRAPH,
                                "regions: vertex %d has no valid "
                                "parallelism",
                                v);
        }
        r->base[v] = total;
        total += jv->parallelism;
    }
    r->base[nv] = total;
    r->nvertices = nv;
    parent = cf_malloc((size_t)total * sizeof *parent);
    for (int i = 0; i < total; i++)
        parent[i] = i;

    for (int v = 0; v < nv; v++) {
        const Cflink__JobVertex *jv = g->vertices[v];
        int C = jv->parallelism;

        for (size_t in = 0; in < jv->n_inputs; in++) {
            const Cflink__JobInput *ji = jv->inputs[in];
            const Cflink__JobVertex *src;
            int P, part, joined = 0;

            if (ji == NULL || ji->source_vertex < 0 ||
                ji->source_vertex >= nv || ji->source_output < 0 ||
                (size_t)ji->source_output >=
                    g->vertices[ji->source_vertex]->n_outputs ||
                g->vertices[ji->source_vertex]->outputs[ji->source_output] ==
                    NULL) {
                cf_free(parent);
                cf_regions_free(r);
                return cf_error_set(errp, CF_EGRAPH,
                                    "regions: input %zu of vertex %d names "
                                    "no valid producer output",
                                    in, v);
            }
            src = g->vertices[ji->source_vertex];
            P = src->parallelism;
            part = src->outputs[ji->source_output]->partitioner;
            for (int i = 0; i < P; i++) {
                int lo = 0, n = 0;
                int pi = r->base[ji->source_vertex] + i;

                cf_job_edge_consumers(part, P, C, i, &lo, &n);
                if (lo < 0 || n < 1 || lo + n > C)
                    continue; /* connected to nothing */
                if (lo == 0 && n == C) {
                    /* All consumers: join them once, then this producer
                     * with the first. */
                    if (!joined) {
                        for (int k = 1; k < C; k++)
                            uf_union(parent, r->base[v], r->base[v] + k);
                        joined = 1;
                    }
                    uf_union(parent, pi, r->base[v]);
                    continue;
                }
                for (int k = lo; k < lo + n; k++)
                    uf_union(parent, pi, r->base[v] + k);
            }
        }
    }

    /* Number the regions by their first subtask (graph order). */
    r->region_of = cf_malloc((size_t)total * sizeof *r->region_of);
    for (int i = 0; i < total; i++) {
        int root = uf_find(parent, i);

        r->region_of[i] = root == i ? r->nregions++ : r->region_of[root];
    }
    r->region_size = cf_calloc((size_t)r->nregions, sizeof *r->region_size);
    for (int i = 0; i < total; i++)
        r->region_size[r->region_of[i]]++;
    cf_free(parent);
    return 0;
}

void
cf_regions_free(cf_regions_t *r)
{
    if (r == NULL)
        return;
    cf_free(r->base);
    cf_free(r->region_of);
    cf_free(r->region_size);
    memset(r, 0, sizeof *r);
}
