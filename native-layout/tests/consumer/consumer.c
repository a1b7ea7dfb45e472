/* Built by the package tests against an installed FastIommu: one mapping through the C API. */
#include <fastiommu.h>
#include <riscv_iommu.h>
#include <stdio.h>

int main(void)
{
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    uint64_t pa = 0;
    if (fastiommu_abi_version() != FASTIOMMU_ABI_VERSION
        || fastiommu_memory_create(1 << 20, 0x80000000ull, &memory) != FASTIOMMU_OK
        || fastiommu_allocator_create(memory, 0x80000000ull, 1 << 20, &allocator) != FASTIOMMU_OK
        || fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &table) != FASTIOMMU_OK
        || fastiommu_page_table_map(table, 0x1000, 0x80080000ull, 0x1000, FASTIOMMU_PROT_READ, FASTIOMMU_PBMT_PMA) != FASTIOMMU_OK
        || fastiommu_page_table_iova_to_phys(table, 0x1234, &pa) != FASTIOMMU_OK || pa != 0x80080234ull) {
        fprintf(stderr, "consumer: %s\n", fastiommu_last_error());
        return 1;
    }
    fastiommu_page_table_destroy(table);
    fastiommu_allocator_destroy(allocator);
    fastiommu_memory_destroy(memory);
    printf("consumer: found FastIommu, 0x1234 -> 0x%llx (PTE V bit %d)\n", (unsigned long long)pa, RISCV_IOMMU_PTE_V_BIT);
    return 0;
}
