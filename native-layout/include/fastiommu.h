/*
 * fastiommu.h - the C ABI of FastIommu (libfastiommu.so, built with NativeAOT from src/FastIommu.Native).
 *
 * A RISC-V IOMMU v1.0 for emulators written in C or C++: physical memory (owned, wrapping the emulator's RAM,
 * or reached through callbacks), a page allocator, page tables of every mode built lock-free in the spec's exact
 * layout, and the hardware device model (registers, DDT/PDT walk, two-stage translation, IOTLB, queues).
 * The hardware structures themselves (PTEs, contexts, commands, fault records, register offsets) are in
 * riscv_iommu.h.
 *
 * Conventions
 *  - Every call returns a fastiommu_status; FASTIOMMU_OK is 0. On failure nothing was changed (no partial mapping,
 *    no leaked page) and fastiommu_last_error() describes why. No input and no call order crashes the process:
 *    a stale, destroyed or forged handle, a NULL pointer or an out-of-range argument is a status.
 *  - Objects are opaque handles: a 64-bit value made of a slot and a generation, so a destroyed handle is refused
 *    even after its slot is reused. The handle table is the library's only global state; any number of memories,
 *    tables and devices live side by side in one process.
 *  - An object that borrows another keeps it alive: an allocator its memory, a page table its allocator, a device
 *    its memory. Destroying a lender while borrowers live is refused with FASTIOMMU_ERR_IN_USE.
 *  - Output parameters are written only on FASTIOMMU_OK unless a call says otherwise.
 *
 * Threads
 *  - Every call may be made from any thread. fastiommu_last_error() is per thread.
 *  - Destroying an object must not race another call on the same object (as with free()); calls on other objects
 *    are unaffected. A call made after the destroy returned gets FASTIOMMU_ERR_INVALID_HANDLE.
 *  - Each call below says what it may run beside.
 *
 * The driver layer (a kernel IOMMU driver: instances, groups, devices, domains, attach/replace, PASIDs, SVA,
 * map/unmap/sync) and table images (capture, save, load, dump) follow the same conventions, with handle kinds of
 * their own; see their sections at the end.
 */
#ifndef FASTIOMMU_H
#define FASTIOMMU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Incremented when a signature or a struct of this header changes incompatibly. Compare with
 * fastiommu_abi_version() at start-up. */
#define FASTIOMMU_ABI_VERSION 1u

/* ------------------------------------------------------------------------------------------------ status */

/* The result of every call. Positive values are errors; a call that fails changes nothing. */
typedef enum fastiommu_status {
    FASTIOMMU_OK = 0,
    FASTIOMMU_ERR_INVALID_HANDLE = 1,     /* handle destroyed, stale, of another kind, or never made */
    FASTIOMMU_ERR_INVALID_ARGUMENT = 2,   /* NULL pointer, zero or malformed size, unknown flag bits, bad offset */
    FASTIOMMU_ERR_OUT_OF_MEMORY = 3,      /* the allocator (or the host) has no page left */
    FASTIOMMU_ERR_IN_USE = 4,             /* destroy refused: live handles borrow the object, or work is pending */
    FASTIOMMU_ERR_HANDLE_TABLE_FULL = 5,  /* 2^20 live handles */
    FASTIOMMU_ERR_ACCESS_FAULT = 6,       /* a physical address outside the memory, or misaligned */
    FASTIOMMU_ERR_UNSUPPORTED = 7,        /* the object cannot do this (e.g. an allocator over callback memory) */
    FASTIOMMU_ERR_MISALIGNED = 8,         /* IOVA, PA or size not 4 KiB aligned */
    FASTIOMMU_ERR_IOVA_OUT_OF_RANGE = 9,  /* not a legal input address of the paging mode, or the range wraps */
    FASTIOMMU_ERR_PA_OUT_OF_RANGE = 10,   /* does not fit a PTE's 56-bit physical address */
    FASTIOMMU_ERR_INVALID_PROTECTION = 11,/* no R/W/X, W without R, G in a G-stage, reserved PBMT */
    FASTIOMMU_ERR_OVERLAP = 12,           /* part of the range is already mapped */
    FASTIOMMU_ERR_PARTIAL_SUPERPAGE = 13, /* unmap would cut a superpage or a 64 KiB NAPOT range */
    FASTIOMMU_ERR_NOT_MAPPED = 14,        /* iova_to_phys of an unmapped IOVA */
    FASTIOMMU_ERR_FOREIGN_GATHER = 15,    /* the gather holds table pages of another allocator: complete it first */
    FASTIOMMU_ERR_INTERNAL = 16,          /* a bug of FastIommu: please report with fastiommu_last_error() */
    FASTIOMMU_ERR_IMAGE_FORMAT = 17,      /* a table image is malformed (the reason and offset in the message) */
    FASTIOMMU_ERR_TIMEOUT = 18,           /* the IOMMU did not complete a command (fence) in time */
    FASTIOMMU_ERR_COMMAND_QUEUE = 19,     /* the IOMMU stopped its command queue (cmd_ill, cqmf) on a driver command */
    FASTIOMMU_ERR_IDS_EXHAUSTED = 20,     /* no PSCID, GSCID or PASID left */
    FASTIOMMU_ERR_BUFFER_TOO_SMALL = 21,  /* the size needed was written; call again with a buffer that large */
    FASTIOMMU_ERR_IO = 22                 /* a file could not be read or written */
} fastiommu_status;

/* The message of the last failed call on this thread ("" if none), NUL-terminated UTF-8, beginning with the
 * status name. Valid until the next failed call on the same thread; successful calls leave it unchanged. */
const char *fastiommu_last_error(void);

/* "FASTIOMMU_OK", "FASTIOMMU_ERR_OVERLAP", ...; a static string. */
const char *fastiommu_status_name(fastiommu_status status);

/* FASTIOMMU_ABI_VERSION of the library loaded. */
uint32_t fastiommu_abi_version(void);

/* ------------------------------------------------------------------------------------------------ handles */

/* Opaque handles. The zero value ({0}) is never a live handle. */
typedef struct fastiommu_memory { uint64_t id; } fastiommu_memory;
typedef struct fastiommu_allocator { uint64_t id; } fastiommu_allocator;
typedef struct fastiommu_page_table { uint64_t id; } fastiommu_page_table;
typedef struct fastiommu_gather { uint64_t id; } fastiommu_gather;
typedef struct fastiommu_iommu { uint64_t id; } fastiommu_iommu;

/* ------------------------------------------------------------------------------------------------ memory */

/* Physical memory the library allocates: size bytes (a non-zero multiple of 4 KiB), zeroed, standing for the
 * physical range [base_pa, base_pa + size) (base_pa 4 KiB aligned). Freed by fastiommu_memory_destroy. */
fastiommu_status fastiommu_memory_create(uint64_t size, uint64_t base_pa, fastiommu_memory *memory);

/* Wraps the caller's RAM (an emulator's guest memory) without copying: host (8-byte aligned) stands for
 * base_pa. The caller keeps it mapped until the handle is destroyed; the library never frees it. */
fastiommu_status fastiommu_memory_wrap(void *host, uint64_t size, uint64_t base_pa, fastiommu_memory *memory);

/* Memory the emulator reaches through its own functions, for guest memory that is not one flat block (MMIO
 * holes, sparse RAM, a bus). Each returns 0 on success and non-zero for an access fault (which the device model
 * reports as the spec's access-fault cause). 8-byte accesses at 8-byte aligned addresses must be single-copy
 * atomic; compare_exchange64 is the atomic that sets PTE A/D bits and must be a real atomic compare-and-swap,
 * writing the value found to *observed. The callbacks are called on the thread of the device call that needs
 * them (translate: any number at once), never after fastiommu_iommu_destroy returns.
 * Callback memory serves the device model only: allocators and page tables need a pointer (create or wrap). */
typedef struct fastiommu_memory_callbacks {
    void *context;
    int (*read)(void *context, uint64_t pa, void *destination, uint64_t length);
    int (*write)(void *context, uint64_t pa, const void *source, uint64_t length);
    int (*compare_exchange64)(void *context, uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed);
} fastiommu_memory_callbacks;

/* The callbacks struct is copied; it need not outlive the call. */
fastiommu_status fastiommu_memory_create_callbacks(const fastiommu_memory_callbacks *callbacks, fastiommu_memory *memory);

/* Frees owned memory (wrapped memory is left to its owner). FASTIOMMU_ERR_IN_USE while an allocator or device
 * made from it lives. */
fastiommu_status fastiommu_memory_destroy(fastiommu_memory memory);

/* Copies length bytes from / to physical address pa (through the callbacks for callback memory). Plain copies:
 * use them on pages nobody else is using (new tables, queue entries before the tail moves). Any thread. */
fastiommu_status fastiommu_memory_read(fastiommu_memory memory, uint64_t pa, void *destination, uint64_t length);
fastiommu_status fastiommu_memory_write(fastiommu_memory memory, uint64_t pa, const void *source, uint64_t length);

/* The host address of physical address pa (create or wrap memory only). */
fastiommu_status fastiommu_memory_host_pointer(fastiommu_memory memory, uint64_t pa, void **host);

/* ------------------------------------------------------------------------------------------------ allocator */

/* Hands out zeroed 4 KiB pages, and 16 KiB-aligned blocks of 4 pages (G-stage x4 roots), from the window
 * [start, start + size) of the memory (4 KiB aligned, inside it). Lock-free: every call below may run on any
 * number of threads at once. Deterministic for one thread: same calls, same addresses. */
fastiommu_status fastiommu_allocator_create(fastiommu_memory memory, uint64_t start, uint64_t size, fastiommu_allocator *allocator);
/* FASTIOMMU_ERR_IN_USE while a page table made from it lives. */
fastiommu_status fastiommu_allocator_destroy(fastiommu_allocator allocator);
fastiommu_status fastiommu_allocator_alloc_page(fastiommu_allocator allocator, uint64_t *pa);
fastiommu_status fastiommu_allocator_alloc_block(fastiommu_allocator allocator, uint64_t *pa);
/* FASTIOMMU_ERR_INVALID_ARGUMENT for a page not handed out by this allocator, or freed already. */
fastiommu_status fastiommu_allocator_free_page(fastiommu_allocator allocator, uint64_t pa);
fastiommu_status fastiommu_allocator_free_block(fastiommu_allocator allocator, uint64_t pa);
/* Either pointer may be NULL. */
fastiommu_status fastiommu_allocator_stats(fastiommu_allocator allocator, uint64_t *total_pages, uint64_t *pages_in_use);

/* ------------------------------------------------------------------------------------------------ page tables */

/* Paging modes: the iosatp/iohgatp MODE encoding, G-stage (x4) modes plus 16. */
typedef enum fastiommu_mode {
    FASTIOMMU_MODE_SV39 = 8,
    FASTIOMMU_MODE_SV48 = 9,
    FASTIOMMU_MODE_SV57 = 10,
    FASTIOMMU_MODE_SV39X4 = 16 + 8,
    FASTIOMMU_MODE_SV48X4 = 16 + 9,
    FASTIOMMU_MODE_SV57X4 = 16 + 10
} fastiommu_mode;

/* fastiommu_page_table_create flags. */
#define FASTIOMMU_PT_SVNAPOT 1u /* 64 KiB Svnapot leaves where alignment allows (only if the IOMMU has Svnapot) */

/* Protection bits of fastiommu_page_table_map: the leaf's R, W, X, U, G. W without R is refused; G in a G-stage
 * too; G-stage leaves get U set by the library. */
#define FASTIOMMU_PROT_READ 1u
#define FASTIOMMU_PROT_WRITE 2u
#define FASTIOMMU_PROT_EXEC 4u
#define FASTIOMMU_PROT_USER 8u
#define FASTIOMMU_PROT_GLOBAL 16u

/* Svpbmt memory types (PTE bits 62:61). */
#define FASTIOMMU_PBMT_PMA 0u
#define FASTIOMMU_PBMT_NC 1u
#define FASTIOMMU_PBMT_IO 2u

/* A page table whose pages come from the allocator; the root is allocated now (a 16 KiB block for x4 modes).
 * Point iosatp / iohgatp / fsc at fastiommu_page_table_root(). Map, unmap, iova_to_phys, walk and
 * read_and_clear_dirty may all run on any number of threads at once, beside the device's walks of the same
 * table: every store to a live entry is a compare-and-swap. Destroy frees every table page. */
fastiommu_status fastiommu_page_table_create(fastiommu_allocator allocator, fastiommu_mode mode, uint32_t flags, fastiommu_page_table *table);
fastiommu_status fastiommu_page_table_destroy(fastiommu_page_table table);
fastiommu_status fastiommu_page_table_root(fastiommu_page_table table, uint64_t *root_pa);

/* Maps [iova, iova + size) to [pa, pa + size) with the largest leaves alignment allows; all three 4 KiB aligned.
 * A is set, and D when writable. All or nothing: FASTIOMMU_ERR_OVERLAP etc. leave the table as it was. */
fastiommu_status fastiommu_page_table_map(fastiommu_page_table table, uint64_t iova, uint64_t pa, uint64_t size,
                                          uint32_t prot, uint32_t pbmt);

/* Clears the leaves of [iova, iova + size) (unmapped parts are skipped) and adds what must be invalidated to the
 * gather: the IOVA ranges, and the table pages that became empty and were unlinked. *unmapped (may be NULL) is
 * the bytes unmapped (0 on failure). Then the caller invalidates the IOTLB (IOTINVAL.VMA / GVMA, a whole PSCID/GSCID if tables
 * were freed), waits for it (IOFENCE.C), and calls fastiommu_gather_complete, which frees the table pages. */
fastiommu_status fastiommu_page_table_unmap(fastiommu_page_table table, uint64_t iova, uint64_t size,
                                            fastiommu_gather gather, uint64_t *unmapped);

/* The physical address iova maps to; FASTIOMMU_ERR_NOT_MAPPED (and *pa = 0) when it is not mapped. */
fastiommu_status fastiommu_page_table_iova_to_phys(fastiommu_page_table table, uint64_t iova, uint64_t *pa);

typedef struct fastiommu_walk_result {
    uint64_t pte;       /* the leaf, or the invalid entry where the walk stopped */
    uint64_t page_size; /* bytes the leaf maps; when not found, the size of the hole */
    uint64_t pa;        /* the translation of the IOVA (0 when not found) */
    uint32_t level;     /* 0 for 4 KiB (and 64 KiB NAPOT) leaves */
    uint32_t found;     /* 1 when a valid leaf maps the IOVA */
} fastiommu_walk_result;

/* A software walk of one IOVA: what a table dump or a debugger wants. */
fastiommu_status fastiommu_page_table_walk(fastiommu_page_table table, uint64_t iova, fastiommu_walk_result *result);

/* Dirty tracking (live migration): finds the leaves in [iova, iova + size) with D set, clears D by
 * compare-and-swap (a racing hardware update is seen now or lands after), and sets bit i of the bitmap
 * (bit i % 64 of bitmap[i / 64]) for each dirty 4 KiB page i of the range. Bits are only set, never cleared:
 * zero the bitmap first. bitmap_words must be at least (size / 4096 + 63) / 64. *dirty_bytes may be NULL.
 * Allocates a scratch bitmap (not a hot path). */
fastiommu_status fastiommu_page_table_read_and_clear_dirty(fastiommu_page_table table, uint64_t iova, uint64_t size,
                                                           uint64_t *bitmap, uint64_t bitmap_words, uint64_t *dirty_bytes);

/* ------------------------------------------------------------------------------------------------ gathers */

/* What unmaps left to invalidate. One gather per unmapping thread (a gather is not thread-safe); reusable: after
 * fastiommu_gather_complete it is empty, and a steady state of unmap + complete allocates nothing. */
fastiommu_status fastiommu_gather_create(fastiommu_gather *gather);
/* FASTIOMMU_ERR_IN_USE while it holds something: complete it first (else table pages would leak). */
fastiommu_status fastiommu_gather_destroy(fastiommu_gather gather);

typedef struct fastiommu_gather_info {
    uint64_t start;             /* lowest IOVA gathered (0 when empty) */
    uint64_t end;               /* one past the highest (0 when empty) */
    uint32_t range_count;       /* ranges, adjacent ones merged: fastiommu_gather_range(0 .. range_count - 1) */
    uint32_t freed_table_count; /* non-zero: table pages were unlinked, invalidate the whole PSCID/GSCID */
} fastiommu_gather_info;

fastiommu_status fastiommu_gather_info_get(fastiommu_gather gather, fastiommu_gather_info *info);
fastiommu_status fastiommu_gather_range(fastiommu_gather gather, uint32_t index, uint64_t *start, uint64_t *size);
/* Returns the gathered table pages to their allocator and empties the gather. Call after the invalidation. */
fastiommu_status fastiommu_gather_complete(fastiommu_gather gather);

/* ------------------------------------------------------------------------------------------------ device model */

/* ipsr bit numbers, passed to the interrupt callback as source. */
#define FASTIOMMU_INTERRUPT_CQ 0u  /* cip */
#define FASTIOMMU_INTERRUPT_FQ 1u  /* fip */
#define FASTIOMMU_INTERRUPT_PM 2u  /* pmip (never raised: no HPM) */
#define FASTIOMMU_INTERRUPT_PQ 3u  /* pip */

/* Called with the source and its icvec vector each time an ipsr bit goes from 0 to 1 (the MSI edge; with
 * fctl.WSI the wire level is the ipsr bit, readable at any time). Runs on the thread that raised the bit: a
 * register write or fastiommu_iommu_process_commands (holding the device lock, which is re-entrant), or a
 * translating thread that wrote a fault record. It may call fastiommu_iommu_write32/64 (e.g. to clear ipsr);
 * an edge raised from inside it is delivered after it returns, never nested. It must not destroy the device. */
typedef void (*fastiommu_interrupt_fn)(void *context, uint32_t source, uint32_t vector);

/* The 32-byte fault record (struct riscv_iommu_fault_record in riscv_iommu.h) of a translation that faulted and
 * was reported to the fault queue (not suppressed by DC.tc.DTF), called on the translating thread after the
 * device queued it (whether the queue took it is in fqcsr and fastiommu_iommu_fault_counts). The pointer is valid
 * during the call only. Faults found outside fastiommu_iommu_translate (the debug interface, MSI writes) reach
 * the queue and the interrupt callback only. */
struct riscv_iommu_fault_record;
typedef void (*fastiommu_fault_fn)(void *context, const struct riscv_iommu_fault_record *record);

/* fastiommu_iommu_config.flags */
#define FASTIOMMU_IOMMU_DEFER_COMMANDS 1u /* a cqt write does not run the queue: call fastiommu_iommu_process_commands */
#define FASTIOMMU_IOMMU_RESET_TO_BARE 2u  /* ddtp.iommu_mode resets to Bare instead of Off */
#define FASTIOMMU_IOMMU_UNCACHED 4u       /* no IOTLB or directory caches (sizes below, if non-zero, still apply) */

/* fastiommu_iommu_config.ddt_modes: the DDT depths implemented (0 = all). */
#define FASTIOMMU_DDT_1LVL (1u << 2)
#define FASTIOMMU_DDT_2LVL (1u << 3)
#define FASTIOMMU_DDT_3LVL (1u << 4)

typedef struct fastiommu_iommu_config {
    uint32_t struct_size;          /* sizeof(fastiommu_iommu_config) */
    uint32_t flags;                /* FASTIOMMU_IOMMU_* */
    uint64_t capabilities;         /* the capabilities register (riscv_iommu.h RISCV_IOMMU_CAPABILITIES_*); PAS 12..56,
                                      no HPM, no QOSID */
    uint32_t ddt_modes;            /* FASTIOMMU_DDT_*, 0 = all */
    uint32_t iotlb_entries;        /* power of two >= 4; 0 = default (4096) */
    uint32_t micro_tlb_entries;    /* power of two; 0 = default (1024) */
    uint32_t device_context_entries;  /* 0 = default (256) */
    uint32_t process_context_entries; /* 0 = default (256) */
    uint32_t address_spaces;       /* (GSCID, PSCID) pairs tracked; 0 = default (1024) */
    fastiommu_interrupt_fn interrupt_callback; /* may be NULL */
    void *interrupt_context;
    fastiommu_fault_fn fault_callback;         /* may be NULL */
    void *fault_context;
} fastiommu_iommu_config;

/* A device over memory (physical or callback): DDT, PDT, page tables and the queues live there, at the
 * addresses software writes to its registers. The config is copied. */
fastiommu_status fastiommu_iommu_create(fastiommu_memory memory, const fastiommu_iommu_config *config, fastiommu_iommu *iommu);
fastiommu_status fastiommu_iommu_destroy(fastiommu_iommu iommu);

/* Memory-mapped registers at the spec's offsets (RISCV_IOMMU_REG_* in riscv_iommu.h), 4 KiB page. 64-bit accesses
 * 8-byte aligned, 32-bit ones 4-byte aligned (else FASTIOMMU_ERR_INVALID_ARGUMENT). Reads take no lock and may run
 * anywhere; writes and process_commands serialise on the device lock, one at a time, as a bus delivers them.
 * A cqt write runs the queued commands before it returns unless FASTIOMMU_IOMMU_DEFER_COMMANDS. */
fastiommu_status fastiommu_iommu_read32(fastiommu_iommu iommu, uint32_t offset, uint32_t *value);
fastiommu_status fastiommu_iommu_read64(fastiommu_iommu iommu, uint32_t offset, uint64_t *value);
fastiommu_status fastiommu_iommu_write32(fastiommu_iommu iommu, uint32_t offset, uint32_t value);
fastiommu_status fastiommu_iommu_write64(fastiommu_iommu iommu, uint32_t offset, uint64_t value);

/* Runs the command queue from cqh to cqt (unless off or stopped on an error). *completed may be NULL. */
fastiommu_status fastiommu_iommu_process_commands(fastiommu_iommu iommu, uint32_t *completed);

/* Fault records written to the fault queue, and lost (queue full, memory fault, fqof/fqmf pending). Either may
 * be NULL. */
fastiommu_status fastiommu_iommu_fault_counts(fastiommu_iommu iommu, uint64_t *written, uint64_t *dropped);

/* What happened to a record handed to a queue (fastiommu_iommu_report_page_request's *outcome). */
#define FASTIOMMU_REPORT_WRITTEN 0u      /* written at the old tail; the tail moved past it */
#define FASTIOMMU_REPORT_QUEUE_OFF 1u    /* the queue is off (or absent: no capabilities.ATS): nothing recorded */
#define FASTIOMMU_REPORT_OVERFLOW 2u     /* the queue was full: the overflow bit is now set, the record discarded */
#define FASTIOMMU_REPORT_MEMORY_FAULT 3u /* storing it faulted: the memory-fault bit is now set, the record discarded */
#define FASTIOMMU_REPORT_DISCARDED 4u    /* an overflow or memory-fault bit was already set: discarded */

/* Queues a PCIe "Page Request" message a device sent (ATS PRI) in the page-request queue, raising pip when
 * pqcsr.pie is set. The emulator checks the message is acceptable (DC.tc.EN_PRI and the spec's ATS_PRI rules)
 * and, when the outcome is not FASTIOMMU_REPORT_WRITTEN for a message that needs a response, sends the automatic
 * "Page Request Group Response" itself. *outcome may be NULL. Serialises on the device lock. */
struct riscv_iommu_page_request;
fastiommu_status fastiommu_iommu_report_page_request(fastiommu_iommu iommu, const struct riscv_iommu_page_request *message,
                                                     uint32_t *outcome);

/* The PCIe messages the command queue produced for ATS.INVAL and ATS.PRGR commands (no device is attached to the
 * model: the emulator delivers them), oldest first, each as the 16-byte command it came from (func3 says which).
 * Up to capacity are copied; *count says how many; the rest wait for the next call. Any thread; calls on one
 * device serialise. */
struct riscv_iommu_command;
fastiommu_status fastiommu_iommu_take_ats_messages(fastiommu_iommu iommu, struct riscv_iommu_command *buffer,
                                                   uint32_t capacity, uint32_t *count);

/* fastiommu_translate_request.access */
#define FASTIOMMU_ACCESS_READ 0u
#define FASTIOMMU_ACCESS_WRITE 1u
#define FASTIOMMU_ACCESS_EXECUTE 2u

/* fastiommu_translate_request.flags */
#define FASTIOMMU_REQ_PV 1u         /* process_id is valid (PASID) */
#define FASTIOMMU_REQ_PRIV 2u       /* supervisor privilege (with PV only) */
#define FASTIOMMU_REQ_ATS 4u        /* a PCIe ATS translation request (TTYP 8) */
#define FASTIOMMU_REQ_TRANSLATED 8u /* a translated request (TTYP 5/6/7) */

typedef struct fastiommu_translate_request {
    uint64_t iova;       /* for a translated request: the SPA (or GPA with DC.tc.T2GPA) */
    uint32_t device_id;  /* 24 bits used */
    uint32_t process_id; /* 20 bits, with FASTIOMMU_REQ_PV */
    uint32_t flags;      /* FASTIOMMU_REQ_* */
    uint32_t access;     /* FASTIOMMU_ACCESS_* */
} fastiommu_translate_request;

/* fastiommu_translate_response.flags */
#define FASTIOMMU_RESP_SUCCESS 1u    /* translated (for ATS: a Success response, R/W may both be 0) */
#define FASTIOMMU_RESP_READ 2u
#define FASTIOMMU_RESP_WRITE 4u
#define FASTIOMMU_RESP_EXECUTE 8u
#define FASTIOMMU_RESP_SUPPRESSED 16u /* faulted, and DC.tc.DTF kept the fault record out of the queue */

typedef struct fastiommu_translate_response {
    uint64_t pa;        /* the SPA of the IOVA (ATS with T2GPA: the GPA) */
    uint64_t page_size; /* bytes covered by the translation (the smaller of the two stages) */
    uint64_t iotval;    /* fault: the IOVA */
    uint64_t iotval2;   /* guest-page fault: GPA[63:2] in 63:2, bit 0 implicit access, bit 1 implicit write */
    uint16_t cause;     /* the spec's CAUSE (0 on success) */
    uint8_t ttyp;       /* the spec's TTYP of the request */
    uint8_t pbmt;       /* FASTIOMMU_PBMT_* of the translation */
    uint32_t flags;     /* FASTIOMMU_RESP_* */
} fastiommu_translate_response;

/* Translates one inbound transaction; when it faults, writes the fault record to the fault queue (unless DTF
 * suppresses it) and calls the fault callback. FASTIOMMU_OK whenever the request was processed: success or fault
 * is in response->flags and response->cause. Lock-free and allocation-free; any number of threads at once,
 * beside register writes, command processing and page-table updates. */
fastiommu_status fastiommu_iommu_translate(fastiommu_iommu iommu, const fastiommu_translate_request *request,
                                           fastiommu_translate_response *response);

/* count translations in one call, requests[i] -> responses[i], each response exactly as fastiommu_iommu_translate
 * gives it: the call's fixed cost (entering the library, the handle lookup) is paid once for the batch, and the
 * leaf PTE of a request a few places ahead is prefetched, so at working sets the CPU's caches do not hold the
 * walks' memory latency overlaps. Each fault is recorded and reported as its request is translated. A request with
 * a bad access or device_id stops the batch with FASTIOMMU_ERR_INVALID_ARGUMENT; those before it were translated, no
 * response from it on is written. Same threads as fastiommu_iommu_translate. */
fastiommu_status fastiommu_iommu_translate_batch(fastiommu_iommu iommu, const fastiommu_translate_request *requests,
                                                 fastiommu_translate_response *responses, uint32_t count);

/* ------------------------------------------------------------------------------------------------ driver */

/*
 * The driver layer: a kernel IOMMU driver for the RISC-V IOMMU (what Linux's drivers/iommu/riscv decides), reaching
 * the hardware only through register reads and writes and memory. It fills the device directory, the process
 * directories, the page tables and the command queue; an emulator embedding it gets a guest-kernel-shaped driver
 * for its IOMMU model (the library's own, or its own over MMIO callbacks). See docs/driver.md.
 *
 * Lifetimes (destroy refused with FASTIOMMU_ERR_IN_USE while borrowers live): a driver borrows its allocator;
 * instances, groups, domains and unmap gathers borrow the driver; an instance over a fastiommu_iommu also borrows
 * that device; a device borrows its instance and its group; a nested domain borrows its parent; an SVA bind its device
 * and its address space. Besides: a domain still attached (to a group or a PASID) refuses destroy, a group attached to
 * anything but the blocked domain refuses destroy, a gather holding unsynced unmaps refuses destroy.
 *
 * Threads: map, unmap and sync of one domain may run on any threads at once on disjoint ranges (one gather per
 * thread), beside attach/replace/detach, PASID attach, SVA bind and translations by the device model; they take no
 * lock. Attach/replace/detach, PASID attach/detach and SVA bind/unbind serialise per group and per domain, and may be
 * called from any thread. Commands are written under the instance's queue lock; a sync waits for its IOFENCE.C
 * (FASTIOMMU_ERR_TIMEOUT after the instance's command_timeout_ms when the IOMMU does not run its queue: nothing
 * is freed then, sync again once it runs).
 */

typedef struct fastiommu_driver { uint64_t id; } fastiommu_driver;
typedef struct fastiommu_instance { uint64_t id; } fastiommu_instance;
typedef struct fastiommu_group { uint64_t id; } fastiommu_group;
typedef struct fastiommu_device { uint64_t id; } fastiommu_device;
typedef struct fastiommu_domain { uint64_t id; } fastiommu_domain;
typedef struct fastiommu_unmap_gather { uint64_t id; } fastiommu_unmap_gather;
typedef struct fastiommu_sva { uint64_t id; } fastiommu_sva;

/* A driver whose domain page tables come from the allocator (a window of guest RAM the caller reserves). Destroy
 * shuts its instances down (refused while any handle borrows it). */
fastiommu_status fastiommu_driver_create(fastiommu_allocator allocator, fastiommu_driver *driver);
fastiommu_status fastiommu_driver_destroy(fastiommu_driver driver);

/* The register page of an IOMMU the emulator models itself: offsets as in riscv_iommu.h RISCV_IOMMU_REG_*. Called on
 * the thread of the driver call that needs them (several at once when several threads sync). A cqt write is the
 * doorbell: the emulator runs its queue then or later (the driver waits for the fence up to command_timeout_ms). */
typedef struct fastiommu_mmio_callbacks {
    void *context;
    uint32_t (*read32)(void *context, uint32_t offset);
    uint64_t (*read64)(void *context, uint32_t offset);
    void (*write32)(void *context, uint32_t offset, uint32_t value);
    void (*write64)(void *context, uint32_t offset, uint64_t value);
} fastiommu_mmio_callbacks;

/* Per-instance driver options; a zero field keeps the default. NULL for all defaults. */
typedef struct fastiommu_instance_options {
    uint32_t struct_size;          /* sizeof(fastiommu_instance_options) */
    uint32_t command_queue_log2;   /* command ring entries, log2 (default 8) */
    uint32_t fault_queue_log2;     /* fault ring entries, log2 (default 7) */
    uint32_t max_ddt_levels;       /* deepest DDT to use, 1..3 (default 3) */
    uint32_t command_timeout_ms;   /* how long a fence wait lasts before FASTIOMMU_ERR_TIMEOUT (default 2000) */
    uint32_t reserved;             /* 0 */
    uint64_t page_invalidation_limit; /* bytes above which a sync invalidates the whole PSCID/GSCID (default 2 MiB) */
} fastiommu_instance_options;

/* Brings an IOMMU up (capabilities read, queues and DDT allocated from the driver's allocator, ddtp written) through
 * the emulator's MMIO callbacks (copied), or through a fastiommu_iommu of this library in process (its cqt doorbell
 * runs the command queue at once). Destroy shuts the instance down: its devices leave their groups and domains, its
 * command queue is closed. Any thread; destroy must not race other calls on the instance or its devices. */
fastiommu_status fastiommu_instance_create_mmio(fastiommu_driver driver, const fastiommu_mmio_callbacks *mmio,
                                               const fastiommu_instance_options *options, fastiommu_instance *instance);
fastiommu_status fastiommu_instance_create_device(fastiommu_driver driver, fastiommu_iommu iommu,
                                                 const fastiommu_instance_options *options, fastiommu_instance *instance);
fastiommu_status fastiommu_instance_destroy(fastiommu_instance instance);

/* What the driver sent an instance: commands[k] counts the commands of kind k (riscv_iommu.h command kinds below),
 * syncs the domain syncs that reached it, fences the IOFENCE.C it waited for, pages_freed the table pages freed after
 * a sync. Monotonic; readable from any thread at any time (each counter is read atomically, not the set at once). */
#define FASTIOMMU_CMD_IOTINVAL_VMA 1
#define FASTIOMMU_CMD_IOTINVAL_GVMA 2
#define FASTIOMMU_CMD_IOFENCE_C 3
#define FASTIOMMU_CMD_IODIR_INVAL_DDT 4
#define FASTIOMMU_CMD_IODIR_INVAL_PDT 5
#define FASTIOMMU_CMD_ATS_INVAL 6
#define FASTIOMMU_CMD_ATS_PRGR 7
typedef struct fastiommu_counters {
    uint64_t commands[8]; /* by FASTIOMMU_CMD_*; [0] counts nothing */
    uint64_t syncs;
    uint64_t fences;
    uint64_t pages_freed;
} fastiommu_counters;
fastiommu_status fastiommu_instance_counters(fastiommu_instance instance, fastiommu_counters *counters);

/* One IOFENCE.C, waited for: every command sent before it has taken effect. */
fastiommu_status fastiommu_instance_sync(fastiommu_instance instance);

/* Takes up to capacity records from the instance's fault queue (oldest first); *count is how many. Any thread; two
 * readers at once share the records between them. */
fastiommu_status fastiommu_instance_read_faults(fastiommu_instance instance, struct riscv_iommu_fault_record *records,
                                                uint32_t capacity, uint32_t *count);

/* A group: devices that share their domain (Linux's iommu_group); it starts on the blocked domain. name may be NULL
 * (copied). Destroy refused while devices borrow it or while it is attached to anything but the blocked domain. */
fastiommu_status fastiommu_group_create(fastiommu_driver driver, const char *name, fastiommu_group *group);
fastiommu_status fastiommu_group_destroy(fastiommu_group group);

/* fastiommu_device_add features */
#define FASTIOMMU_FEATURE_SVA 1u /* binds process address spaces (needs pasid_bits) */
#define FASTIOMMU_FEATURE_ATS 2u /* EN_ATS in its context (needs capabilities.ATS) */

/* A device (24-bit device_id) behind the instance, in the group (required: a device alone gets a group of its own
 * from fastiommu_group_create), using pasid_bits of process_id (0..20, at most
 * what the IOMMU's PD8/PD17/PD20 allow). Its device context is written at once, as the group's domain wants.
 * A device_id taken on the instance: FASTIOMMU_ERR_IN_USE; too wide: FASTIOMMU_ERR_INVALID_ARGUMENT; a feature the
 * IOMMU lacks: FASTIOMMU_ERR_UNSUPPORTED. Release drops the handle only: the device stays on its instance (in its
 * group) until the instance is destroyed, or until fastiommu_device_remove takes it off. */
fastiommu_status fastiommu_device_add(fastiommu_instance instance, uint32_t device_id, fastiommu_group group,
                                      uint32_t pasid_bits, uint32_t features, fastiommu_device *device);
fastiommu_status fastiommu_device_release(fastiommu_device device);
/* Hot unplug, then release: the device's context is made invalid (V cleared, IODIR.INVAL_DDT with the old context's
 * IOTINVALs, IOFENCE.C; its requests fault with cause 258 after), it leaves its group and its domain (the domain's
 * PSCID/GSCID on this instance released, with a flush, when it was the last user), and its PDT pages are freed.
 * The device_id may be added again. PASIDs still attached (SVA binds, fastiommu_pasid_attach): FASTIOMMU_ERR_IN_USE,
 * nothing changed, the handle stays. Threads: like fastiommu_attach (serialised with the group's other calls). */
fastiommu_status fastiommu_device_remove(fastiommu_device device);

/* ------------------------------------------------------------------------------------------------ domains */

typedef enum fastiommu_domain_kind {
    FASTIOMMU_DOMAIN_BLOCKED = 0,  /* DC not valid: every DMA faults (the driver's own; mode ignored) */
    FASTIOMMU_DOMAIN_IDENTITY = 1, /* both stages Bare (the driver's own; mode ignored) */
    FASTIOMMU_DOMAIN_PAGING = 2,   /* a page table of mode: first stage (iosatp + PSCID) or G-stage (iohgatp + GSCID) */
    FASTIOMMU_DOMAIN_SVA = 3,      /* a process address space (first stage) for fastiommu_sva_bind */
    FASTIOMMU_DOMAIN_NESTED = 4    /* fastiommu_domain_create_nested (reported by fastiommu_domain_info only) */
} fastiommu_domain_kind;

/* A domain of kind; mode (FASTIOMMU_MODE_*) for PAGING and SVA. The root is allocated now, so mappings can be made
 * before an attach. A handle to BLOCKED or IDENTITY names the driver's own domain: destroying it drops the handle.
 * Destroy of a paging domain frees its table; refused (FASTIOMMU_ERR_IN_USE) while attached anywhere. */
fastiommu_status fastiommu_domain_create(fastiommu_driver driver, fastiommu_domain_kind kind, fastiommu_mode mode,
                                         fastiommu_domain *domain);

/* A nested domain: the guest's own RISC-V PDT at guest-physical pdt_gpa (pdtp_mode 1 = PD8, 2 = PD17, 3 = PD20) over
 * the G-stage paging domain parent (the host's). */
fastiommu_status fastiommu_domain_create_nested(fastiommu_domain parent, uint64_t pdt_gpa, uint32_t pdtp_mode,
                                                fastiommu_domain *domain);
fastiommu_status fastiommu_domain_destroy(fastiommu_domain domain);

/* The domain's kind (fastiommu_domain_kind) and its table's root (0 without one). Either pointer may be NULL. */
fastiommu_status fastiommu_domain_info(fastiommu_domain domain, uint32_t *kind, uint64_t *root_pa);

/* Attach = replace: every device of the group goes from its domain to this one with no blocked window between;
 * a failure (no PSCID left, a mode the IOMMU lacks: FASTIOMMU_ERR_UNSUPPORTED) leaves every device where it was.
 * Detach goes to the blocked domain. A domain of another driver: FASTIOMMU_ERR_INVALID_ARGUMENT. */
fastiommu_status fastiommu_attach(fastiommu_group group, fastiommu_domain domain);
fastiommu_status fastiommu_replace(fastiommu_group group, fastiommu_domain domain);
fastiommu_status fastiommu_detach(fastiommu_group group);

/* A first-stage domain on one PASID of the device (its process context). PASID 0 or beyond the device's
 * pasid_bits: FASTIOMMU_ERR_INVALID_ARGUMENT; a G-stage or nested domain: FASTIOMMU_ERR_UNSUPPORTED. Detach makes
 * the PASID's context invalid. */
fastiommu_status fastiommu_pasid_attach(fastiommu_device device, uint32_t pasid, fastiommu_domain domain);
fastiommu_status fastiommu_pasid_detach(fastiommu_device device, uint32_t pasid);

/* Binds an SVA address space (FASTIOMMU_DOMAIN_SVA) to a device with FASTIOMMU_FEATURE_SVA at the address space's
 * PASID (one per address space, the same on every device; written to *pasid, which may be NULL). Binding the same
 * pair again gives a second handle to the same bind (a reference). Unbind destroys the handle and drops its
 * reference; unbinding it again is FASTIOMMU_ERR_INVALID_HANDLE. */
fastiommu_status fastiommu_sva_bind(fastiommu_device device, fastiommu_domain address_space, fastiommu_sva *sva,
                                    uint32_t *pasid);
fastiommu_status fastiommu_sva_unbind(fastiommu_sva sva);

/* What unmaps of one domain left to invalidate, until fastiommu_domain_sync. One gather per unmapping thread; the
 * unmaps of one gather must be of one domain until it is synced (another: FASTIOMMU_ERR_INVALID_ARGUMENT). Reusable:
 * a steady state of unmap + sync allocates nothing. */
fastiommu_status fastiommu_unmap_gather_create(fastiommu_driver driver, fastiommu_unmap_gather *gather);
fastiommu_status fastiommu_unmap_gather_destroy(fastiommu_unmap_gather gather);

/* Maps [iova, iova + size) to [pa, pa + size) (4 KiB aligned) with prot FASTIOMMU_PROT_READ/_WRITE/_EXEC (W implies
 * R; U is set for first-stage leaves). All or nothing, as fastiommu_page_table_map. A domain without a table
 * (blocked, identity, nested): FASTIOMMU_ERR_UNSUPPORTED. Allocation-free but for table pages. */
fastiommu_status fastiommu_domain_map(fastiommu_domain domain, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot);

/* Clears [iova, iova + size) into the gather (a superpage cut in part: FASTIOMMU_ERR_PARTIAL_SUPERPAGE, nothing
 * changed). Devices may still use the old entries (IOTLB) until fastiommu_domain_sync. *unmapped may be NULL. */
fastiommu_status fastiommu_domain_unmap(fastiommu_domain domain, uint64_t iova, uint64_t size,
                                        fastiommu_unmap_gather gather, uint64_t *unmapped);

/* Makes the gather's unmaps take effect on every IOMMU the domain is used on: per (instance, PSCID/GSCID) one
 * page-addressed IOTINVAL per 4 KiB page up to the page_invalidation_limit (one PSCID/GSCID-wide command above it or
 * when table pages were unlinked), then one IOFENCE.C per instance, waited for; then the unlinked table pages are
 * freed. Ten devices of one instance sharing the domain cost one invalidation and one fence. An empty gather: OK,
 * nothing sent. On FASTIOMMU_ERR_TIMEOUT the gather is kept (call again). */
fastiommu_status fastiommu_domain_sync(fastiommu_domain domain, fastiommu_unmap_gather gather);

/* Unmap and sync in one call (Linux's strict DMA mode); no gather handle. */
fastiommu_status fastiommu_domain_unmap_sync(fastiommu_domain domain, uint64_t iova, uint64_t size, uint64_t *unmapped);

/* The table's translation of iova (not the IOMMU's caches); FASTIOMMU_ERR_NOT_MAPPED (and *pa = 0) if none. */
fastiommu_status fastiommu_domain_iova_to_phys(fastiommu_domain domain, uint64_t iova, uint64_t *pa);

/* ------------------------------------------------------------------------------------------------ images */

/*
 * Table images (docs/image-format.md): a byte-exact copy of the structure pages an IOMMU points at (DDT, DCs, PDTs,
 * PCs, first-stage and G-stage tables, queues), without guest data pages, with ddtp, capabilities and fctl. An image
 * is immutable: every call on one may run on any threads at once. None of these is a hot path (they allocate).
 */
typedef struct fastiommu_image { uint64_t id; } fastiommu_image;

typedef struct fastiommu_image_info {
    uint64_t ddtp;
    uint64_t capabilities;
    uint64_t fctl;
    uint64_t page_count;  /* 4 KiB pages held */
    uint64_t size_bytes;  /* bytes of the saved image */
} fastiommu_image_info;

/* An image of what ddtp leads to in memory (physical or callback memory), with those register values; the same
 * memory and registers always give the same image. Copies the pages: do not change them during the call. */
fastiommu_status fastiommu_image_capture(fastiommu_memory memory, uint64_t ddtp, uint64_t capabilities, uint64_t fctl,
                                         fastiommu_image *image);
/* An image of what the device points at now: its ddtp, capabilities, fctl and queue base registers. */
fastiommu_status fastiommu_image_capture_iommu(fastiommu_iommu iommu, fastiommu_image *image);
fastiommu_status fastiommu_image_destroy(fastiommu_image image);
fastiommu_status fastiommu_image_info_get(fastiommu_image image, fastiommu_image_info *info);

/* Writes the image to a file (path UTF-8; FASTIOMMU_ERR_IO when it cannot be written), or into buffer: *size is
 * set to the bytes needed on FASTIOMMU_OK and on FASTIOMMU_ERR_BUFFER_TOO_SMALL (buffer NULL, capacity 0 asks). */
fastiommu_status fastiommu_image_save(fastiommu_image image, const char *path);
fastiommu_status fastiommu_image_save_buffer(fastiommu_image image, void *buffer, uint64_t capacity, uint64_t *size);

/* Reads an image; a malformed one is FASTIOMMU_ERR_IMAGE_FORMAT with the reason and the byte offset in
 * fastiommu_last_error() (nothing loaded); a missing file FASTIOMMU_ERR_IO. The buffer is copied (below 2 GiB). */
fastiommu_status fastiommu_image_load(const char *path, fastiommu_image *image);
fastiommu_status fastiommu_image_load_buffer(const void *buffer, uint64_t size, fastiommu_image *image);

/* The text dump (as `fastiommu dump`): NUL-terminated UTF-8 into buffer; *size (NUL included) is set on
 * FASTIOMMU_OK and on FASTIOMMU_ERR_BUFFER_TOO_SMALL, so a first call with capacity 0 asks for it. Or to a file. */
fastiommu_status fastiommu_image_dump(fastiommu_image image, char *buffer, uint64_t capacity, uint64_t *size);
fastiommu_status fastiommu_image_dump_file(fastiommu_image image, const char *path);

#ifdef __cplusplus
}
#endif

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(fastiommu_translate_request) == 24, "fastiommu_translate_request is 24 bytes");
_Static_assert(sizeof(fastiommu_translate_response) == 40, "fastiommu_translate_response is 40 bytes");
_Static_assert(sizeof(fastiommu_walk_result) == 32, "fastiommu_walk_result is 32 bytes");
_Static_assert(sizeof(fastiommu_gather_info) == 24, "fastiommu_gather_info is 24 bytes");
_Static_assert(sizeof(fastiommu_iommu_config) == 72, "fastiommu_iommu_config is 72 bytes");
_Static_assert(sizeof(fastiommu_memory_callbacks) == 32, "fastiommu_memory_callbacks is 32 bytes");
_Static_assert(sizeof(fastiommu_mmio_callbacks) == 40, "fastiommu_mmio_callbacks is 40 bytes");
_Static_assert(sizeof(fastiommu_instance_options) == 32, "fastiommu_instance_options is 32 bytes");
_Static_assert(sizeof(fastiommu_counters) == 88, "fastiommu_counters is 88 bytes");
_Static_assert(sizeof(fastiommu_image_info) == 40, "fastiommu_image_info is 40 bytes");
#endif

#endif /* FASTIOMMU_H */
