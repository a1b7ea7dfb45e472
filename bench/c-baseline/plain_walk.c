/* The floor of a realistic IOTLB miss: the bare Sv39 walk any C model must do over the same memory, with only the
 * tests that decide where the walk goes (V, leaf or pointer) and no others: no bounds or alignment check of a PTE
 * address, no reserved-bit, permission, A/D or superpage-alignment check, no request or result struct beyond the
 * IOVA read and the PA summed. The benchmarks compare the model's whole miss (caches on and off) against it, over the
 * model's own tables in its own PhysicalMemory (host pointer and base PA), with the very bytes of its requests. */
#include <stdint.h>

#include "cbaseline.h"

#define PTE_V 1u
#define PTE_RWX 0xEu
#define PPN_MASK ((1ULL << 44) - 1)

uint64_t cb_bench_plain_walk_sv39(const void *memory, uint64_t memory_pa, uint64_t root_pa,
                                  const cb_hw_miss_request *requests, uint64_t count, uint64_t iterations)
{
    const uint8_t *host = (const uint8_t *)memory - memory_pa;
    uint64_t sum = 0;
    for (uint64_t it = 0; it < iterations; it++)
        for (uint64_t i = 0; i < count; i++) {
            uint64_t iova = requests[i].iova, table = root_pa, pa = 0;
            for (int level = 2; level >= 0; level--) {
                unsigned shift = 12 + 9 * (unsigned)level;
                uint64_t pte = __atomic_load_n((const uint64_t *)(host + table + ((iova >> shift) & 511) * 8),
                                               __ATOMIC_ACQUIRE);
                if (!(pte & PTE_V))
                    break;
                uint64_t next = ((pte >> 10) & PPN_MASK) << 12;
                if (pte & PTE_RWX) {
                    pa = next | (iova & ((1ULL << shift) - 1));
                    break;
                }
                table = next;
            }
            sum += pa;
        }
    return sum;
}
