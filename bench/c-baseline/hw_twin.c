/* C twin of the hardware model's IOTLB-hit path (FastIommu.Hardware.TranslatorEngine.TryCachedTranslation):
 * the same structures with the same layouts (DC-cache entry with its hit slot up front, address-space slots,
 * per-GSCID generations, 4-way set-associative IOTLB of 40-byte seqlocked entries, 40-byte result) and the same
 * steps: ddtp mode and device_id checks, DC probe under its sequence, the space's three generations, the IOTLB
 * probe under the entry's sequence, the user-mode permission check, the result. One non-inlined call per
 * translation, as the C# API has. x86-64 (TSO): the seqlock read barriers are compiler barriers, as in .NET. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbaseline.h"

#define BARRIER() __asm__ __volatile__("" ::: "memory")
#define VREAD32(x) (*(volatile const int32_t *)&(x))

typedef struct { int32_t seq; uint32_t key, ddt_gen; int32_t hit_slot; uint32_t hit_identity; uint8_t info[84]; } dc_entry;
typedef struct { uint32_t identity, gen, all_gen; int32_t gsc_index; uint64_t key; int32_t next; uint8_t in_use; } space_slot;
typedef struct { int32_t seq, space; uint64_t tag, pa_base; uint32_t gen, all_gen, gsc_gen, flags; } tlb_entry;
typedef struct { uint64_t pa, page_size, iotval, iotval2; uint16_t cause; uint8_t ttyp, success, r, w, x, frs; } hw_result;
typedef struct { uint32_t device_id, process_id; uint64_t iova; uint8_t access, privileged, pid_valid, ats, translated; } hw_request;

typedef struct {
    uint64_t ddtp, caps;
    dc_entry *dc; int dc_len; uint32_t ddt_gen;
    space_slot *slots; uint32_t *gsc_gen;
    tlb_entry *tlb; int set_shift, set_mask, level_mask;
} hw_engine;

enum { F_R = 1, F_W = 2, F_X = 4, F_USER = 8, F_GLOBAL = 16, F_DIRTY = 32, F_NOFS = 64 };

static inline int dc_index(uint32_t did, int len) { return (int)((did * 0x9E3779B1u) >> 8) & (len - 1); }
static inline uint64_t tag_of(uint64_t iova, int level) { return ((iova >> (12 + 9 * level)) << 3) | (uint32_t)level; }
static inline int set_of(const hw_engine *e, uint64_t tag, int space)
{
    uint64_t h = (tag ^ ((uint64_t)space << 40)) * 0x9E3779B97F4A7C15ull;
    return (int)(h >> e->set_shift) & e->set_mask;
}

__attribute__((noinline)) static int translate_hit(const hw_engine *e, const hw_request *req, hw_result *res)
{
    if (req->pid_valid || req->ats || req->translated)
        return 0;
    uint32_t mode = (uint32_t)e->ddtp & 0xF, did = req->device_id;
    int ddi0 = (e->caps >> 22) & 1 ? 6 : 7;
    if (mode - 2 > 2 || did > 0xFFFFFF || (mode == 3 && (did >> (ddi0 + 9)) != 0) || (mode == 2 && (did >> ddi0) != 0))
        return 0;
    const dc_entry *d = &e->dc[dc_index(did, e->dc_len)];
    int32_t seq = VREAD32(d->seq);
    uint32_t key = d->key, gen = d->ddt_gen; int32_t slot = d->hit_slot; uint32_t ident = d->hit_identity;
    BARRIER();
    if ((seq & 1) || VREAD32(d->seq) != seq || key != (did | 0x80000000u) || gen != e->ddt_gen || slot < 0)
        return 0;
    const space_slot *s = &e->slots[slot];
    uint32_t sgen = s->gen, sall = s->all_gen, sgsc = e->gsc_gen[s->gsc_index];
    if (s->identity != ident)
        return 0;
    int mask = e->level_mask, space = slot + 1;
    while (mask) {
        int level = __builtin_ctz(mask);
        mask &= mask - 1;
        uint64_t tag = tag_of(req->iova, level);
        const tlb_entry *set = &e->tlb[set_of(e, tag, space) << 2];
        for (int way = 0; way < 4; way++) {
            const tlb_entry *t = &set[way];
            if (t->tag != tag || t->space != space)
                continue;
            int32_t q = VREAD32(t->seq);
            uint64_t ctag = t->tag, pab = t->pa_base; int32_t cspace = t->space;
            uint32_t g = t->gen, ag = t->all_gen, gg = t->gsc_gen, fl = t->flags;
            BARRIER();
            if ((q & 1) || VREAD32(t->seq) != q || ctag != tag || cspace != space || ag != sall || gg != sgsc
                || (!(fl & F_GLOBAL) && g != sgen))
                continue;
            uint32_t need = req->access == 0 ? F_R : req->access == 1 ? F_W : F_X;
            if (!(fl & need) || (req->access == 1 && !(fl & F_DIRTY)) || !(fl & (F_NOFS | F_USER)))
                return 0;
            memset(res, 0, sizeof *res);
            res->success = 1;
            res->pa = pab | (req->iova & ((1ull << (12 + 9 * level)) - 1));
            res->page_size = 1ull << ((fl >> 8) & 0xFF);
            res->r = (fl & F_R) != 0; res->w = (fl & F_W) != 0; res->x = (fl & F_X) != 0;
            res->ttyp = req->access == 2 ? 1 : req->access == 0 ? 2 : 3;
            res->iotval = req->iova;
            return 1;
        }
    }
    return 0;
}

typedef struct cb_hw { hw_engine e; hw_request *reqs; uint64_t count; } cb_hw;

cb_hw *cb_hw_create(uint64_t iova_base, uint64_t pa_base, const uint32_t *indices, uint64_t count)
{
    cb_hw *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    hw_engine *e = &h->e;
    *e = (hw_engine){ .ddtp = 2, .caps = 0, .dc_len = 256, .set_shift = 64 - 10, .set_mask = 1023, .level_mask = 1 };
    e->dc = calloc(256, sizeof(dc_entry));
    e->slots = calloc(1024, sizeof(space_slot));
    e->gsc_gen = calloc(65537, sizeof(uint32_t));
    e->tlb = calloc(4096, sizeof(tlb_entry));
    h->reqs = calloc(count, sizeof(hw_request));
    h->count = count;
    if (!e->dc || !e->slots || !e->gsc_gen || !e->tlb || !h->reqs) {
        cb_hw_destroy(h);
        return NULL;
    }
    dc_entry *d = &e->dc[dc_index(1, 256)];
    d->key = 1 | 0x80000000u; d->hit_slot = 0; d->hit_identity = 1;
    e->slots[0] = (space_slot){ .identity = 1, .all_gen = 1, .gsc_index = 65536, .in_use = 1 };
    for (uint64_t i = 0; i < count; i++) {
        uint64_t iova = iova_base + ((uint64_t)indices[i] << 12) + 0x10;
        h->reqs[i] = (hw_request){ .device_id = 1, .iova = iova, .access = 0 };
        uint64_t tag = tag_of(iova, 0);
        tlb_entry *set = &e->tlb[set_of(e, tag, 1) << 2];
        for (int way = 0; way < 4; way++)
            if (set[way].space == 0 || (set[way].space == 1 && set[way].tag == tag)) {
                set[way] = (tlb_entry){ .space = 1, .tag = tag, .pa_base = pa_base + ((uint64_t)indices[i] << 12),
                                        .all_gen = 1, .flags = F_R | F_W | F_USER | F_DIRTY | (12u << 8) };
                break;
            }
    }
    return h;
}

void cb_hw_destroy(cb_hw *h)
{
    if (!h)
        return;
    free(h->reqs); free(h->e.tlb); free(h->e.gsc_gen); free(h->e.slots); free(h->e.dc);
    free(h);
}

uint64_t cb_bench_iotlb_hit(const cb_hw *h, uint64_t iterations)
{
    uint64_t sum = 0;
    hw_result r;
    for (uint64_t it = 0; it < iterations; it++)
        for (uint64_t i = 0; i < h->count; i++)
            sum += translate_hit(&h->e, &h->reqs[i], &r) ? r.pa : UINT64_MAX / 2;
    return sum;
}
