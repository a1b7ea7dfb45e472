/* libFuzzer harness: table images and what an image is made from.
 *  1. The input as a saved image (fastiommu_image_load_buffer): a malformed one must be FASTIOMMU_ERR_IMAGE_FORMAT;
 *     a loaded one is dumped to text (size asked first, then NUL-terminated text of that size), saved again, loaded
 *     again and saved a second time: the two saves are byte for byte equal (the format is a fixed point).
 *  2. The input as guest memory: 64 KiB at 0x8000_0000 filled with it, ddtp from its first qword (pointing inside
 *     the memory); an image is captured from it and dumped, and the library's device model over the same memory
 *     (ddtp written through its register) translates requests decoded from the input's last bytes: every answer is
 *     checked (fuzz_check_response). Long run: see native-layout/README.md. */
#include "fuzz_common.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x10000ull

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));

static void dump_and_check(fastiommu_image image, uint32_t site)
{
    uint64_t size = 0;
    fastiommu_status st = fuzz_status(site, fastiommu_image_dump(image, NULL, 0, &size));
    if (st != FASTIOMMU_ERR_BUFFER_TOO_SMALL && st != FASTIOMMU_OK) {
        fuzz_fail("asking the dump's size");
    }
    char *text = malloc(size ? size : 1);
    uint64_t written = 0;
    if (fuzz_status(site + 1, fastiommu_image_dump(image, text, size, &written)) != FASTIOMMU_OK || written != size
        || size == 0 || text[size - 1] != 0 || strlen(text) != size - 1) {
        fuzz_fail("the dump is not NUL-terminated text of the size announced");
    }
    fuzz_feedback(site + 2, size / 64);
    free(text);
}

static uint8_t *save(fastiommu_image image, uint64_t *size)
{
    *size = 0;
    if (fuzz_status(20, fastiommu_image_save_buffer(image, NULL, 0, size)) == FASTIOMMU_ERR_INVALID_ARGUMENT) {
        fuzz_fail("asking the saved size");
    }
    uint8_t *bytes = malloc(*size ? *size : 1);
    uint64_t written = 0;
    if (fuzz_status(21, fastiommu_image_save_buffer(image, bytes, *size, &written)) != FASTIOMMU_OK || written != *size) {
        fuzz_fail("saving into a buffer of the size announced");
    }
    return bytes;
}

static void as_image(const uint8_t *data, size_t size)
{
    fastiommu_image image;
    fastiommu_status st = fuzz_status(1, fastiommu_image_load_buffer(size ? data : NULL, size, &image));
    if (st != FASTIOMMU_OK) {
        if (st != FASTIOMMU_ERR_IMAGE_FORMAT) {
            fuzz_fail("a malformed image is not FASTIOMMU_ERR_IMAGE_FORMAT");
        }
        const char *message = fastiommu_last_error();
        fuzz_feedback(2, strlen(message) > 40 ? (uint64_t)message[40] * 256 + (uint8_t)message[30] : 0);
        return;
    }
    fastiommu_image_info info;
    if (fuzz_status(3, fastiommu_image_info_get(image, &info)) != FASTIOMMU_OK) {
        fuzz_fail("info of a loaded image");
    }
    fuzz_feedback(4, info.page_count);
    fuzz_feedback(5, info.ddtp >> 60);
    dump_and_check(image, 6);
    uint64_t first_size, second_size;
    uint8_t *first = save(image, &first_size);
    fastiommu_image again;
    if (fuzz_status(9, fastiommu_image_load_buffer(first, first_size, &again)) != FASTIOMMU_OK) {
        fuzz_fail("a saved image does not load");
    }
    uint8_t *second = save(again, &second_size);
    if (first_size != second_size || memcmp(first, second, first_size) != 0) {
        fuzz_fail("save(load(save(x))) differs from save(x)");
    }
    free(first);
    free(second);
    fastiommu_image_destroy(again);
    fastiommu_image_destroy(image);
}

static void as_memory(const uint8_t *data, size_t size)
{
    memset(ram, 0, sizeof ram);
    memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
    struct fuzz_input in = { data, size, 0 };
    uint64_t ddtp = fuzz_bytes(&in, 8);
    /* Keep the mode bits (any, legal or not) and point the PPN inside the memory most of the time. */
    if (!(ddtp & (1ull << 59))) {
        ddtp = (ddtp & ~RISCV_IOMMU_DDTP_PPN_MASK)
               | ((((RAM_BASE >> 12) + ((ddtp >> RISCV_IOMMU_DDTP_PPN_SHIFT) & 0xF)) << RISCV_IOMMU_DDTP_PPN_SHIFT) & RISCV_IOMMU_DDTP_PPN_MASK);
    }
    fastiommu_memory memory;
    if (fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory) != FASTIOMMU_OK) {
        fuzz_fail("wrap");
    }
    fastiommu_image image;
    if (fuzz_status(30, fastiommu_image_capture(memory, ddtp, fuzz_capabilities(), 0, &image)) == FASTIOMMU_OK) {
        dump_and_check(image, 31);
        fastiommu_image_destroy(image);
    }

    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = fuzz_capabilities(),
                                      .flags = (ddtp >> 58) & 1 ? FASTIOMMU_IOMMU_UNCACHED : 0 };
    fastiommu_iommu iommu;
    if (fastiommu_iommu_create(memory, &config, &iommu) != FASTIOMMU_OK) {
        fuzz_fail("iommu_create");
    }
    fuzz_status(40, fastiommu_iommu_write64(iommu, RISCV_IOMMU_REG_DDTP, ddtp));
    uint64_t ddtp_now = 0;
    fastiommu_iommu_read64(iommu, RISCV_IOMMU_REG_DDTP, &ddtp_now);
    fuzz_feedback(41, ddtp_now >> 60);
    /* Requests from the end of the input (16 bytes each, up to 16). */
    size_t requests = size >= 24 ? (size - 8) / 16 : 0;
    if (requests > 16) {
        requests = 16;
    }
    in.at = size - requests * 16;
    for (size_t i = 0; i < requests; i++) {
        fastiommu_translate_request request;
        uint64_t word = fuzz_bytes(&in, 8);
        request.iova = fuzz_bytes(&in, 8);
        request.device_id = (uint32_t)word & 0xFFFFFF & (word & (1ull << 24) ? 0xFFFFFF : 0xF);
        request.process_id = (uint32_t)(word >> 32) & 0xFFFFF;
        request.flags = (uint32_t)(word >> 25) & 0xF;
        request.access = (uint32_t)(word >> 29) % 3;
        fastiommu_translate_response response;
        if (fuzz_status(42, fastiommu_iommu_translate(iommu, &request, &response)) != FASTIOMMU_OK) {
            fuzz_fail("translate refused a legal request");
        }
        fuzz_check_response(43, &request, &response);
    }
    if (fastiommu_iommu_destroy(iommu) != FASTIOMMU_OK || fastiommu_memory_destroy(memory) != FASTIOMMU_OK) {
        fuzz_fail("teardown");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_handles();
    as_image(data, size);
    as_memory(data, size);
    return 0;
}
