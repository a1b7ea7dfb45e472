/*
 * FastIommu C baseline: a plain C11 RISC-V page-table engine doing the same work, with the same semantics,
 * as the C# PageTable<TMode>. It is the yardstick the BenchmarkDotNet suite compares the C# engine against.
 *
 * - Physical memory is one preallocated, 4 KiB aligned arena standing for [base_pa, base_pa + size).
 * - Tables come from a lock-free page allocator over the arena: a Treiber stack of freed pages (ABA tag in
 *   the high 32 bits of its head) in front of a bump pointer; every page is zeroed when handed out.
 * - PTEs are the privileged spec's Sv39/Sv48/Sv57 (first stage) and Sv39x4/Sv48x4/Sv57x4 (G-stage, 2048-entry
 *   16 KiB root) format. Leaves get V and A, D when writable (no A/D update faults, as Linux presets them);
 *   G-stage leaves get U (required there) and G is refused in a G-stage.
 * - The algorithm is the C# engine's, step for step, so both do the same work: map picks for each run the largest
 *   leaf (4 KiB, 2 MiB, 1 GiB, ...) that iova and pa are aligned to and the rest of the range covers; a leaf or a
 *   table where the leaf would go is an overlap (CB_EEXIST). Map first tries with the tables present; when one is
 *   missing it preflights the rest (overlap, tables needed vs free pages) before creating tables, and a failed
 *   call leaves no leaf behind.
 * - Lock-free: a table is installed by CAS into an empty slot; leaves are set and cleared by release stores into
 *   entries checked and reserved by this call (concurrent calls on overlapping ranges are a caller bug, as in the
 *   C# engine). Each table has a side word gen:31|dead:1|count:32 (valid entries + reservations);
 *   mappers reserve entries before filling them, and whoever brings a count to 0 marks the table dead, unlinks it
 *   and puts it into the gather, freed by cb_gather_complete (after the IOTLB invalidation a driver issues).
 *   Walks read each table's generation and validate the path before acting (seqlock-like), so a table that died
 *   and was reused meanwhile is never written to or translated through; iova_to_phys walks plainly between two
 *   reads of a table-death counter and falls back to the validated walk when it moved.
 * - unmap refuses (changing nothing) a range that would cut a superpage in part; holes are skipped.
 *
 * Errors are values: nothing is changed by a call that returns an error status.
 */
#ifndef FASTIOMMU_CBASELINE_H
#define FASTIOMMU_CBASELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CB_API __attribute__((visibility("default")))
#else
#define CB_API
#endif

/* Same order as FastIommu.Formats.RiscV.PagingModeKind. */
enum cb_mode { CB_SV39 = 0, CB_SV48 = 1, CB_SV57 = 2, CB_SV39X4 = 3, CB_SV48X4 = 4, CB_SV57X4 = 5 };

/* Same bits as FastIommu.PageTables.PageProtection; PTE bits are these shifted left by one. */
enum cb_prot { CB_READ = 1, CB_WRITE = 2, CB_EXECUTE = 4, CB_USER = 8, CB_GLOBAL = 16 };

enum cb_status {
    CB_OK = 0,
    CB_EINVAL = 1, /* zero or unaligned size/iova/pa, non-canonical or wrapping range, bad prot or pbmt */
    CB_EEXIST = 2, /* the range overlaps an existing mapping */
    CB_ENOMEM = 3, /* no page left for a table */
};

/* PTE bits (privileged spec, Sv39 page table entry). */
#define CB_PTE_V (1ull << 0)
#define CB_PTE_R (1ull << 1)
#define CB_PTE_W (1ull << 2)
#define CB_PTE_X (1ull << 3)
#define CB_PTE_U (1ull << 4)
#define CB_PTE_G (1ull << 5)
#define CB_PTE_A (1ull << 6)
#define CB_PTE_D (1ull << 7)
#define CB_PTE_PPN_SHIFT 10
#define CB_PTE_PPN_MASK (((1ull << 44) - 1) << CB_PTE_PPN_SHIFT)
#define CB_PTE_PBMT_SHIFT 61

/* One engine instance: arena, allocator, one page table of one mode, and a gather for the calls below. */
typedef struct cb_ctx cb_ctx;

/* Creates an arena of arena_bytes (multiple of 4 KiB) at physical base_pa and a page table of the mode.
 * Returns NULL on bad arguments or host memory exhaustion. */
CB_API cb_ctx *cb_create(int mode, uint64_t arena_bytes, uint64_t base_pa);
CB_API void cb_destroy(cb_ctx *ctx);

CB_API uint64_t cb_root_pa(const cb_ctx *ctx);
CB_API int64_t cb_pages_in_use(const cb_ctx *ctx);
/* The 64-bit word at physical address pa of the arena (tests read table images with it). */
CB_API uint64_t cb_read_qword(const cb_ctx *ctx, uint64_t pa);

/* Maps [iova, iova + size) to [pa, pa + size). prot: cb_prot bits (R or X required, W needs R); pbmt 0..2. */
CB_API int cb_map(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot, uint32_t pbmt);
/* Unmaps [iova, iova + size); returns the bytes unmapped. Unlinked tables wait in the context's gather. */
CB_API uint64_t cb_unmap(cb_ctx *ctx, uint64_t iova, uint64_t size);
/* Frees the table pages the unmaps since the last call unlinked. */
CB_API void cb_gather_complete(cb_ctx *ctx);
/* 1 and *pa when iova is mapped, else 0. */
CB_API int cb_iova_to_phys(const cb_ctx *ctx, uint64_t iova, uint64_t *pa);
/* The leaf PTE mapping iova and its level (0 = 4 KiB); returns 0 when there is none. */
CB_API int cb_walk(const cb_ctx *ctx, uint64_t iova, uint64_t *pte, int *level);

/* ---- Benchmark loops: the loops run inside C so no per-call interop is timed. ----
 * Each returns a checksum (bytes unmapped or sum of translated addresses) so nothing is optimised away,
 * or UINT64_MAX when an operation failed. */

/* iterations x { map(iova, pa, size); unmap(iova, size); gather complete }. */
CB_API uint64_t cb_bench_map_unmap(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot,
                                   uint64_t iterations);
/* Map alone / unmap alone: for each of `slots` 2 MiB slots from iova, pages 0 .. pages_per_slot - 1, one 4 KiB
 * call per page (map: to pa + the same offset, R|W; unmap: then gather completion). Map returns bytes mapped,
 * unmap bytes unmapped. */
CB_API uint64_t cb_bench_map_each(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t slots, uint64_t pages_per_slot);
CB_API uint64_t cb_bench_unmap_each(cb_ctx *ctx, uint64_t iova, uint64_t slots, uint64_t pages_per_slot);
/* iterations x { map [iova, iova + bytes) one page_size call at a time; unmap it in one call; complete }. */
CB_API uint64_t cb_bench_populate_teardown(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t bytes,
                                           uint64_t page_size, uint64_t iterations);
/* iterations x sum of iova_to_phys(iova + i * 4096) for i in [0, pages). */
CB_API uint64_t cb_bench_translate_sequential(const cb_ctx *ctx, uint64_t iova, uint64_t pages, uint64_t iterations);
/* iterations x sum of iova_to_phys(iova + indices[i] * 4096) for i in [0, count). */
CB_API uint64_t cb_bench_translate_indexed(const cb_ctx *ctx, uint64_t iova, const uint32_t *indices, uint64_t count,
                                           uint64_t iterations);
/* As the two above (indices NULL: sequential) with the plain, unvalidated walk a C driver's iova_to_phys does.
 * Not the C# engine's semantics: shown only to price the validation. */
CB_API uint64_t cb_bench_translate_plain(const cb_ctx *ctx, uint64_t iova, const uint32_t *indices, uint64_t count,
                                         uint64_t iterations);

/* C twin of the hardware model's IOTLB hit (hw_twin.c): the same caches, layouts and steps. cb_bench_iotlb_hit is the
 * second level alone (micro-TLB off). cb_hw_create fills the IOTLB with iova_base + indices[i] * 4 KiB -> pa_base + indices[i] * 4 KiB (NULL on allocation failure);
 * cb_bench_iotlb_hit translates iova + 0x10 for each index, iterations times, and returns the sum of the PAs. */
typedef struct cb_hw cb_hw;
CB_API cb_hw *cb_hw_create(uint64_t iova_base, uint64_t pa_base, const uint32_t *indices, uint64_t count);
CB_API void cb_hw_destroy(cb_hw *h);
CB_API uint64_t cb_bench_iotlb_hit(const cb_hw *h, uint64_t iterations);
/* The same pages through device 2, process_id 3 (PDTV = 1, PD8, PC cached): the hit path with a process_id. */
CB_API uint64_t cb_bench_iotlb_hit_process_id(const cb_hw *h, uint64_t iterations);
/* The two above with the micro-TLB in front (1024 entries, filled by cb_hw_create): its hit path. */
CB_API uint64_t cb_bench_micro_hit(const cb_hw *h, uint64_t iterations);
CB_API uint64_t cb_bench_micro_hit_process_id(const cb_hw *h, uint64_t iterations);
/* C twin of the hardware model's IOTLB miss (hw_miss_twin.c): TranslatorEngine.Translate with no IOTLB and the DC in
 * the DDT cache, over the caller's physical memory (the C# PhysicalMemory's host pointer, base PA and size), with
 * the same request / result / DDT-cache layouts and the same steps and per-PTE checks (Sv39 first stage, Bare
 * G-stage); with cb_hw_miss_enable_caches, the same miss with the caches on. Paths it does not model (DC not
 * cached, process contexts, other modes, MSI) give cause CB_HW_MISS_NOT_MODELLED. */
typedef struct { /* FastIommu.Hardware.TranslationRequest, field for field (24 bytes, as the C API's request) */
    uint64_t iova;
    uint32_t device_id, process_id;
    uint32_t flags;  /* CB_REQ_* */
    uint32_t access; /* 0 read, 1 write, 2 execute */
} cb_hw_miss_request;
#define CB_REQ_PV 1u         /* process_id valid */
#define CB_REQ_PRIV 2u       /* supervisor privilege (with PV only) */
#define CB_REQ_ATS 4u        /* a PCIe ATS translation request */
#define CB_REQ_TRANSLATED 8u /* a translated request */
typedef struct { /* FastIommu.Hardware.TranslationResult, field for field (40 bytes) */
    uint64_t pa, page_size, iotval, iotval2;
    uint16_t cause; /* FaultCause */
    uint8_t ttyp, memory_type; /* TransactionType, PageBasedMemoryType */
    uint8_t flags;             /* CB_RES_* */
} cb_hw_miss_result;
/* TranslationResult's flag byte. */
#define CB_RES_R 1u
#define CB_RES_W 2u
#define CB_RES_X 4u
#define CB_RES_SUCCESS 8u
#define CB_RES_SUPPRESSED 16u
#define CB_HW_MISS_NOT_MODELLED 0xFFFF
typedef struct cb_hw_miss cb_hw_miss;
/* ddtp and capabilities as the registers hold them; dc_entries: DDT-cache size (power of two, 0 = none). NULL on
 * bad arguments or allocation failure. The memory must outlive the twin. */
CB_API cb_hw_miss *cb_hw_miss_create(void *memory, uint64_t memory_pa, uint64_t memory_size, uint64_t ddtp,
                                     uint64_t caps, uint32_t dc_entries);
CB_API void cb_hw_miss_destroy(cb_hw_miss *h);
/* The caches of the C# default (TranslatorCacheOptions): an IOTLB of iotlb_entries (a power of two, at least 4), a
 * micro-TLB of micro_entries (a power of two, or 0: none) and up to `spaces` address spaces, with the same layouts and rules
 * (hw_caches.h). Then an untranslated request without process_id goes as in the C#: the micro-TLB, the IOTLB probe
 * with its fill hint, the shortcut's walk and its fill (a process_id's cached path, ATS and translated requests:
 * CB_HW_MISS_NOT_MODELLED). Call before any cb_hw_miss_put_dc (CB_EINVAL after). */
CB_API int cb_hw_miss_enable_caches(cb_hw_miss *h, uint32_t iotlb_entries, uint32_t micro_entries, uint32_t spaces);
/* Puts a device context (base format: tc, iohgatp, ta, fsc) in the DDT cache, as a DDT walk would have; with the
 * caches on, a first-stage DC (PDTV = 0, G-stage Bare) gets the address-space slot of its PSCID. */
CB_API int cb_hw_miss_put_dc(cb_hw_miss *h, uint32_t device_id, uint64_t tc, uint64_t iohgatp, uint64_t ta, uint64_t fsc);
/* With the caches on (cb_hw_miss_enable_caches), a translation may fill them: the twin is not const. */
CB_API void cb_hw_miss_translate(cb_hw_miss *h, const cb_hw_miss_request *request, cb_hw_miss_result *result);
/* Copies count requests (C# TranslationRequest bytes) for the benchmark loop. */
CB_API int cb_hw_miss_set_requests(cb_hw_miss *h, const void *requests, uint64_t count);
/* sizeof: 0 request, 1 result, 2 DeviceContextInfo (the bench checks them against the C# types). */
CB_API uint64_t cb_hw_miss_layout(int what);
/* iterations x sum of the PAs of the requests (0 for a fault, as the C# loop sums PhysicalAddress). */
CB_API uint64_t cb_bench_hw_miss(cb_hw_miss *h, uint64_t iterations);
/* The bare Sv39 walk (plain_walk.c) over the model's memory (host pointer, base PA) from root_pa, for the IOVAs of
 * count C# requests, iterations times: the sum of the PAs (0 where no leaf). The floor a realistic miss is judged by. */
CB_API uint64_t cb_bench_plain_walk_sv39(const void *memory, uint64_t memory_pa, uint64_t root_pa,
                                         const cb_hw_miss_request *requests, uint64_t count, uint64_t iterations);

/* Callgrind client requests for the instruction-count harness (bench/callgrind-miss.sh): zero the counters, and
 * dump them under a name. No-ops outside valgrind, and when valgrind's headers were missing at build time. */
CB_API void cb_callgrind_zero(void);
CB_API void cb_callgrind_dump(const char *name);
/* 1 when running under valgrind (0 as well when built without valgrind's headers). */
CB_API int cb_running_on_valgrind(void);

/* threads (1..8) threads, thread t maps [iova + t * stride, + bytes) 4 KiB at a time then unmaps it
 * (own gather, completed), iterations times; all start together. With threads == 1 one thread does the
 * work of `ranges` threads one range after the other. Returns the sum of bytes unmapped. */
CB_API uint64_t cb_bench_populate_parallel(cb_ctx *ctx, uint64_t iova, uint64_t stride, uint64_t pa,
                                           uint64_t bytes, int ranges, int threads, uint64_t iterations);

#ifdef __cplusplus
}
#endif

#endif
