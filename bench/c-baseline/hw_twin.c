/* C twin of the hardware model's IOTLB-hit path (FastIommu.Hardware.TranslatorEngine.TryCachedTranslation):
 * the same structures with the same layouts (DC-cache entry with its hit slot up front, address-space slots with
 * two epochs, 4-way set-associative IOTLB of 32-byte seqlocked entries in 64-byte-aligned sets, 40-byte result
 * with its flags in one byte) and the same steps: device_id against the limit precomputed from ddtp, DC probe
 * under its sequence, the space's identity and epochs, the IOTLB probe under the entry's sequence, the user-mode
 * permission check, the result. One non-inlined call per translation, as the C# API has. x86-64 (TSO): the
 * seqlock read barriers are compiler barriers, as in .NET. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbaseline.h"

#define BARRIER() __asm__ __volatile__("" ::: "memory")
#define VREAD32(x) (*(volatile const int32_t *)&(x))

typedef struct { int32_t seq; uint32_t key, ddt_gen; int32_t hit_slot; uint32_t hit_identity; uint8_t info[84]; } dc_entry;
typedef struct { uint32_t identity, gen, all_gen; int32_t gsc_index; uint64_t key; int32_t next; uint8_t in_use; } space_slot;
typedef struct { int32_t seq, space; uint64_t tag, pa_base; uint32_t epoch, flags; } tlb_entry;
typedef struct { uint64_t pa, page_size, iotval, iotval2; uint16_t cause; uint8_t ttyp, memory_type, flags; } hw_result;
_Static_assert(sizeof(tlb_entry) == 32, "IOTLB entry: 32 bytes, as Iotlb.Entry");
_Static_assert(sizeof(hw_result) == 40, "result: 40 bytes, as TranslationResult");
typedef struct { uint32_t device_id, process_id; uint64_t iova; uint8_t access, privileged, pid_valid, ats, translated; } hw_request;

typedef struct {
    uint64_t ddtp, caps; uint32_t hit_device_limit;
    dc_entry *dc; int dc_len; uint32_t ddt_gen;
    space_slot *slots;
    tlb_entry *tlb; void *tlb_storage; int set_shift, set_mask, level_mask;
} hw_engine;

enum { F_R = 1, F_W = 2, F_X = 4, F_USER = 8, F_GLOBAL = 16, F_DIRTY = 32, F_NOFS = 64 };
enum { RES_SUCCESS = 8 };
/* Needs of a hit by access (read R, write W and D, execute X) and TTYP (2, 3, 1), one byte / nibble each. */
#define HIT_NEEDS (F_R | ((F_W | F_DIRTY) << 8) | (F_X << 16))
#define HIT_TTYPS (2 | (3 << 4) | (1 << 8))

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
    uint32_t did = req->device_id;
    if (did >= e->hit_device_limit)
        return 0;
    const dc_entry *d = &e->dc[dc_index(did, e->dc_len)];
    int32_t seq = VREAD32(d->seq);
    uint32_t key = d->key, gen = d->ddt_gen; int32_t slot = d->hit_slot; uint32_t ident = d->hit_identity;
    BARRIER();
    if ((seq & 1) || VREAD32(d->seq) != seq || key != (did | 0x80000000u) || gen != e->ddt_gen || slot < 0)
        return 0;
    const space_slot *s = &e->slots[slot];
    uint32_t sgen = s->gen, sall = s->all_gen;
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
            int32_t q = VREAD32(t->seq);
            if (t->tag != tag || t->space != space)
                continue;
            uint64_t pab = t->pa_base; uint32_t ep = t->epoch, fl = t->flags;
            BARRIER();
            if ((q & 1) || VREAD32(t->seq) != q || ep != ((fl & F_GLOBAL) ? sall : sgen))
                continue;
            int access = req->access < 2 ? req->access : 2;
            uint32_t need = (HIT_NEEDS >> (8 * access)) & 0xFF;
            if ((fl & need) != need || !(fl & (F_NOFS | F_USER)))
                return 0;
            res->pa = pab | (req->iova & ((1ull << (12 + 9 * level)) - 1));
            res->page_size = 1ull << ((fl >> 8) & 0xFF);
            res->iotval = req->iova;
            res->iotval2 = 0;
            res->cause = 0;
            res->ttyp = (HIT_TTYPS >> (4 * access)) & 0xF;
            res->memory_type = (fl >> 16) & 3;
            res->flags = (fl & (F_R | F_W | F_X)) | RES_SUCCESS;
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
    /* ddtp 1LVL, base DC format: device_ids below 2^7 may take the hit path. */
    *e = (hw_engine){ .ddtp = 2, .caps = 0, .hit_device_limit = 1u << 7, .dc_len = 256, .set_shift = 64 - 10,
                      .set_mask = 1023, .level_mask = 1 };
    e->dc = calloc(256, sizeof(dc_entry));
    e->slots = calloc(1024, sizeof(space_slot));
    e->tlb_storage = aligned_alloc(64, 4096 * sizeof(tlb_entry));
    e->tlb = e->tlb_storage;
    h->reqs = calloc(count, sizeof(hw_request));
    h->count = count;
    if (e->tlb)
        memset(e->tlb, 0, 4096 * sizeof(tlb_entry));
    if (!e->dc || !e->slots || !e->tlb || !h->reqs) {
        cb_hw_destroy(h);
        return NULL;
    }
    dc_entry *d = &e->dc[dc_index(1, 256)];
    d->key = 1 | 0x80000000u; d->hit_slot = 0; d->hit_identity = 1;
    e->slots[0] = (space_slot){ .identity = 1, .gen = 1, .all_gen = 1, .gsc_index = 65536, .in_use = 1 };
    for (uint64_t i = 0; i < count; i++) {
        uint64_t iova = iova_base + ((uint64_t)indices[i] << 12) + 0x10;
        h->reqs[i] = (hw_request){ .device_id = 1, .iova = iova, .access = 0 };
        uint64_t tag = tag_of(iova, 0);
        tlb_entry *set = &e->tlb[set_of(e, tag, 1) << 2];
        for (int way = 0; way < 4; way++)
            if (set[way].space == 0 || (set[way].space == 1 && set[way].tag == tag)) {
                set[way] = (tlb_entry){ .space = 1, .tag = tag, .pa_base = pa_base + ((uint64_t)indices[i] << 12),
                                        .epoch = 1, .flags = F_R | F_W | F_USER | F_DIRTY | (12u << 8) };
                break;
            }
    }
    return h;
}

void cb_hw_destroy(cb_hw *h)
{
    if (!h)
        return;
    free(h->reqs); free(h->e.tlb_storage); free(h->e.slots); free(h->e.dc);
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
