/* C twin of the hardware model's IOTLB-hit paths (FastIommu.Hardware.TranslatorEngine.Translate):
 * - the first level, the micro-TLB (TryMicroTlbHit): 32-byte seqlocked entries, direct mapped by the request's page
 *   and requester, validated by the space slot's micro epoch plus the context epoch; on a miss, one non-inlined call
 *   to the second level (TranslateMiss);
 * - the second level (TranslateMissWithoutProcessId, TryCachedTranslation with a process_id): the same structures
 *   with the same layouts (DC-cache entry with its hit slot up front and, without a process_id, its walk plan read
 *   with it, 32-byte address-space slots with their epochs, 4-way set-associative IOTLB in 128-byte sets on a
 *   64-byte boundary, the four tags, spaces and sequence words in the first line and the PAs, epochs and flags in the
 *   second, 40-byte result with its flags in one byte) and the same steps: device_id against the limit precomputed
 *   from ddtp, DC probe under its sequence, the space's identity and epochs, the four tags compared at once, the
 *   matching way read under its sequence, the permission check, the result, the copy into the micro-TLB.
 * One non-inlined call per translation, as the C# API has. The caches themselves (layouts, probes, fills) are
 * hw_caches.h, which the twin of the miss shares. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbaseline.h"

#include "hw_caches.h"

#define BARRIER() HWC_BARRIER()
#define VREAD32(x) HWC_VREAD32(x)

typedef struct { int32_t seq; uint32_t key, ddt_gen; int32_t hit_slot; uint32_t hit_identity, hit_pid_limit; uint64_t stamp;
                 uint64_t walk_fsc; uint32_t walk_tc; uint8_t info[80]; } dc_entry;
typedef struct { int32_t seq; uint32_t key, process_id; uint64_t dc_stamp; int32_t hit_slot; uint32_t hit_identity, hit_ta;
                 uint8_t info[24]; } pc_entry;
typedef cb_hw_miss_result hw_result; /* TranslationResult, field for field (40 bytes) */
_Static_assert(sizeof(dc_entry) == 128, "DC-cache entry: 128 bytes, as DirectoryCaches.DcEntry");
typedef cb_hw_miss_request hw_request; /* TranslationRequest, field for field (24 bytes) */

typedef struct {
    uint64_t ddtp, caps; uint32_t hit_device_limit;
    dc_entry *dc; int dc_len; uint32_t ddt_gen;
    pc_entry *pc; int pc_len;
    space_slot *slots;
    tlb_table tlb; void *tlb_storage;
    micro_tlb micro; /* micro.entries NULL: the first level is off */
} hw_engine;

static inline int dc_index(uint32_t did, int len) { return (int)((did * 0x9E3779B1u) >> 8) & (len - 1); }

static inline int pc_index(uint32_t did, uint32_t pid, int len) { return (int)(((did * 0x9E3779B1u) ^ (pid * 0x85EBCA77u)) >> 8) & (len - 1); }

__attribute__((noinline)) static int translate_hit(const hw_engine *e, const hw_request *req, hw_result *res);

/* TranslatorEngine.Translate: the micro-TLB, else the second level. */
__attribute__((noinline)) static int translate(const hw_engine *e, const hw_request *req, hw_result *res)
{
    if ((req->flags & CB_REQ_ATS) == 0 && (req->flags & CB_REQ_TRANSLATED) == 0 && e->micro.entries && req->device_id < e->hit_device_limit) {
        int valid = ((req->flags & CB_REQ_PV) != 0);
        uint64_t page = micro_page_key(req->iova, valid);
        uint64_t requester = (uint64_t)req->device_id | ((uint64_t)(valid ? req->process_id : 0) << 24);
        uint64_t data;
        if (micro_lookup(&e->micro, page, requester, &data)) {
            uint32_t fl = (uint32_t)data;
            int supervisor = valid && ((req->flags & CB_REQ_PRIV) != 0);
            if ((!supervisor || (fl & M_ENS)) && hit_permits(fl, req->access, supervisor, (fl & M_SUM) != 0)) {
                hit_result(req, (data & M_PA_MASK) | (req->iova & 0xFFF), (int)(data >> M_SHIFT_SHIFT),
                           (uint32_t)(data >> M_PBMT_SHIFT) & 3, fl, res);
                return 1;
            }
        }
    }
    return translate_hit(e, req, res);
}

__attribute__((noinline)) static int translate_hit(const hw_engine *e, const hw_request *req, hw_result *res)
{
    if (((req->flags & CB_REQ_ATS) != 0) || ((req->flags & CB_REQ_TRANSLATED) != 0))
        return 0;
    uint32_t did = req->device_id;
    int32_t slot; uint32_t ident; int supervisor = 0, sum = 0, ens = 0;
    if (!e->tlb.sets)
        return 0;
    uint32_t epoch = e->micro.entries ? (uint32_t)VREAD32(e->micro.context_epoch) : 0;
    if (did >= e->hit_device_limit)
        return 0;
    if ((req->flags & CB_REQ_PV) == 0) {
        const dc_entry *d = &e->dc[dc_index(did, e->dc_len)];
        int32_t seq = VREAD32(d->seq);
        uint32_t key = d->key, gen = d->ddt_gen;
        slot = d->hit_slot; ident = d->hit_identity;
        /* TranslateMissWithoutProcessId reads the walk plan with the slot (one read for the probe and the miss). */
        uint64_t walk_fsc = *(volatile const uint64_t *)&d->walk_fsc;
        uint32_t walk_tc = *(volatile const uint32_t *)&d->walk_tc;
        BARRIER();
        if ((seq & 1) || VREAD32(d->seq) != seq || key != (did | 0x80000000u) || gen != e->ddt_gen)
            return 0;
        (void)walk_fsc;
        (void)walk_tc;
    } else {
        const dc_entry *d = &e->dc[dc_index(did, e->dc_len)];
        int32_t seq = VREAD32(d->seq);
        uint32_t key = d->key, gen = d->ddt_gen, limit = d->hit_pid_limit; uint64_t stamp = d->stamp;
        BARRIER();
        if ((seq & 1) || VREAD32(d->seq) != seq || key != (did | 0x80000000u) || gen != e->ddt_gen
            || req->process_id >= limit)
            return 0;
        const pc_entry *p = &e->pc[pc_index(did, req->process_id, e->pc_len)];
        int32_t pseq = VREAD32(p->seq);
        uint32_t pkey = p->key, pid = p->process_id, ta = p->hit_ta; uint64_t dcs = p->dc_stamp;
        slot = p->hit_slot; ident = p->hit_identity;
        BARRIER();
        if ((pseq & 1) || VREAD32(p->seq) != pseq || pkey != (did | 0x80000000u) || pid != req->process_id || dcs != stamp)
            return 0;
        supervisor = ((req->flags & CB_REQ_PRIV) != 0);
        sum = (ta & 4) != 0;
        ens = (ta & 2) != 0;
        if (supervisor && !ens)
            return 0;
    }
    if (slot < 0)
        return 0;
    const space_slot *s = &e->slots[slot];
    epoch += (uint32_t)VREAD32(s->micro_epoch);
    uint32_t sgen = s->gen, sall = s->all_gen;
    if (s->identity != ident)
        return 0;
    uint64_t pa;
    uint32_t fl;
    int hint;
    if (!tlb_lookup(&e->tlb, slot, sgen, sall, req->iova, &pa, &fl, &hint) || !hit_permits(fl, req->access, supervisor, sum))
        return 0;
    hit_result(req, pa, (int)((fl >> F_SHIFT_SHIFT) & 0xFF), (fl >> F_PBMT_SHIFT) & 3, fl, res);
    if (e->micro.entries) {
        int valid = ((req->flags & CB_REQ_PV) != 0);
        micro_fill(&e->micro, micro_page_key(req->iova, valid),
                   (uint64_t)did | ((uint64_t)(valid ? req->process_id : 0) << 24), slot, epoch, res->pa, fl, sum, ens);
    }
    return 1;
}

/* e: micro-TLB off (the second level alone); with_micro: the same caches behind a micro-TLB. */
typedef struct cb_hw { hw_engine e, with_micro; void *micro_storage; uint32_t replace_tick; hw_request *reqs, *pid_reqs; uint64_t count; } cb_hw;

cb_hw *cb_hw_create(uint64_t iova_base, uint64_t pa_base, const uint32_t *indices, uint64_t count)
{
    cb_hw *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    hw_engine *e = &h->e;
    /* ddtp 1LVL, base DC format: device_ids below 2^7 may take the hit path. */
    *e = (hw_engine){ .ddtp = 2, .caps = 0, .hit_device_limit = 1u << 7, .dc_len = 256,
                      .tlb = { .set_shift = 64 - 10, .set_mask = 1023, .level_mask = 1 } };
    e->dc = calloc(256, sizeof(dc_entry));
    e->slots = calloc(1024, sizeof(space_slot));
    e->pc = calloc(256, sizeof(pc_entry));
    e->pc_len = 256;
    e->tlb_storage = aligned_alloc(64, 1024 * sizeof(tlb_set));
    e->tlb.sets = e->tlb_storage;
    h->reqs = calloc(count, sizeof(hw_request));
    h->pid_reqs = calloc(count, sizeof(hw_request));
    h->count = count;
    if (e->tlb.sets)
        memset(e->tlb.sets, 0, 1024 * sizeof(tlb_set));
    if (!e->dc || !e->pc || !e->slots || !e->tlb.sets || !h->reqs || !h->pid_reqs) {
        cb_hw_destroy(h);
        return NULL;
    }
    dc_entry *d = &e->dc[dc_index(1, 256)];
    d->key = 1 | 0x80000000u; d->hit_slot = 0; d->hit_identity = 1;
    e->slots[0] = (space_slot){ .identity = 1, .gen = 1, .all_gen = 1, .micro_epoch = 1, .gsc_index = 65536 };
    /* Device 2: PDTV = 1, PD8; process 3's PC cached under the DC fill stamped 7, V only, its first stage in
     * slot 0 (the same IOTLB entries as device 1). */
    dc_entry *d2 = &e->dc[dc_index(2, 256)];
    d2->key = 2 | 0x80000000u; d2->hit_slot = -1; d2->hit_pid_limit = 1u << 8; d2->stamp = 7;
    pc_entry *p3 = &e->pc[pc_index(2, 3, 256)];
    *p3 = (pc_entry){ .key = 2 | 0x80000000u, .process_id = 3, .dc_stamp = 7, .hit_slot = 0, .hit_identity = 1,
                      .hit_ta = 1 };
    for (uint64_t i = 0; i < count; i++) {
        uint64_t iova = iova_base + ((uint64_t)indices[i] << 12) + 0x10;
        h->reqs[i] = (hw_request){ .device_id = 1, .iova = iova, .access = 0 };
        h->pid_reqs[i] = (hw_request){ .device_id = 2, .process_id = 3, .flags = CB_REQ_PV, .iova = iova, .access = 0 };
        uint64_t tag = tag_of(iova, 0);
        tlb_set *set = &e->tlb.sets[set_of(&e->tlb, tag, 1)];
        for (int way = 0; way < 4; way++)
            if (set->space[way] == 0 || (set->space[way] == 1 && set->tag[way] == tag)) {
                set->space[way] = 1;
                set->tag[way] = tag;
                set->pa_base[way] = pa_base + ((uint64_t)indices[i] << 12);
                set->epoch[way] = 1;
                set->flags[way] = F_R | F_W | F_USER | F_DIRTY | (12u << 8);
                break;
            }
    }
    /* The micro-TLB (1024 entries, as the C# default), filled by one pass of each request through it. */
    h->micro_storage = aligned_alloc(64, 1024 * sizeof(micro_entry));
    if (!h->micro_storage) {
        cb_hw_destroy(h);
        return NULL;
    }
    memset(h->micro_storage, 0, 1024 * sizeof(micro_entry));
    h->with_micro = *e;
    h->with_micro.micro = (micro_tlb){ .entries = h->micro_storage, .mask = 1023, .replace_tick = &h->replace_tick,
                                       .slots = e->slots };
    hw_result r;
    for (uint64_t i = 0; i < count; i++) {
        translate(&h->with_micro, &h->reqs[i], &r);
        translate(&h->with_micro, &h->pid_reqs[i], &r);
    }
    return h;
}

void cb_hw_destroy(cb_hw *h)
{
    if (!h)
        return;
    free(h->reqs); free(h->pid_reqs); free(h->micro_storage); free(h->e.tlb_storage); free(h->e.slots); free(h->e.pc); free(h->e.dc);
    free(h);
}

static uint64_t bench_loop(const hw_engine *e, const cb_hw *h, const hw_request *reqs, uint64_t iterations)
{
    uint64_t sum = 0;
    hw_result r;
    for (uint64_t it = 0; it < iterations; it++)
        for (uint64_t i = 0; i < h->count; i++)
            sum += translate(e, &reqs[i], &r) ? r.pa : UINT64_MAX / 2;
    return sum;
}

uint64_t cb_bench_iotlb_hit(const cb_hw *h, uint64_t iterations) { return bench_loop(&h->e, h, h->reqs, iterations); }

uint64_t cb_bench_iotlb_hit_process_id(const cb_hw *h, uint64_t iterations)
{
    return bench_loop(&h->e, h, h->pid_reqs, iterations);
}

uint64_t cb_bench_micro_hit(const cb_hw *h, uint64_t iterations) { return bench_loop(&h->with_micro, h, h->reqs, iterations); }

uint64_t cb_bench_micro_hit_process_id(const cb_hw *h, uint64_t iterations)
{
    return bench_loop(&h->with_micro, h, h->pid_reqs, iterations);
}
