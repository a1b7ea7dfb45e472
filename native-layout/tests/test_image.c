/* Table images through the C API: the driver brings an IOMMU up, a device gets a paging domain, the test captures
 * an image of what the device points at, saves it to a file and to a buffer, loads both back (byte-identical round
 * trip, same dump), dumps it to text and checks the lines a reader relies on (the DC of the device, its first-stage
 * root, the mapping); a damaged image is FASTIOMMU_ERR_IMAGE_FORMAT with its offset in the message, a missing file
 * FASTIOMMU_ERR_IO, and a capture from memory + ddtp gives the same table pages as the device capture.
 * argv[1]: a directory for the files (the build directory). */
static int failures;
#include "test_support.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define WINDOW (RAM_BASE + 0x400000)
#define DATA (RAM_BASE + 0x200000)
#define IOVA 0x10000000ull

static char *dump_of(fastiommu_image image)
{
    uint64_t size = 0;
    EXPECT_STATUS(fastiommu_image_dump(image, NULL, 0, &size), FASTIOMMU_ERR_BUFFER_TOO_SMALL);
    CHECK(size > 1, "the dump needs %" PRIu64 " bytes", size);
    char *text = malloc(size);
    uint64_t again = 0;
    OK(fastiommu_image_dump(image, text, size, &again));
    CHECK(again == size && text[size - 1] == 0 && strlen(text) == size - 1, "the dump is %" PRIu64 " bytes with its NUL", again);
    return text;
}

static void *save_of(fastiommu_image image, uint64_t *size)
{
    EXPECT_STATUS(fastiommu_image_save_buffer(image, NULL, 0, size), FASTIOMMU_ERR_BUFFER_TOO_SMALL);
    void *bytes = malloc(*size);
    OK(fastiommu_image_save_buffer(image, bytes, *size, size));
    return bytes;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[4096], dump_path[4096];
    snprintf(path, sizeof path, "%s/test_image.fimg", dir);
    snprintf(dump_path, sizeof dump_path, "%s/test_image.txt", dir);

    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_driver driver;
    fastiommu_iommu hw;
    fastiommu_instance instance;
    fastiommu_group group;
    fastiommu_device device;
    fastiommu_domain domain;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    OK(fastiommu_allocator_create(memory, WINDOW, 4ull << 20, &window));
    OK(fastiommu_driver_create(window, &driver));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    OK(fastiommu_iommu_create(memory, &config, &hw));
    OK(fastiommu_instance_create_device(driver, hw, NULL, &instance));
    OK(fastiommu_group_create(driver, "nic", &group));
    OK(fastiommu_device_add(instance, 0x42, group, 0, 0, &device));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &domain));
    OK(fastiommu_domain_map(domain, IOVA, DATA, 0x3000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE));
    OK(fastiommu_attach(group, domain));
    uint64_t root = 0;
    OK(fastiommu_domain_info(domain, NULL, &root));

    /* Capture from the device, and from memory + its registers. */
    fastiommu_image image, from_memory;
    OK(fastiommu_image_capture_iommu(hw, &image));
    fastiommu_image_info info;
    OK(fastiommu_image_info_get(image, &info));
    uint64_t ddtp = 0, caps = 0;
    uint32_t fctl = 0;
    OK(fastiommu_iommu_read64(hw, RISCV_IOMMU_REG_DDTP, &ddtp));
    OK(fastiommu_iommu_read64(hw, RISCV_IOMMU_REG_CAPABILITIES, &caps));
    OK(fastiommu_iommu_read32(hw, RISCV_IOMMU_REG_FCTL, &fctl));
    CHECK(info.ddtp == ddtp && info.capabilities == caps && info.fctl == fctl, "the image carries the registers");
    /* The DDT, the DC's page (with the DDT for 1LVL, else its own), the Sv39 root and two more levels, the queues. */
    CHECK(info.page_count >= 5 && info.size_bytes == 64 + info.page_count * 4104,
          "%" PRIu64 " pages, %" PRIu64 " bytes", info.page_count, info.size_bytes);
    OK(fastiommu_image_capture(memory, ddtp, caps, fctl, &from_memory));
    fastiommu_image_info info2;
    OK(fastiommu_image_info_get(from_memory, &info2));
    CHECK(info2.page_count + 2 == info.page_count, "memory + ddtp: the same tables without the two queues (%" PRIu64 " vs %" PRIu64 ")",
          info2.page_count, info.page_count);

    /* The dump names the device, its domain's root and the mapping. */
    char *text = dump_of(image);
    char expect[128];
    snprintf(expect, sizeof expect, "0x%" PRIx64, root);
    CHECK(strstr(text, expect) != NULL, "the dump shows the root %s:\n%s", expect, text);
    snprintf(expect, sizeof expect, "0x%llx", (unsigned long long)IOVA);
    CHECK(strstr(text, expect) != NULL, "the dump shows the IOVA %s", expect);
    CHECK(strstr(text, "0x42") != NULL, "the dump shows device 0x42");

    /* Round trips: buffer and file, byte-identical, same dump. */
    uint64_t size = 0, size2 = 0;
    uint8_t *bytes = save_of(image, &size);
    CHECK(size == info.size_bytes, "save_buffer wrote %" PRIu64 " bytes", size);
    fastiommu_image loaded, from_file;
    OK(fastiommu_image_load_buffer(bytes, size, &loaded));
    uint8_t *bytes2 = save_of(loaded, &size2);
    CHECK(size2 == size && memcmp(bytes, bytes2, size) == 0, "buffer -> image -> buffer is byte-identical");
    OK(fastiommu_image_save(image, path));
    OK(fastiommu_image_load(path, &from_file));
    char *text2 = dump_of(from_file);
    CHECK(strcmp(text, text2) == 0, "the file's image dumps the same text");
    OK(fastiommu_image_dump_file(loaded, dump_path));
    FILE *f = fopen(dump_path, "rb");
    CHECK(f != NULL, "the dump file exists");
    if (f != NULL) {
        char *file_text = calloc(1, strlen(text) + 2);
        size_t got = fread(file_text, 1, strlen(text) + 1, f);
        fclose(f);
        CHECK(got == strlen(text) && memcmp(file_text, text, got) == 0, "the dump file holds the dump (%zu bytes)", got);
        free(file_text);
    }

    /* Errors: a damaged magic, a truncated image, a missing file, a small buffer, NULLs, a stale handle. */
    bytes2[0] ^= 0xFF;
    fastiommu_image bad;
    EXPECT_STATUS(fastiommu_image_load_buffer(bytes2, size, &bad), FASTIOMMU_ERR_IMAGE_FORMAT);
    CHECK(strstr(fastiommu_last_error(), "offset 0") != NULL, "the message names the offset: %s", fastiommu_last_error());
    EXPECT_STATUS(fastiommu_image_load_buffer(bytes, size - 1, &bad), FASTIOMMU_ERR_IMAGE_FORMAT);
    EXPECT_STATUS(fastiommu_image_load("/nonexistent/fastiommu/image", &bad), FASTIOMMU_ERR_IO);
    char small[8];
    uint64_t needed = 0;
    EXPECT_STATUS(fastiommu_image_dump(image, small, sizeof small, &needed), FASTIOMMU_ERR_BUFFER_TOO_SMALL);
    CHECK(needed == strlen(text) + 1, "the size needed is reported: %" PRIu64, needed);
    EXPECT_STATUS(fastiommu_image_save(image, NULL), FASTIOMMU_ERR_INVALID_ARGUMENT);
    OK(fastiommu_image_destroy(loaded));
    EXPECT_STATUS(fastiommu_image_info_get(loaded, &info), FASTIOMMU_ERR_INVALID_HANDLE);

    OK(fastiommu_image_destroy(image));
    OK(fastiommu_image_destroy(from_memory));
    OK(fastiommu_image_destroy(from_file));
    OK(fastiommu_detach(group));
    OK(fastiommu_domain_destroy(domain));
    OK(fastiommu_device_release(device));
    OK(fastiommu_group_destroy(group));
    OK(fastiommu_instance_destroy(instance));
    OK(fastiommu_driver_destroy(driver));
    OK(fastiommu_iommu_destroy(hw));
    OK(fastiommu_allocator_destroy(window));
    OK(fastiommu_memory_destroy(memory));
    free(text);
    free(text2);
    free(bytes);
    free(bytes2);
    free(ram);
    if (failures != 0) {
        fprintf(stderr, "test_image: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_image: ok\n");
    return 0;
}
