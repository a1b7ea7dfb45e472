/* The hardware model's translation caches in C, for its twins (hw_twin.c: the hit paths; hw_miss_twin.c: the miss
 * with the caches on). Same layouts and the same rules as the C# (src/FastIommu/Hardware/Caches):
 * - AddressSpaceTable.Slot: a space's identity and epochs (32 bytes);
 * - Iotlb: 4-way set-associative, 128-byte sets on a 64-byte boundary, the four ways' tags, spaces and sequence
 *   words in the first line, their PAs, epochs and flags in the second; a probe compares the four tags at once and
 *   gives its fill a hint (the set, and this translation's dead way, else an empty way, else none); the fill takes
 *   the way under its sequence lock (a locked compare-and-swap) and gives up on contention or when an address
 *   invalidation ran since its walk began;
 * - MicroTlb: 32-byte seqlocked entries, direct mapped by the request's page and requester, validated by the space
 *   slot's micro epoch plus the context epoch; a live copy of another translation gives way one time in 8.
 * x86-64 (TSO): acquire loads and the seqlocks' read barriers are plain loads and compiler barriers, as .NET's
 * Volatile.Read and Volatile.ReadBarrier are. */
#ifndef FIB_HW_CACHES_H
#define FIB_HW_CACHES_H

#include <stddef.h>
#include <stdint.h>

#include "cbaseline.h"

#define HWC_BARRIER() __asm__ __volatile__("" ::: "memory")
#define HWC_VREAD32(x) (*(volatile const int32_t *)&(x))

/* AddressSpaceTable.Slot. */
typedef struct { uint32_t identity, gen, all_gen, micro_epoch; uint64_t key; int32_t gsc_index, next; } space_slot;
/* An IOTLB set (Iotlb.Set): way w's fields are element w of each array. */
typedef struct { uint64_t tag[4]; int32_t space[4], seq[4]; uint64_t pa_base[4]; uint32_t epoch[4], flags[4]; } tlb_set;
/* Micro-TLB entry: page key (IOVA >> 12 | process_id valid << 52 | filled << 63), requester key (device_id 23:0,
 * process_id 43:24, slot 63:44), data (flags 11:0, PA 55:12, page shift 63:56). */
typedef struct { int32_t seq; uint32_t epoch; uint64_t page, requester, data; } micro_entry;
_Static_assert(sizeof(space_slot) == 32, "address-space slot: 32 bytes, as AddressSpaceTable.Slot");
_Static_assert(sizeof(tlb_set) == 128, "IOTLB set: 128 bytes, as Iotlb.Set");
_Static_assert(offsetof(tlb_set, pa_base) == 64, "IOTLB set: what a hit returns in the second line");
_Static_assert(sizeof(micro_entry) == 32, "micro-TLB entry: 32 bytes, as MicroTlb.Entry");

/* Iotlb flags, and the micro-TLB's data word. */
enum { F_R = 1, F_W = 2, F_X = 4, F_USER = 8, F_GLOBAL = 16, F_DIRTY = 32, F_NOFS = 64 };
enum { F_SHIFT_SHIFT = 8, F_PBMT_SHIFT = 16 };
enum { M_SUM = 128, M_ENS = 256, M_PBMT_SHIFT = 9, M_SHIFT_SHIFT = 56 };
#define M_PA_MASK 0x00FFFFFFFFFFF000ull
#define M_PID_VALID (1ull << 52)
#define M_FILLED (1ull << 63)
#define M_REQUESTER_MASK ((1ull << 44) - 1)
/* Needs of a hit by access (read R, write W and D, execute X), one byte each; its TTYP (2, 3, 1), one nibble each. */
#define HIT_NEEDS (F_R | ((F_W | F_DIRTY) << 8) | (F_X << 16))
#define HIT_TTYPS (2 | (3 << 4) | (1 << 8))

/* The IOTLB (Iotlb): its sets, the levels ever filled, the address invalidations' sequence, the victim count. */
typedef struct {
    tlb_set *sets;
    int set_shift, set_mask;
    int level_mask;
    int64_t inval_seq;
    int victim;
} tlb_table;

/* The micro-TLB (MicroTlb) and what its validity rule reads. */
typedef struct {
    micro_entry *entries;
    uint32_t mask;
    uint32_t context_epoch;
    uint32_t *replace_tick; /* live copies give way one time in 8 (a plain count) */
    const space_slot *slots;
} micro_tlb;

/* Iotlb.NoHint, and a hint's way field (bits 2:0) when the fill picks a victim. */
#define TLB_NO_HINT (-1)
#define TLB_NO_WAY 4

static inline uint64_t tag_of(uint64_t iova, int level) { return ((iova >> (12 + 9 * level)) << 3) | (uint32_t)level; }

static inline int set_of(const tlb_table *t, uint64_t tag, int space)
{
    uint64_t h = (tag ^ ((uint64_t)space << 40)) * 0x9E3779B97F4A7C15ull;
    return (int)(h >> t->set_shift) & t->set_mask;
}

/* The ways of `set` whose tag is `tag`, as bits 0 to 3 (the C# probe's vector compare). */
static inline unsigned tag_matches(const tlb_set *set, uint64_t tag)
{
    return (unsigned)(set->tag[0] == tag) | (unsigned)(set->tag[1] == tag) << 1 | (unsigned)(set->tag[2] == tag) << 2
           | (unsigned)(set->tag[3] == tag) << 3;
}

static inline unsigned empty_ways(const tlb_set *set)
{
    return (unsigned)(set->space[0] == 0) | (unsigned)(set->space[1] == 0) << 1 | (unsigned)(set->space[2] == 0) << 2
           | (unsigned)(set->space[3] == 0) << 3;
}

/* Iotlb.ReadWay: way `way`, whose tag matched, under its sequence lock; *own: it holds this tag and space. */
static inline int tlb_read_way(const tlb_set *set, int way, uint64_t tag, int space, uint32_t gen, uint32_t all_gen,
                               uint64_t *pa_base, uint32_t *flags, int *own)
{
    int32_t q = HWC_VREAD32(set->seq[way]);
    *own = set->tag[way] == tag && set->space[way] == space;
    *pa_base = set->pa_base[way];
    uint32_t ep = set->epoch[way];
    *flags = set->flags[way];
    HWC_BARRIER();
    return *own && !(q & 1) && HWC_VREAD32(set->seq[way]) == q && ep == ((*flags & F_GLOBAL) ? all_gen : gen);
}

/* Iotlb.TryLookup with its fill hint: level 0 first (its set and way are the hint), then the other levels ever
 * filled. */
static inline int tlb_lookup(const tlb_table *t, int slot, uint32_t gen, uint32_t all_gen, uint64_t iova, uint64_t *pa,
                             uint32_t *flags, int *hint)
{
    int mask = t->level_mask, space = slot + 1, own;
    uint64_t pab;
    *hint = TLB_NO_HINT;
    if (mask & 1) {
        uint64_t tag = tag_of(iova, 0);
        int index = set_of(t, tag, space);
        const tlb_set *set = &t->sets[index];
        int chosen = TLB_NO_WAY;
        for (unsigned match = tag_matches(set, tag); match; match &= match - 1) {
            int way = __builtin_ctz(match);
            if (tlb_read_way(set, way, tag, space, gen, all_gen, &pab, flags, &own)) {
                *pa = pab | (iova & 0xFFF);
                return 1;
            }
            if (own)
                chosen = way; /* this translation's entry, dead: the fill replaces it */
        }
        unsigned empty;
        if (chosen == TLB_NO_WAY && (empty = empty_ways(set)) != 0)
            chosen = __builtin_ctz(empty);
        *hint = (index << 3) | chosen;
        mask &= ~1;
    }
    while (mask) {
        int level = __builtin_ctz(mask);
        mask &= mask - 1;
        uint64_t tag = tag_of(iova, level);
        const tlb_set *set = &t->sets[set_of(t, tag, space)];
        for (unsigned match = tag_matches(set, tag); match; match &= match - 1)
            if (tlb_read_way(set, __builtin_ctz(match), tag, space, gen, all_gen, &pab, flags, &own)) {
                *pa = pab | (iova & ((1ull << (12 + 9 * level)) - 1));
                return 1;
            }
    }
    *pa = 0;
    *flags = 0;
    return 0;
}

/* Iotlb.WriteEntry: the fill proper, under the way's sequence lock, unless another thread owns the way or an address
 * invalidation ran since `inval_seq` was read. */
static inline void tlb_write(tlb_table *t, tlb_set *set, int way, int space, uint64_t tag, uint32_t gen, uint32_t all_gen,
                             int64_t inval_seq, uint64_t pa_base, uint32_t flags)
{
    int32_t start = HWC_VREAD32(set->seq[way]);
    if ((start & 1) || !__atomic_compare_exchange_n(&set->seq[way], &start, start + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;
    if (__atomic_load_n(&t->inval_seq, __ATOMIC_ACQUIRE) != inval_seq) {
        __atomic_store_n(&set->seq[way], start + 2, __ATOMIC_RELEASE);
        return;
    }
    set->space[way] = space;
    set->tag[way] = tag;
    set->pa_base[way] = pa_base;
    set->epoch[way] = (flags & F_GLOBAL) ? all_gen : gen;
    set->flags[way] = flags;
    __atomic_store_n(&set->seq[way], start + 2, __ATOMIC_RELEASE);
}

/* Iotlb.Insert: this translation's own entry, else an empty way, else a victim; the level's bit first (a full
 * fence between its store and the fill's lock, as the C#'s Interlocked.Or). */
static inline void tlb_insert(tlb_table *t, int slot, uint32_t gen, uint32_t all_gen, int64_t inval_seq, uint64_t iova,
                              int level, uint64_t pa_base, uint32_t flags)
{
    int space = slot + 1;
    uint64_t tag = tag_of(iova, level);
    tlb_set *set = &t->sets[set_of(t, tag, space)];
    int way = TLB_NO_WAY;
    for (unsigned match = tag_matches(set, tag); match; match &= match - 1) {
        int candidate = __builtin_ctz(match);
        if (HWC_VREAD32(set->space[candidate]) == space) {
            way = candidate;
            break;
        }
    }
    if (way == TLB_NO_WAY) {
        unsigned empty = empty_ways(set);
        way = empty ? __builtin_ctz(empty) : (t->victim++ ^ (int)tag) & 3;
    }
    if ((HWC_VREAD32(t->level_mask) & (1 << level)) == 0)
        __atomic_fetch_or(&t->level_mask, 1 << level, __ATOMIC_SEQ_CST);
    tlb_write(t, set, way, space, tag, gen, all_gen, inval_seq, pa_base, flags);
}

/* Iotlb.InsertPage: a 4 KiB translation takes the set and way its probe chose (`hint`, not TLB_NO_HINT). */
static inline void tlb_insert_page(tlb_table *t, int hint, int slot, uint32_t gen, uint32_t all_gen, int64_t inval_seq,
                                   uint64_t iova, uint64_t pa_base, uint32_t flags)
{
    uint64_t tag = tag_of(iova, 0);
    int way = hint & 7;
    if (way == TLB_NO_WAY)
        way = (t->victim++ ^ (int)tag) & 3;
    tlb_write(t, &t->sets[hint >> 3], way, slot + 1, tag, gen, all_gen, inval_seq, pa_base, flags);
}

/* HitPermits: the access's needs, and the U / SUM rules of the requester's privilege. */
static inline int hit_permits(uint32_t fl, uint8_t access_in, int supervisor, int sum)
{
    int access = access_in < 2 ? access_in : 2;
    uint32_t need = (HIT_NEEDS >> (8 * access)) & 0xFF;
    if ((fl & need) != need)
        return 0;
    return supervisor ? (fl & (F_NOFS | F_USER)) != F_USER || (sum && access_in != 2) : (fl & (F_NOFS | F_USER)) != 0;
}

/* TranslatorEngine.Hit: the result of a translation the caches served (or the shortcut's walk made) for an
 * untranslated request: R, W, X in bits 0 to 2 of `rwx`. */
static inline void hit_result(const cb_hw_miss_request *req, uint64_t pa, int shift, uint32_t pbmt, uint32_t rwx,
                              cb_hw_miss_result *res)
{
    int access = req->access < 2 ? (int)req->access : 2;
    res->pa = pa;
    res->page_size = 1ull << shift;
    res->iotval = req->iova;
    res->iotval2 = 0;
    res->cause = 0;
    res->ttyp = (HIT_TTYPS >> (4 * access)) & 0xF;
    res->memory_type = (uint8_t)pbmt;
    res->flags = (uint8_t)(CB_RES_SUCCESS | (rwx & (F_R | F_W | F_X)));
}

static inline uint64_t micro_page_key(uint64_t iova, int pid_valid)
{
    return (iova >> 12) | (pid_valid ? M_PID_VALID : 0) | M_FILLED;
}

static inline micro_entry *micro_entry_for(const micro_tlb *m, uint64_t page, uint64_t requester)
{
    uint32_t h = (uint32_t)requester * 0x9E3779B1u ^ (uint32_t)(requester >> 24) * 0x85EBCA77u;
    return &m->entries[((uint32_t)page ^ (h >> 16)) & m->mask];
}

/* MicroTlb.IsLive: the epoch sum a copy recorded is still its slot's micro epoch plus the context epoch. */
static inline int micro_live(const micro_tlb *m, uint32_t epoch, uint64_t who)
{
    return epoch == (uint32_t)HWC_VREAD32(m->slots[who >> 44].micro_epoch) + (uint32_t)HWC_VREAD32(m->context_epoch);
}

/* MicroTlb.TryLookup: the data word of a live entry for (page, requester). */
static inline int micro_lookup(const micro_tlb *m, uint64_t page, uint64_t requester, uint64_t *data)
{
    const micro_entry *e = micro_entry_for(m, page, requester);
    int32_t seq = HWC_VREAD32(e->seq);
    if (e->page != page) {
        *data = 0;
        return 0;
    }
    uint64_t who = e->requester;
    *data = e->data;
    uint32_t epoch = e->epoch;
    HWC_BARRIER();
    if ((seq & 1) || HWC_VREAD32(e->seq) != seq || (who & M_REQUESTER_MASK) != requester)
        return 0;
    return micro_live(m, epoch, who);
}

/* MicroTlb.Fill: a live copy of another translation gives way one time in 8 (bimodal insertion); an empty or dead
 * entry, or this translation's own copy, is always replaced. */
static inline void micro_fill(const micro_tlb *m, uint64_t page, uint64_t requester, int32_t slot, uint32_t epoch,
                              uint64_t pa, uint32_t fl, int sum, int ens)
{
    micro_entry *e = micro_entry_for(m, page, requester);
    uint64_t key = e->page, who = e->requester;
    int other = key != page || (who & M_REQUESTER_MASK) != requester;
    if (other && (key & M_FILLED) && micro_live(m, e->epoch, who) && (++*m->replace_tick & 7) != 0)
        return; /* in the C#'s order: the epochs are read only for a filled entry of another translation */
    int32_t seq = HWC_VREAD32(e->seq);
    if ((seq & 1) || !__atomic_compare_exchange_n(&e->seq, &seq, seq + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;
    e->page = page;
    e->requester = requester | ((uint64_t)(uint32_t)slot << 44);
    e->epoch = epoch;
    e->data = (pa & M_PA_MASK) | (fl & 0x7F) | (sum ? M_SUM : 0) | (ens ? M_ENS : 0)
              | (((fl >> F_PBMT_SHIFT) & 3) << M_PBMT_SHIFT) | ((uint64_t)((fl >> F_SHIFT_SHIFT) & 0xFF) << M_SHIFT_SHIFT);
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

#endif
