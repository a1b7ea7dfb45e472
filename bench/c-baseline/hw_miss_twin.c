/* C twin of the hardware model's IOTLB-miss path: TranslatorEngine<PhysicalMemoryAccess>.Translate with the DC found in
 * the DDT cache, for an untranslated request without process_id (src/FastIommu/Hardware/IommuTranslator.Engine.cs),
 * with the IOTLB off (IotlbEntries = 0) or, after cb_hw_miss_enable_caches, with the model's caches (hw_caches.h: the
 * micro-TLB, the address-space slots and the IOTLB with the same layouts and rules). Such a request goes through the
 * micro-TLB, then TranslateMissWithoutProcessId: one read of the DC entry's hit slot and walk plan, the slot's epochs,
 * the IOTLB probe with its fill hint; on a miss, a DC that translates by its first stage alone takes the shortcut,
 * TranslateFirstStage: the walk, step 20 and the IOTLB fill where the probe chose. Any other goes to TranslateFully;
 * the twin keeps both, in the same order.
 *
 * Same data layouts: the 32-byte TranslationRequest and 40-byte TranslationResult (field for field, so the C#
 * request array is handed over as bytes), the DDT-cache entry (DirectoryCaches.DcEntry: sequence word, key,
 * DDT generation, hit slot, walk plan, then the 80-byte DeviceContextInfo) read under its seqlock as TryGetDcWalk
 * and TryGetDc do, and the page tables themselves: the twin reads the PhysicalMemory of the C# model through its
 * host pointer.
 *
 * Same steps, in the same order: the micro-TLB probe (caches on), the device_id limit, the DC entry's hit slot and
 * walk plan, the slot's epochs and identity, the IOTLB probe (caches on), the shortcut (walk, step 20, fill) or, for
 * any other request, a marked walk: the shortcut for a SADE DC, else steps 1 to 10 of "Process to translate an IOVA"
 * (mode, device_id width, DC from the cache, request-type checks, first-stage controls from DC.fsc / DC.ta, both-Bare
 * identity), then the first-stage walk with every check of WalkFirstStage (sign extension; per PTE: bounds/alignment
 * of the PTE address, V, W without R, bits 60:54, PBMT without Svpbmt, non-leaf D/A/U/PBMT/N, leaf PBMT = 3 and NAPOT,
 * U / SUM, misaligned superpage, A/D with the SADE compare-and-swap), the MSI-address test, the Bare G-stage, and step
 * 20's result.
 *
 * Sv39 first stage over a Bare G-stage only: what the C# code does generically over modes, the twin does for this
 * pair. Paths it does not model (DC not in the cache, a process context, other modes, MSI translation, and with the
 * caches on, TranslateFully's own IOTLB lookup and a process_id's cached path) end in a result with cause
 * CB_HW_MISS_NOT_MODELLED, never a silent wrong answer. As in the C#, the shortcut of a
 * DC without SADE reads the fence epoch before and after its walk; every other walk marks itself in flight for
 * IOFENCE.C (WalksInFlight: a thread-local mark, one store on entry and one on exit).
 * x86-64 (TSO): acquire loads and the seqlock's read barrier compile to plain loads and compiler barriers, as
 * .NET's Volatile.Read and Volatile.ReadBarrier do.
 *
 * Where it is leaner than the C#, as plain C is, with the same work: one bounds-and-alignment check per PTE read
 * (PhysicalMemoryAccess.TryRead64 checks Contains, then PhysicalMemory.Qword checks the range again and reads the
 * memory pointer for a disposed check); one flat engine struct (C#: engine -> DirectoryCaches -> array, and
 * PhysicalMemoryAccess -> PhysicalMemory) with no array bounds checks; the walk state in registers wherever the
 * compiler keeps it there. The frames are the C#'s: translate, then translate_miss_without_process_id (not inlined, as
 * TranslateMissWithoutProcessId), with the shortcut and the walk below it as gcc inlines them. The DDT-cache entry is the
 * twin's own (same layout, filled with the qwords of the DC in memory), the requests a byte copy of the C# array. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbaseline.h"
#include "hw_caches.h"

#define ACQUIRE(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

/* FastIommu.Hardware.Caches.DeviceContextInfo. */
typedef struct {
    uint64_t tc, iohgatp, ta, fsc;
    uint64_t msiptp, msi_mask, msi_pattern; /* extended format only, else 0 */
    int32_t fs_slot;
    uint32_t fs_identity;
    int32_t g_slot;
    uint32_t g_identity;
    uint64_t stamp;
} dc_info;

/* DirectoryCaches.DcEntry. */
typedef struct {
    int32_t seq;
    uint32_t key; /* device_id | 1 << 31; 0 = empty */
    uint32_t ddt_gen;
    int32_t hit_slot;
    uint32_t hit_identity;
    uint32_t hit_pid_limit;
    uint64_t stamp;
    uint64_t walk_fsc; /* DC.fsc when the DC translates by its first stage alone, else 0 */
    uint32_t walk_tc;  /* DC.tc's SADE and DTF */
    dc_info info;
} dc_entry;

_Static_assert(sizeof(dc_info) == 80, "DeviceContextInfo is 80 bytes");
_Static_assert(sizeof(dc_entry) == 128, "DcEntry is 128 bytes");
_Static_assert(sizeof(cb_hw_miss_request) == 24, "TranslationRequest is 24 bytes");
_Static_assert(sizeof(cb_hw_miss_result) == 40, "TranslationResult is 40 bytes");

/* TranslatorEngine<PhysicalMemoryAccess>: registers, the caches (none, or the IOTLB, micro-TLB and address-space
 * slots of cb_hw_miss_enable_caches), the DDT cache, the memory. */
typedef struct {
    uint64_t ddtp;
    uint32_t fctl;
    uint64_t caps;
    uint32_t hit_device_limit; /* TranslatorEngine.HitDeviceLimit: 0 for Off and Bare, else the mode's device_id bound */
    int64_t fence_epoch;       /* TranslatorEngine.FenceEpoch: no fence here, so it never moves */
    tlb_table tlb;             /* tlb.sets NULL: no IOTLB (IotlbEntries = 0), and no micro-TLB either */
    micro_tlb micro;           /* micro.entries NULL: no micro-TLB */
    space_slot *slots;         /* AddressSpaceTable: one slot per first-stage space of the DCs put */
    int slot_count, slot_capacity;
    dc_entry *dc;    /* DirectoryCaches._dc */
    int dc_len;
    uint32_t ddt_gen; /* DirectoryCaches._ddtGen */
    uint8_t *mem;     /* PhysicalMemory: host pointer, BaseAddress, Size */
    uint64_t mem_base, mem_size;
} engine;

/* TranslatorEngine<TMemory>.Walk. */
typedef struct {
    uint64_t iova;
    uint8_t access;
    bool supervisor, sum, sade, gade, ats, svpbmt;
    uint64_t fs_root, gs_root;
    uint64_t msiptp, msi_mask, msi_pattern;
    bool no_cache;
    uint64_t gpa, pa;
    int fs_shift, gs_shift;
    uint32_t fs_perms, fs_effective, gs_perms;
    bool fs_user, fs_global, fs_dirty, gs_dirty;
    uint32_t fs_pbmt, gs_pbmt;
    uint64_t fs_leaf; /* the first-stage leaf PTE as the walk used it (A/D included) */
    uint16_t cause;
    uint64_t iotval2;
} walk;

enum { READ = 0, WRITE = 1, EXECUTE = 2 };

/* Capabilities bits, ddtp modes, DC fields (SpecBits). */
#define CAP_SVPBMT 15
#define CAP_MSI_FLAT 22
#define DDTP_OFF 0u
#define DDTP_BARE 1u
#define DDTP_1LVL 2u
#define DDTP_2LVL 3u
#define DDTP_3LVL 4u
#define TC_EN_ATS (1ull << 1)
#define TC_T2GPA (1ull << 3)
#define TC_DTF (1ull << 4)
#define TC_PDTV (1ull << 5)
#define TC_DPE (1ull << 9)
#define TC_SADE (1ull << 8)
#define TC_GADE (1ull << 7)
#define ATP_PPN ((1ull << 44) - 1)
#define ATP_MODE_SHIFT 60
#define GSCID_SHIFT 44
#define PSCID_SHIFT 12
#define VALID_KEY (1u << 31)

/* Pte. */
#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_G (1ull << 5)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_N (1ull << 63)
#define PTE_RWX (PTE_R | PTE_W | PTE_X)
#define PTE_PPN (((1ull << 44) - 1) << 10)
#define PTE_RESERVED (0x7Full << 54)
#define PTE_PBMT (3ull << 61)
#define PTE_NONLEAF_RESERVED (PTE_D | PTE_A | PTE_U | PTE_PBMT | PTE_N)
#define PTE_POINTER_MASK (PTE_V | PTE_RWX | PTE_RESERVED | PTE_NONLEAF_RESERVED)

/* Iotlb permission bits. */
#define P_R 1u
#define P_W 2u
#define P_X 4u

/* FaultCause. */
enum {
    CAUSE_NONE = 0,
    INSTRUCTION_ACCESS_FAULT = 1, READ_ACCESS_FAULT = 5, WRITE_ACCESS_FAULT = 7,
    INSTRUCTION_PAGE_FAULT = 12, READ_PAGE_FAULT = 13, WRITE_PAGE_FAULT = 15,
    ALL_INBOUND_DISALLOWED = 256, TRANSACTION_TYPE_DISALLOWED = 260,
};

static inline bool has(uint64_t caps, int bit) { return (caps & (1ull << bit)) != 0; }

/* ---- PhysicalMemoryAccess ---- */

static inline bool try_read64(const engine *e, uint64_t pa, uint64_t *value)
{
    uint64_t offset = pa - e->mem_base;
    if ((pa & 7) != 0 || !(pa >= e->mem_base && 8 <= e->mem_size && offset <= e->mem_size - 8)) {
        *value = 0;
        return false;
    }
    *value = __atomic_load_n((const uint64_t *)(e->mem + offset), __ATOMIC_ACQUIRE);
    return true;
}

static inline bool try_cas64(const engine *e, uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed)
{
    uint64_t offset = pa - e->mem_base;
    if ((pa & 7) != 0 || !(pa >= e->mem_base && 8 <= e->mem_size && offset <= e->mem_size - 8)) {
        *observed = 0;
        return false;
    }
    __atomic_compare_exchange_n((uint64_t *)(e->mem + offset), &expected, desired, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    *observed = expected; /* the value found: equal to the one expected when the swap happened */
    return true;
}

/* ---- DirectoryCaches ---- */

static inline int dc_index(uint32_t device_id, int length) { return (int)((device_id * 0x9E3779B1u) >> 8) & (length - 1); }

static inline bool try_get_dc(const engine *e, uint32_t device_id, dc_info *info)
{
    if (e->dc_len != 0) {
        const dc_entry *d = &e->dc[dc_index(device_id, e->dc_len)];
        if (d->key == (device_id | VALID_KEY)) {
            int32_t seq = ACQUIRE(d->seq);                 /* SeqLock.BeginRead */
            uint32_t key = d->key, gen = d->ddt_gen;
            *info = d->info;
            __atomic_thread_fence(__ATOMIC_ACQUIRE);      /* SeqLock.Validate: Volatile.ReadBarrier */
            if ((seq & 1) == 0 && ACQUIRE(d->seq) == seq && key == (device_id | VALID_KEY) && gen == ACQUIRE(e->ddt_gen))
                return true;
        }
    }
    memset(info, 0, sizeof *info);
    return false;
}

/* DirectoryCaches.TryGetDcMiss: the hit slot, its identity and the walk plan of a cached DC (fsc != 0 only for a
 * first-stage-only DC), read once for the IOTLB probe and the walk. */
static inline bool try_get_dc_miss(const engine *e, uint32_t device_id, int32_t *slot, uint32_t *ident, uint64_t *fsc,
                                   uint32_t *tc)
{
    if (e->dc_len != 0) {
        const dc_entry *d = &e->dc[dc_index(device_id, e->dc_len)];
        int32_t seq = ACQUIRE(d->seq);
        uint32_t key = d->key, gen = d->ddt_gen;
        *slot = d->hit_slot;
        *ident = d->hit_identity;
        *fsc = d->walk_fsc;
        *tc = d->walk_tc;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if ((seq & 1) == 0 && ACQUIRE(d->seq) == seq && key == (device_id | VALID_KEY) && gen == ACQUIRE(e->ddt_gen))
            return true;
    }
    *slot = -1;
    *ident = 0;
    *fsc = 0;
    *tc = 0;
    return false;
}

/* DirectoryCaches.TryGetDcWalk: TryGetDcMiss for a DC that translates by its first stage alone. */
static inline bool try_get_dc_walk(const engine *e, uint32_t device_id, uint64_t *fsc, uint32_t *tc, int32_t *slot,
                                   uint32_t *ident)
{
    if (try_get_dc_miss(e, device_id, slot, ident, fsc, tc) && *fsc != 0)
        return true;
    *fsc = 0;
    *tc = 0;
    *slot = -1;
    *ident = 0;
    return false;
}

/* ---- Results ---- */

static inline uint8_t ttyp_of(uint8_t access, bool ats, bool translated)
{
    if (ats)
        return 8;
    int code = access == EXECUTE ? 1 : access == READ ? 2 : 3;
    return (uint8_t)(translated ? code + 4 : code);
}

static inline bool process_id_too_wide(uint32_t process_id, uint32_t pdtp_mode)
{
    switch (pdtp_mode) {
    case 1: return process_id >> 8 != 0;
    case 2: return process_id >> 17 != 0;
    default: return process_id >> 20 != 0;
    }
}

static inline void identity(cb_hw_miss_result *res, uint64_t address)
{
    res->pa = address;
    res->page_size = 4096;
    res->memory_type = 0;
    res->flags = CB_RES_SUCCESS | (res->flags & CB_RES_SUPPRESSED) | CB_RES_R | CB_RES_W | CB_RES_X;
}

static inline bool reported_despite_dtf(uint16_t cause)
{
    return (cause >= 256 && cause <= 259) || cause == 268 || cause == 272 || cause == 273;
}

static inline void fault(cb_hw_miss_result *res, uint16_t cause, bool dtf)
{
    res->cause = cause;
    res->flags = (uint8_t)((res->flags & ~(CB_RES_SUCCESS | CB_RES_SUPPRESSED))
                           | (dtf && !reported_despite_dtf(cause) ? CB_RES_SUPPRESSED : 0));
}

static inline void not_modelled(cb_hw_miss_result *res)
{
    res->flags &= ~CB_RES_SUCCESS;
    res->cause = CB_HW_MISS_NOT_MODELLED;
}

static inline void walk_fault(cb_hw_miss_result *res, const walk *w, bool dtf)
{
    uint16_t c = w->cause;
    if (w->ats && (c == 12 || c == 13 || c == 15 || c == 20 || c == 21 || c == 23 || c == 262 || c == 266)) {
        res->flags |= CB_RES_SUCCESS;
        res->cause = c;
        return;
    }
    res->iotval2 = w->iotval2;
    fault(res, c, dtf);
}

/* ---- First-stage walk (WalkFirstStage<Sv39, BareStage>) ---- */

static inline uint32_t need_bit(uint8_t access) { return access == READ ? P_R : access == WRITE ? P_W : P_X; }

static inline uint16_t of_access(uint8_t access, uint16_t execute, uint16_t read, uint16_t write)
{
    return access == EXECUTE ? execute : access == READ ? read : write;
}

static inline bool page_fault(walk *w)
{
    w->cause = of_access(w->access, INSTRUCTION_PAGE_FAULT, READ_PAGE_FAULT, WRITE_PAGE_FAULT);
    w->iotval2 = 0;
    return false;
}

static inline bool access_fault(walk *w)
{
    w->cause = of_access(w->access, INSTRUCTION_ACCESS_FAULT, READ_ACCESS_FAULT, WRITE_ACCESS_FAULT);
    w->iotval2 = 0;
    return false;
}

/* V = 0, W without R, bits 60:54, PBMT without Svpbmt. */
static inline bool bad_pte(uint64_t raw, bool svpbmt)
{
    return (raw & PTE_V) == 0 || (raw & (PTE_R | PTE_W)) == PTE_W || (raw & PTE_RESERVED) != 0
        || (!svpbmt && (raw & PTE_PBMT) != 0);
}

/* PBMT = 3; N outside level 0 or with PPN[3:0] != 1000b. */
static inline bool bad_leaf(uint64_t raw, int level)
{
    return (raw & PTE_PBMT) == PTE_PBMT || ((raw & PTE_N) != 0 && (level != 0 || ((raw >> 10) & 0xF) != 8));
}

static inline bool misaligned_superpage(uint64_t raw, int level)
{
    return level > 0 && ((raw >> 10) & ((1ull << (9 * level)) - 1)) != 0;
}

static inline uint64_t table_address(uint64_t raw) { return (raw & PTE_PPN) << 2; }

static inline bool walk_sv39(const engine *e, walk *w)
{
    uint64_t iova = w->iova;
    int64_t high = (int64_t)iova >> 38; /* sign-extended from bit 38 */
    if (high != 0 && high != -1)
        return page_fault(w);

    /* The common 4 KiB leaf of a user request in one test, as the C#'s leafNeed / leafMask: V R U A and what the access
     * needs set, N, PBMT and bits 60:54 clear; a supervisor request never matches. */
    uint64_t leaf_need = PTE_V | PTE_R | PTE_U | PTE_A
                         | (w->access == WRITE ? PTE_W | PTE_D : w->access == EXECUTE ? PTE_X : 0);
    uint64_t leaf_mask = leaf_need | PTE_N | PTE_PBMT | PTE_RESERVED;
    if (w->supervisor)
        leaf_need = ~0ull;

restart:;
    uint64_t table = w->fs_root;
    for (int level = 2; level >= 0; level--) {
        uint64_t pte_pa = table + (((iova >> (12 + 9 * level)) & 511) << 3);
        uint64_t raw;
        if (!try_read64(e, pte_pa, &raw))
            return access_fault(w);

        /* Steps 3 and 4 for the common pointer PTE in one test (V alone of these bits), as the C#'s PointerPteMask. */
        if ((raw & PTE_POINTER_MASK) == PTE_V) {
            table = table_address(raw);
            continue;
        }

        if (level == 0 && (raw & leaf_mask) == leaf_need) {
            w->gpa = table_address(raw) | (iova & 0xFFF);
            w->fs_shift = 12;
            w->fs_perms = w->fs_effective = (uint32_t)(raw >> 1) & 7;
            w->fs_user = true;
            w->fs_global = (raw & PTE_G) != 0;
            w->fs_dirty = (raw & PTE_D) != 0;
            w->fs_pbmt = 0;
            w->fs_leaf = raw;
            return true;
        }

        if (bad_pte(raw, w->svpbmt))
            return page_fault(w);

        if ((raw & PTE_RWX) == 0) {
            if ((raw & PTE_NONLEAF_RESERVED) != 0 || level == 0)
                return page_fault(w);
            table = table_address(raw);
            continue;
        }

        if (bad_leaf(raw, level))
            return page_fault(w);

        /* U-mode requests need U = 1; supervisor ones need U = 0, or SUM and no execute. */
        uint32_t perms = (uint32_t)(raw >> 1) & 7;
        bool user = (raw & PTE_U) != 0;
        uint32_t effective = perms;
        if (user) {
            if (w->supervisor)
                effective = w->sum ? perms & ~P_X : 0;
        } else if (!w->supervisor) {
            effective = 0;
        }

        if (!w->ats && (effective & need_bit(w->access)) == 0)
            return page_fault(w);

        if (misaligned_superpage(raw, level))
            return page_fault(w);

        /* A (and D for a write) must be set, or set atomically when DC.tc.SADE = 1 (G-stage Bare: no implicit
         * G-stage write check). */
        bool write = w->access == WRITE && (!w->ats || (effective & P_W) != 0);
        uint64_t need_ad = PTE_A | (write ? PTE_D : 0);
        if ((raw & need_ad) != need_ad && !(w->ats && effective == 0)) {
            if (!w->sade)
                return page_fault(w);
            uint64_t observed;
            if (!try_cas64(e, pte_pa, raw, raw | need_ad, &observed))
                return access_fault(w);
            if (observed != raw)
                goto restart;
            raw |= need_ad;
        }

        int shift = (raw & PTE_N) != 0 ? 16 : 12 + 9 * level;
        uint64_t page_mask = (1ull << shift) - 1;
        w->gpa = (table_address(raw) & ~page_mask) | (iova & page_mask);
        w->fs_shift = shift;
        w->fs_perms = perms;
        w->fs_effective = effective;
        w->fs_user = user;
        w->fs_global = (raw & PTE_G) != 0;
        w->fs_dirty = (raw & PTE_D) != 0;
        w->fs_pbmt = (uint32_t)((raw & PTE_PBMT) >> 61);
        w->fs_leaf = raw;
        return true;
    }
    return page_fault(w);
}

/* "MSI address mask and pattern". */
static inline bool is_msi_address(const walk *w, uint64_t gpa)
{
    return ((gpa >> 12) & ~w->msi_mask) == (w->msi_pattern & ~w->msi_mask);
}

/* ---- TranslateFully ---- */

/* Writes straight into the caller's result (as the C# return buffer), zeroed first as `res = default`. */
static void translate_fully(const engine *e, const cb_hw_miss_request *req, cb_hw_miss_result *res)
{
    memset(res, 0, sizeof *res);
    res->iotval = req->iova;
    bool ats = (req->flags & CB_REQ_ATS) != 0;
    bool translated = (req->flags & CB_REQ_TRANSLATED) != 0 && !ats;
    res->ttyp = ttyp_of(req->access, ats, translated);

    uint64_t ddtp = ACQUIRE(e->ddtp);
    uint32_t iommu_mode = (uint32_t)ddtp & 0xF;

    /* Step 1: Off (and reserved modes). */
    if (iommu_mode == DDTP_OFF || iommu_mode > DDTP_3LVL) {
        fault(res, ALL_INBOUND_DISALLOWED, false);
        return;
    }

    /* Step 2: Bare. */
    if (iommu_mode == DDTP_BARE) {
        if (translated || ats)
            fault(res, TRANSACTION_TYPE_DISALLOWED, false);
        else
            identity(res, req->iova);
        return;
    }

    /* Steps 3, 4: DDI[0] width. */
    bool extended = has(e->caps, CAP_MSI_FLAT);
    int ddi0_bits = extended ? 6 : 7;
    uint32_t device_id = req->device_id;

    /* Step 5: device_id too wide. */
    uint32_t ddi1 = (device_id >> ddi0_bits) & 0x1FF;
    uint32_t ddi2 = device_id >> (ddi0_bits + 9);
    if (device_id > 0xFFFFFF || (iommu_mode == DDTP_2LVL && ddi2 != 0) || (iommu_mode == DDTP_1LVL && (ddi1 | ddi2) != 0)) {
        fault(res, TRANSACTION_TYPE_DISALLOWED, false);
        return;
    }

    /* Step 6: the DC from the DDT cache (the DDT walk, LocateDeviceContext, is not modelled). */
    dc_info dc;
    if (!try_get_dc(e, device_id, &dc)) {
        not_modelled(res);
        return;
    }

    bool dtf = (dc.tc & TC_DTF) != 0;
    bool pdtv = (dc.tc & TC_PDTV) != 0;
    uint32_t pdtp_mode = (uint32_t)(dc.fsc >> ATP_MODE_SHIFT);

    /* Step 7: transaction type disallowed. */
    if (((translated || ats) && (dc.tc & TC_EN_ATS) == 0) || (((req->flags & CB_REQ_PV) != 0) && !pdtv)
        || (((req->flags & CB_REQ_PV) != 0) && pdtv && process_id_too_wide(req->process_id, pdtp_mode))) {
        fault(res, TRANSACTION_TYPE_DISALLOWED, dtf);
        return;
    }

    /* Step 8: translated, T2GPA = 0: already an SPA. */
    if (translated && (dc.tc & TC_T2GPA) == 0) {
        identity(res, req->iova);
        return;
    }

    uint32_t g_mode = (uint32_t)(dc.iohgatp >> ATP_MODE_SHIFT);
    walk w;
    w.sum = false;
    w.fs_root = 0;
    w.msiptp = dc.msiptp;
    w.msi_mask = dc.msi_mask;
    w.msi_pattern = dc.msi_pattern;
    w.no_cache = false;
    w.cause = CAUSE_NONE;
    w.iotval2 = 0;
    w.iova = req->iova;
    w.access = req->access;
    w.supervisor = ((req->flags & CB_REQ_PRIV) != 0) && ((req->flags & CB_REQ_PV) != 0);
    w.sade = (dc.tc & TC_SADE) != 0;
    w.gade = (dc.tc & TC_GADE) != 0;
    w.ats = ats;
    w.svpbmt = has(e->caps, CAP_SVPBMT);
    w.gs_root = (dc.iohgatp & ATP_PPN) << 12;

    uint32_t fs_mode;
    int slot;
    uint32_t ident;
    uint64_t space_key;
    bool gv = g_mode != 0;
    uint32_t gscid = (uint32_t)(dc.iohgatp >> GSCID_SHIFT) & 0xFFFF;
    if (translated) {
        /* Step 9. */
        fs_mode = 0;
        slot = dc.g_slot;
        ident = dc.g_identity;
        space_key = (gv ? 1ull << 63 : 0) | ((uint64_t)gscid << 32);
    } else if (!pdtv) {
        /* Step 10: first-stage controls from DC.fsc and DC.ta.PSCID. */
        fs_mode = pdtp_mode;
        w.fs_root = (dc.fsc & ATP_PPN) << 12;
        bool fs_active = fs_mode != 0;
        slot = fs_active ? dc.fs_slot : dc.g_slot;
        ident = fs_active ? dc.fs_identity : dc.g_identity;
        space_key = (gv ? 1ull << 63 : 0) | ((uint64_t)gscid << 32) | (fs_active ? 1ull << 31 : 0)
            | ((uint32_t)(dc.ta >> PSCID_SHIFT) & 0xFFFFF);
    } else {
        /* Steps 11 to 13; step 14 (a process context) is not modelled. */
        bool has_process_id = ((req->flags & CB_REQ_PV) != 0) || (dc.tc & TC_DPE) != 0;
        if (has_process_id && pdtp_mode != 0) {
            not_modelled(res);
            return;
        }
        fs_mode = 0;
        slot = dc.g_slot;
        ident = dc.g_identity;
        space_key = (gv ? 1ull << 63 : 0) | ((uint64_t)gscid << 32);
    }
    (void)slot;
    (void)ident;
    (void)space_key; /* IOTLB tags: unused without an IOTLB, as in the C# code */

    /* Both stages Bare and no MSI page table: the IOVA is the SPA. */
    bool both_bare = fs_mode == 0 && g_mode == 0;
    if (both_bare && (dc.msiptp >> ATP_MODE_SHIFT) != 1) {
        identity(res, req->iova);
        return;
    }

    /* Steps 17 to 20 from the IOTLB: not modelled (the caches serve the shortcut only). */
    bool cache = e->tlb.sets != NULL && !ats && !both_bare;
    if (cache) {
        not_modelled(res);
        return;
    }

    /* Dispatch(fsMode, gMode): Sv39 over a Bare G-stage only. */
    if (fs_mode != 8 || g_mode != 0) {
        not_modelled(res);
        return;
    }

    /* Step 17: the first stage. */
    if (!walk_sv39(e, &w)) {
        walk_fault(res, &w, dtf);
        return;
    }

    /* Step 18: a GPA in the MSI window would go through the MSI page table (not modelled). */
    if ((w.msiptp >> ATP_MODE_SHIFT) == 1 && is_msi_address(&w, w.gpa)) {
        not_modelled(res);
        return;
    }

    /* Step 19: G-stage Bare. */
    w.pa = w.gpa;
    w.gs_shift = 63;
    w.gs_perms = P_R | P_W | P_X;
    w.gs_dirty = true;
    w.gs_pbmt = 0;

    /* Step 20: translation complete. */
    int shift = w.fs_shift < w.gs_shift ? w.fs_shift : w.gs_shift;
    uint32_t perms = (ats ? w.fs_effective : w.fs_perms) & w.gs_perms;
    if (ats && ((perms & P_R) == 0 || req->access != EXECUTE))
        perms &= ~P_X;

    /* Svpbmt: the first stage's PBMT unless PMA, else the G-stage's. */
    uint32_t pbmt = w.fs_pbmt != 0 ? w.fs_pbmt : w.gs_pbmt;
    res->pa = ats && (dc.tc & TC_T2GPA) != 0 ? w.gpa : w.pa;
    res->page_size = 1ull << shift;
    res->memory_type = (uint8_t)pbmt;
    res->flags = (uint8_t)(CB_RES_SUCCESS | (res->flags & CB_RES_SUPPRESSED) | (perms & (P_R | P_W | P_X)));
    /* No IOTLB insert: `cache` is false (no IOTLB), as for the C# translator without one. */
}

/* ---- WalksInFlight: the walk's in-flight mark (IOFENCE.C waits for odd marks) ---- */

/* WalksInFlight.Mark: the thread's walk sequence, odd while it walks, alone in its cache line. Entering and leaving a
 * walk are plain (release) stores, as in the C#; the fence's process-wide barrier is not on this path. The C# keeps
 * one mark per thread and translator, registered on the thread's first walk; the twin keeps one per thread and
 * re-points it at the engine it walks for (the same test on every walk: the mark's registry is this engine). */
typedef struct {
    const void *registry;
    char pad0[56];
    int64_t sequence;
    char pad1[120];
} walk_mark;

_Static_assert(sizeof(walk_mark) == 192, "WalksInFlight.Mark is 192 bytes");

static __thread walk_mark *t_walk_mark;

__attribute__((noinline)) static walk_mark *register_walk_mark(const engine *e)
{
    walk_mark *m = t_walk_mark;
    if (m == NULL) {
        m = aligned_alloc(64, sizeof *m);
        if (m == NULL)
            abort();
        memset(m, 0, sizeof *m);
        t_walk_mark = m;
    }
    m->registry = e;
    return m;
}

/* WalksInFlight.Begin: the thread's mark, read once per walk and handed to its end. */
static inline walk_mark *begin_walk(const engine *e)
{
    walk_mark *m = t_walk_mark;
    if (m == NULL || m->registry != e)
        m = register_walk_mark(e);
    __atomic_store_n(&m->sequence, m->sequence | 1, __ATOMIC_RELEASE);
    return m;
}

/* WalksInFlight.Mark.End (TranslatorEngine.EndWalk). */
static inline void end_walk(walk_mark *m)
{
    __atomic_store_n(&m->sequence, m->sequence + 1, __ATOMIC_RELEASE);
}

/* ---- Translate: the micro-TLB, the second level and the shortcut, then the full process ---- */

/* Iotlb flags of a first-stage leaf over a Bare G-stage (TranslatorEngine.FirstStageFlags): R, W, X, U, G, D as
 * DirtyOk, the page shift, the PBMT. */
static inline uint32_t first_stage_flags(uint64_t leaf, int shift)
{
    return ((uint32_t)(leaf >> 1) & (F_R | F_W | F_X | F_USER | F_GLOBAL)) | ((uint32_t)(leaf >> 2) & F_DIRTY)
           | ((uint32_t)shift << F_SHIFT_SHIFT) | (((uint32_t)(leaf >> 61) & 3) << F_PBMT_SHIFT);
}

/* TranslateFirstStage<Sv39>: the walk of a first-stage-only DC, then step 20 with a Bare G-stage and the IOTLB fill
 * (where the probe chose, `hint`, for a 4 KiB leaf). The space's epochs and the IOTLB's invalidation sequence were
 * read by the caller before the walk. */
static void translate_first_stage(engine *e, const cb_hw_miss_request *req, uint64_t fsc, uint32_t tc, walk_mark *mark,
                                  int32_t slot, uint32_t gen, uint32_t all_gen, int64_t inval_seq, int hint,
                                  cb_hw_miss_result *res)
{
    walk w;
    w.iova = req->iova;
    w.access = req->access;
    w.supervisor = false;
    w.sum = false;
    w.sade = (tc & TC_SADE) != 0;
    w.ats = false;
    w.svpbmt = has(e->caps, CAP_SVPBMT);
    w.fs_root = (fsc & ATP_PPN) << 12;
    int64_t epoch = mark == NULL ? ACQUIRE(e->fence_epoch) : 0; /* validated (SADE-less) walk: the epoch before */
    bool walked = walk_sv39(e, &w);
    if (mark == NULL && ACQUIRE(e->fence_epoch) != epoch) { /* and after: moved, walk again marked (never here) */
        memset(res, 0, sizeof *res);
        not_modelled(res);
        return;
    }
    if (!walked) {
        if (mark)
            end_walk(mark);
        memset(res, 0, sizeof *res);
        res->iotval = req->iova;
        res->ttyp = ttyp_of(req->access, false, false);
        walk_fault(res, &w, (tc & TC_DTF) != 0);
        return;
    }
    int shift = w.fs_shift;
    uint32_t flags = first_stage_flags(w.fs_leaf, shift);
    if (e->tlb.sets) {
        if (shift == 12 && hint != TLB_NO_HINT) {
            tlb_insert_page(&e->tlb, hint, slot, gen, all_gen, inval_seq, req->iova, w.gpa & ~0xFFFull, flags);
        } else {
            int level = (shift - 12) / 9;
            tlb_insert(&e->tlb, slot, gen, all_gen, inval_seq, req->iova, level, w.gpa & ~((1ull << (12 + 9 * level)) - 1),
                       flags);
        }
    }
    if (mark)
        end_walk(mark);
    hit_result(req, w.gpa, shift, (flags >> F_PBMT_SHIFT) & 3, flags, res);
}

/* TranslateMarked: a walk from here on, marked in flight; TranslateWalk: steps 1, 2, 5 by the device_id limit, then
 * the DC's walk plan (the shortcut, marked), else TranslateFully. */
static void translate_marked(engine *e, const cb_hw_miss_request *req, cb_hw_miss_result *res)
{
    walk_mark *mark = begin_walk(e);
    uint64_t fsc;
    uint32_t tc, ident;
    int32_t slot;
    if ((req->flags & (CB_REQ_ATS | CB_REQ_TRANSLATED | CB_REQ_PV)) == 0 && req->device_id < ACQUIRE(e->hit_device_limit)
        && try_get_dc_walk(e, req->device_id, &fsc, &tc, &slot, &ident)) {
        uint32_t gen = 0, all_gen = 0;
        int64_t inval_seq = 0;
        bool recycled = false;
        if (e->tlb.sets) {
            const space_slot *s = &e->slots[slot];
            gen = ACQUIRE(s->gen);
            all_gen = ACQUIRE(s->all_gen);
            recycled = ACQUIRE(s->identity) != ident;
            inval_seq = ACQUIRE(e->tlb.inval_seq);
        }
        if (!recycled) {
            if ((fsc >> ATP_MODE_SHIFT) != 8) { /* Sv48, Sv57: not modelled */
                end_walk(mark);
                memset(res, 0, sizeof *res);
                not_modelled(res);
                return;
            }
            translate_first_stage(e, req, fsc, tc, mark, slot, gen, all_gen, inval_seq, TLB_NO_HINT, res);
            return;
        }
    }
    translate_fully(e, req, res); /* TranslateFullyThenEnd */
    end_walk(mark);
}

/* TranslateMissWithoutProcessId: the second level and the miss of an untranslated request without process_id, the
 * probe and the walk fused: one read of the cached DC and of its space's epochs serves the IOTLB probe and, on a
 * miss, the shortcut, whose fill takes the set and way the probe chose. */
__attribute__((noinline)) static void translate_miss_without_process_id(engine *e, const cb_hw_miss_request *req,
                                                                         cb_hw_miss_result *res)
{
    uint32_t did = req->device_id;
    uint32_t epoch = e->micro.entries ? (uint32_t)HWC_VREAD32(e->micro.context_epoch) : 0;
    int32_t slot;
    uint32_t ident, tc;
    uint64_t fsc;
    if (did >= ACQUIRE(e->hit_device_limit) || !try_get_dc_miss(e, did, &slot, &ident, &fsc, &tc)) {
        translate_marked(e, req, res);
        return;
    }
    uint32_t gen = 0, all_gen = 0;
    int64_t inval_seq = 0;
    int hint = TLB_NO_HINT;
    if (e->tlb.sets) {
        if (slot < 0) {
            translate_marked(e, req, res);
            return;
        }
        const space_slot *s = &e->slots[slot];
        epoch += (uint32_t)HWC_VREAD32(s->micro_epoch);
        gen = ACQUIRE(s->gen);
        all_gen = ACQUIRE(s->all_gen);
        if (ACQUIRE(s->identity) != ident) {
            translate_marked(e, req, res); /* the slot was recycled */
            return;
        }
        uint64_t pa;
        uint32_t flags;
        if (tlb_lookup(&e->tlb, slot, gen, all_gen, req->iova, &pa, &flags, &hint)) {
            if (hit_permits(flags, req->access, 0, 0)) {
                if (e->micro.entries)
                    micro_fill(&e->micro, micro_page_key(req->iova, 0), did, slot, epoch, pa, flags, 0, 0);
                hit_result(req, pa, (int)((flags >> F_SHIFT_SHIFT) & 0xFF), (flags >> F_PBMT_SHIFT) & 3, flags, res);
                return;
            }
            hint = TLB_NO_HINT; /* an entry that does not permit the access: the walk's fill finds it */
        }
        inval_seq = ACQUIRE(e->tlb.inval_seq); /* before the walk reads a table */
    }
    /* The shortcut without SADE, validated by the fence epoch; anything else is a marked walk. */
    if (fsc == 0 || (tc & TC_SADE) != 0) {
        translate_marked(e, req, res);
        return;
    }
    if ((fsc >> ATP_MODE_SHIFT) != 8) { /* Sv48, Sv57: not modelled */
        memset(res, 0, sizeof *res);
        not_modelled(res);
        return;
    }
    translate_first_stage(e, req, fsc, tc, NULL, slot, gen, all_gen, inval_seq, hint, res);
}

/* TranslatorEngine.Translate: an untranslated request without process_id through the micro-TLB, else
 * TranslateMissWithoutProcessId; any other request to TranslateMiss, whose cached path (a process_id's DC, PC and
 * IOTLB) the twin does not model when the caches are on. */
__attribute__((noinline)) static void translate(engine *e, const cb_hw_miss_request *req, cb_hw_miss_result *res)
{
    if ((req->flags & (CB_REQ_ATS | CB_REQ_TRANSLATED)) == 0) {
        if ((req->flags & CB_REQ_PV) == 0) {
            uint64_t data;
            if (e->micro.entries && req->device_id < ACQUIRE(e->hit_device_limit)
                && micro_lookup(&e->micro, micro_page_key(req->iova, 0), req->device_id, &data)
                && hit_permits((uint32_t)data, req->access, 0, ((uint32_t)data & M_SUM) != 0)) {
                hit_result(req, (data & M_PA_MASK) | (req->iova & 0xFFF), (int)(data >> M_SHIFT_SHIFT),
                           (uint32_t)(data >> M_PBMT_SHIFT) & 3, (uint32_t)data, res);
                return;
            }
            translate_miss_without_process_id(e, req, res);
            return;
        }
        if (e->tlb.sets) {
            memset(res, 0, sizeof *res);
            not_modelled(res);
            return;
        }
    }
    translate_marked(e, req, res);
}

/* ---- API ---- */

typedef struct cb_hw_miss {
    engine e;
    cb_hw_miss_request *reqs;
    uint64_t count;
} cb_hw_miss;

cb_hw_miss *cb_hw_miss_create(void *memory, uint64_t memory_pa, uint64_t memory_size, uint64_t ddtp, uint64_t caps,
                              uint32_t dc_entries)
{
    if (memory == NULL || memory_size < 8 || memory_pa + memory_size < memory_pa
        || (dc_entries & (dc_entries - 1)) != 0)
        return NULL;
    cb_hw_miss *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    /* IommuTranslator.SetDdtp: DDI[0] is 6 bits with the extended DC format (MSI_FLAT), else 7. */
    uint32_t ddi0_bits = has(caps, CAP_MSI_FLAT) ? 6 : 7;
    uint32_t mode = (uint32_t)ddtp & 0xF;
    uint32_t limit = mode == DDTP_1LVL ? 1u << ddi0_bits : mode == DDTP_2LVL ? 1u << (ddi0_bits + 9) : mode == DDTP_3LVL ? 1u << 24 : 0;
    h->e = (engine){ .ddtp = ddtp, .caps = caps, .hit_device_limit = limit, .dc_len = (int)dc_entries,
                     .mem = memory, .mem_base = memory_pa, .mem_size = memory_size };
    if (dc_entries != 0 && !(h->e.dc = calloc(dc_entries, sizeof(dc_entry)))) {
        free(h);
        return NULL;
    }
    return h;
}

void cb_hw_miss_destroy(cb_hw_miss *h)
{
    if (!h)
        return;
    free(h->reqs);
    free(h->e.dc);
    free(h->e.tlb.sets);
    free(h->e.micro.entries);
    free(h->e.slots);
    free(h);
}

int cb_hw_miss_enable_caches(cb_hw_miss *h, uint32_t iotlb_entries, uint32_t micro_entries, uint32_t spaces)
{
    engine *e = &h->e;
    if (e->tlb.sets || iotlb_entries < 4 || (iotlb_entries & (iotlb_entries - 1)) != 0
        || (micro_entries & (micro_entries - 1)) != 0 || spaces == 0 || e->dc_len == 0)
        return CB_EINVAL;
    for (int i = 0; i < e->dc_len; i++)
        if (e->dc[i].key != 0)
            return CB_EINVAL; /* DCs put before have no slot */
    uint32_t sets = iotlb_entries / 4;
    /* aligned_alloc wants a size that is a multiple of the alignment: the entries rounded up to a line, then the
     * replace tick's own line. */
    size_t micro_bytes = ((size_t)micro_entries * sizeof(micro_entry) + 63) / 64 * 64 + 64;
    e->tlb.sets = aligned_alloc(64, sets * sizeof(tlb_set));
    e->micro.entries = micro_entries ? aligned_alloc(64, micro_bytes) : NULL;
    e->slots = calloc(spaces, sizeof(space_slot));
    if (!e->tlb.sets || (micro_entries && !e->micro.entries) || !e->slots) {
        free(e->tlb.sets);
        free(e->micro.entries);
        free(e->slots);
        e->tlb.sets = NULL;
        e->micro.entries = NULL;
        e->slots = NULL;
        return CB_ENOMEM;
    }
    memset(e->tlb.sets, 0, sets * sizeof(tlb_set));
    if (micro_entries)
        memset(e->micro.entries, 0, micro_bytes);
    /* Iotlb's constructor: the set index is the top log2(sets) bits of the hash (one set: always 0). */
    e->tlb.set_shift = sets == 1 ? 63 : 64 - __builtin_ctz(sets);
    e->tlb.set_mask = (int)sets - 1;
    e->micro.mask = micro_entries ? micro_entries - 1 : 0;
    e->micro.replace_tick = micro_entries ? (uint32_t *)((char *)e->micro.entries + micro_bytes - 64) : NULL; /* its own line */
    e->micro.slots = e->slots;
    e->slot_capacity = (int)spaces;
    return CB_OK;
}

/* AddressSpaceTable: the slot of a first-stage space key, made on first use (identity slot + 1, epochs 1). */
static int32_t space_slot_of(engine *e, uint64_t key, uint32_t *ident)
{
    for (int i = 0; i < e->slot_count; i++)
        if (e->slots[i].key == key) {
            *ident = e->slots[i].identity;
            return i;
        }
    if (e->slot_count == e->slot_capacity)
        return -1;
    int i = e->slot_count++;
    e->slots[i] = (space_slot){ .identity = (uint32_t)i + 1, .gen = 1, .all_gen = 1, .micro_epoch = 1, .key = key,
                                .gsc_index = -1, .next = -1 };
    *ident = e->slots[i].identity;
    return i;
}

int cb_hw_miss_put_dc(cb_hw_miss *h, uint32_t device_id, uint64_t tc, uint64_t iohgatp, uint64_t ta, uint64_t fsc)
{
    engine *e = &h->e;
    if (e->dc_len == 0 || device_id > 0xFFFFFF)
        return CB_EINVAL;
    dc_entry *d = &e->dc[dc_index(device_id, e->dc_len)];
    /* DirectoryCaches.PutDc: take the entry (odd sequence), fill it, release it (sequence + 2). */
    int32_t start = d->seq;
    __atomic_store_n(&d->seq, start + 1, __ATOMIC_SEQ_CST);
    dc_info info = { .tc = tc, .iohgatp = iohgatp, .ta = ta, .fsc = fsc, .fs_slot = -1, .g_slot = -1, .stamp = 1 };
    bool fs_active = (fsc >> 60) != 0;
    if (e->slots && (tc & TC_PDTV) == 0 && fs_active && (iohgatp >> 60) == 0) {
        /* With the caches on, the first stage's space (its key as TranslateFully builds it, G-stage Bare). */
        uint64_t key = (1ull << 31) | ((uint32_t)(ta >> PSCID_SHIFT) & 0xFFFFF);
        if ((info.fs_slot = space_slot_of(e, key, &info.fs_identity)) < 0) {
            __atomic_store_n(&d->seq, start + 2, __ATOMIC_RELEASE);
            return CB_ENOMEM;
        }
    }
    d->key = device_id | VALID_KEY;
    d->ddt_gen = e->ddt_gen;
    d->hit_slot = (tc & TC_PDTV) != 0 ? -1 : fs_active ? info.fs_slot : info.g_slot;
    d->hit_identity = fs_active ? info.fs_identity : info.g_identity;
    d->hit_pid_limit = (tc & TC_PDTV) == 0 ? 0 : (fsc >> 60) == 1 ? 1u << 8 : (fsc >> 60) == 2 ? 1u << 17 : (fsc >> 60) == 3 ? 1u << 20 : 0;
    d->stamp = info.stamp;
    /* The walk plan (DirectoryCaches.PutDc): PDTV = 0, iohgatp Bare, no MSI page table (base format), Sv39/48/57. */
    uint64_t mode = fsc >> 60;
    d->walk_fsc = (tc & TC_PDTV) == 0 && (iohgatp >> 60) == 0 && (mode == 8 || mode == 9 || mode == 10) ? fsc : 0;
    d->walk_tc = (uint32_t)(tc & (TC_SADE | TC_DTF));
    d->info = info;
    __atomic_store_n(&d->seq, start + 2, __ATOMIC_RELEASE);
    return CB_OK;
}

void cb_hw_miss_translate(cb_hw_miss *h, const cb_hw_miss_request *request, cb_hw_miss_result *result)
{
    translate(&h->e, request, result);
}

int cb_hw_miss_set_requests(cb_hw_miss *h, const void *requests, uint64_t count)
{
    cb_hw_miss_request *copy = count ? malloc(count * sizeof *copy) : NULL;
    if (count && !copy)
        return CB_ENOMEM;
    if (count)
        memcpy(copy, requests, count * sizeof *copy);
    free(h->reqs);
    h->reqs = copy;
    h->count = count;
    return CB_OK;
}

uint64_t cb_hw_miss_layout(int what)
{
    switch (what) {
    case 0: return sizeof(cb_hw_miss_request);
    case 1: return sizeof(cb_hw_miss_result);
    case 2: return sizeof(dc_info);
    default: return 0;
    }
}

uint64_t cb_bench_hw_miss(cb_hw_miss *h, uint64_t iterations)
{
    uint64_t sum = 0;
    cb_hw_miss_result r;
    for (uint64_t it = 0; it < iterations; it++)
        for (uint64_t i = 0; i < h->count; i++) {
            translate(&h->e, &h->reqs[i], &r);
            sum += r.pa;
        }
    return sum;
}
