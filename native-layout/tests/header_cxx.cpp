// Both headers compile as C++ (emulators are often C++); the layout asserts hold there too.
#include "fastiommu.h"
#include "riscv_iommu.h"

static_assert(sizeof(fastiommu_translate_request) == 24, "fastiommu_translate_request is 24 bytes in C++");
static_assert(sizeof(fastiommu_translate_response) == 40, "fastiommu_translate_response is 40 bytes in C++");
static_assert(sizeof(fastiommu_iommu_config) == 72, "fastiommu_iommu_config is 72 bytes in C++");
