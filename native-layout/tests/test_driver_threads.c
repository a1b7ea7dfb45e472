/* The driver exports from C threads at once (fastiommu.h: "map, unmap and sync of one domain may run on any threads
 * at once on disjoint ranges (one gather per thread), beside attach/replace/detach ... and translations"):
 *  - two mapper threads map, unmap (into their own gather, or with unmap_sync) and sync disjoint slots of one Sv48
 *    domain, each mapping of a slot to a PA that names the slot and the mapping's generation;
 *  - a translator thread translates those slots through the library's device model (IOTLB on) and checks every
 *    answer against the slots' published states read before and after the request: a success is a mapping that
 *    existed during the request (its slot, a generation between the two states, never one synced away before the
 *    request began), and a slot mapped throughout must succeed;
 *  - two threads replace the domain of a second group in opposite directions (E and F), while a translator checks that
 *    the group's device always gets E's or F's page, never a fault (no blocked window) nor anything else.
 * Bounded by iteration counts; a watchdog ends the process if it has not finished in 120 s (a deadlock). */
static int failures;
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define WINDOW (RAM_BASE + 0x400000)
#define WINDOW_SIZE (12ull << 20)
#define SLOTS 32      /* per mapper */
#define ROUNDS 600    /* map + unmap + sync per mapper */
#define REPLACES 600  /* per replacing thread */
#define SLOT_IOVA(m, s) (0x100000000ull + ((uint64_t)(m) << 30) + ((uint64_t)(s) << 21)) /* each slot its own L0 table */
#define E_PA 0x80000000000ull
#define F_PA 0x90000000000ull
#define SHARED_IOVA 0x7000000ull

enum phase { UNMAPPED = 0, MAPPED = 1, UNMAPPING = 2, MAPPING = 3 };

/* state = gen << 2 | phase; gen counts the slot's mappings (1, 2, ...). MAPPING is published before the map call (the
 * device may see the mapping from then on), MAPPED after it, UNMAPPING before the unmap, UNMAPPED after the sync
 * returned: mapping gen is gone from the table and from every IOTLB. */
static uint64_t slot_state[2][SLOTS];
static fastiommu_domain domain, e_domain, f_domain;
static fastiommu_group replaced_group;
static fastiommu_iommu hw;
static fastiommu_driver driver;
static int done_mappers, done_replacers;

static uint64_t pa_of(int m, int s, uint64_t gen)
{
    return 0x1000000000ull + (((uint64_t)(m * SLOTS + s) << 20 | (gen & 0xFFFFF)) << 12);
}

struct mapper {
    int index;
    unsigned seed;
    long maps, syncs, errors;
};

static void *map_unmap_sync(void *arg)
{
    struct mapper *m = arg;
    fastiommu_unmap_gather gather;
    if (fastiommu_unmap_gather_create(driver, &gather) != FASTIOMMU_OK) {
        m->errors++;
        return NULL;
    }
    uint64_t gens[SLOTS] = { 0 };
    for (int round = 0; round < ROUNDS; round++) {
        m->seed = m->seed * 1103515245u + 12345u;
        int s = (int)((m->seed >> 8) % SLOTS);
        uint64_t iova = SLOT_IOVA(m->index, s);
        uint64_t gen = ++gens[s];
        uint64_t pa = pa_of(m->index, s, gen);
        __atomic_store_n(&slot_state[m->index][s], gen << 2 | MAPPING, __ATOMIC_RELEASE);
        if (fastiommu_domain_map(domain, iova, pa, 4096, FASTIOMMU_PROT_READ) != FASTIOMMU_OK) {
            fprintf(stderr, "map %d/%d: %s\n", m->index, s, fastiommu_last_error());
            m->errors++;
            continue;
        }
        m->maps++;
        uint64_t check = 0;
        if (fastiommu_domain_iova_to_phys(domain, iova + 8, &check) != FASTIOMMU_OK || check != pa + 8) {
            m->errors++;
        }
        __atomic_store_n(&slot_state[m->index][s], gen << 2 | MAPPED, __ATOMIC_RELEASE);
        sched_yield(); /* let the translator see it mapped */
        __atomic_store_n(&slot_state[m->index][s], gen << 2 | UNMAPPING, __ATOMIC_RELEASE);
        uint64_t unmapped = 0;
        fastiommu_status st;
        if (m->seed & 0x10000) {
            st = fastiommu_domain_unmap_sync(domain, iova, 4096, &unmapped);
        } else {
            st = fastiommu_domain_unmap(domain, iova, 4096, gather, &unmapped);
            if (st == FASTIOMMU_OK) {
                st = fastiommu_domain_sync(domain, gather);
            }
        }
        if (st != FASTIOMMU_OK || unmapped != 4096) {
            fprintf(stderr, "unmap/sync %d/%d: %s (%s)\n", m->index, s, fastiommu_status_name(st), fastiommu_last_error());
            m->errors++;
        }
        m->syncs++;
        __atomic_store_n(&slot_state[m->index][s], gen << 2 | UNMAPPED, __ATOMIC_RELEASE);
    }
    if (fastiommu_unmap_gather_destroy(gather) != FASTIOMMU_OK) {
        m->errors++;
    }
    __atomic_add_fetch(&done_mappers, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

struct translator {
    unsigned seed;
    long translated, hits, violations;
};

static void *translate_slots(void *arg)
{
    struct translator *t = arg;
    while (__atomic_load_n(&done_mappers, __ATOMIC_ACQUIRE) < 2) {
        t->seed = t->seed * 1103515245u + 12345u;
        int m = (int)(t->seed >> 30) & 1;
        int s = (int)((t->seed >> 8) % SLOTS);
        uint64_t before = __atomic_load_n(&slot_state[m][s], __ATOMIC_ACQUIRE);
        fastiommu_translate_request request = { .iova = SLOT_IOVA(m, s) + 0x10, .device_id = 0x10,
                                                .access = FASTIOMMU_ACCESS_READ };
        fastiommu_translate_response response;
        fastiommu_status st = fastiommu_iommu_translate(hw, &request, &response);
        uint64_t after = __atomic_load_n(&slot_state[m][s], __ATOMIC_ACQUIRE);
        t->translated++;
        if (st != FASTIOMMU_OK) {
            t->violations++;
            continue;
        }
        uint64_t gmin = (before >> 2) + ((before & 3) == UNMAPPED ? 1 : 0), gmax = after >> 2;
        if (response.flags & FASTIOMMU_RESP_SUCCESS) {
            t->hits++;
            uint64_t base = response.pa - 0x10, gen = (base >> 12) & 0xFFFFF;
            int ok = base == pa_of(m, s, gen) && gen >= gmin && gen <= gmax;
            if (!ok) {
                if (t->violations < 5) {
                    fprintf(stderr, "slot %d/%d: got PA 0x%" PRIx64 " (gen %" PRIu64 "), states 0x%" PRIx64 " .. 0x%" PRIx64 "\n",
                            m, s, response.pa, gen, before, after);
                }
                t->violations++;
            }
        } else if (before == after && (before & 3) == MAPPED) {
            if (t->violations < 5) {
                fprintf(stderr, "slot %d/%d: mapped throughout (0x%" PRIx64 ") but faulted, cause %u\n", m, s, before,
                        response.cause);
            }
            t->violations++;
        }
    }
    return NULL;
}

struct replacer {
    fastiommu_domain to;
    long replaces, errors;
};

static void *replace_loop(void *arg)
{
    struct replacer *r = arg;
    for (int i = 0; i < REPLACES; i++) {
        fastiommu_status st = fastiommu_replace(replaced_group, r->to);
        if (st != FASTIOMMU_OK) {
            fprintf(stderr, "replace: %s\n", fastiommu_last_error());
            r->errors++;
        }
        r->replaces++;
    }
    __atomic_add_fetch(&done_replacers, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static long replace_window_faults, replaced_successes;

static void *translate_replaced(void *arg)
{
    long *violations = arg;
    /* At least 1000 requests: the replacers may finish before this thread is first scheduled. */
    for (long n = 0; n < 1000 || __atomic_load_n(&done_replacers, __ATOMIC_ACQUIRE) < 2; n++) {
        fastiommu_translate_request request = { .iova = SHARED_IOVA, .device_id = 0x20, .access = FASTIOMMU_ACCESS_READ };
        fastiommu_translate_response response;
        fastiommu_status st = fastiommu_iommu_translate(hw, &request, &response);
        /* A replace rewrites the live device context the spec's way (V cleared, IODIR.INVAL_DDT + IOFENCE.C, the new
         * fields, V set): a request that lands between its two fences faults with cause 258 (DDT entry not valid).
         * That window is the only fault allowed; any other fault or any other page is a violation. */
        if (st == FASTIOMMU_OK && !(response.flags & FASTIOMMU_RESP_SUCCESS)
            && response.cause == RISCV_IOMMU_FAULT_CAUSE_DDT_ENTRY_NOT_VALID) {
            __atomic_add_fetch(&replace_window_faults, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (st == FASTIOMMU_OK && (response.flags & FASTIOMMU_RESP_SUCCESS)) {
            __atomic_add_fetch(&replaced_successes, 1, __ATOMIC_RELAXED);
        }
        if (st != FASTIOMMU_OK || !(response.flags & FASTIOMMU_RESP_SUCCESS)
            || (response.pa != E_PA && response.pa != F_PA)) {
            if (*violations < 5) {
                fprintf(stderr, "replaced device: flags 0x%x pa 0x%" PRIx64 " cause %u\n", response.flags, response.pa,
                        response.cause);
            }
            (*violations)++;
        }
    }
    return NULL;
}

static void watchdog(int signal)
{
    (void)signal;
    static const char message[] = "test_driver_threads: not finished after 120 s (deadlock?)\n";
    if (write(2, message, sizeof message - 1) < 0) {
        _exit(2);
    }
    _exit(2);
}

int main(void)
{
    signal(SIGALRM, watchdog);
    alarm(120);
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator window;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    OK(fastiommu_allocator_create(memory, WINDOW, WINDOW_SIZE, &window));
    OK(fastiommu_driver_create(window, &driver));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    OK(fastiommu_iommu_create(memory, &config, &hw));
    fastiommu_instance instance;
    OK(fastiommu_instance_create_device(driver, hw, NULL, &instance));

    fastiommu_group group;
    fastiommu_device device, replaced_device;
    OK(fastiommu_group_create(driver, "mapped", &group));
    OK(fastiommu_device_add(instance, 0x10, group, 0, 0, &device));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &domain));
    OK(fastiommu_attach(group, domain));

    OK(fastiommu_group_create(driver, "replaced", &replaced_group));
    OK(fastiommu_device_add(instance, 0x20, replaced_group, 0, 0, &replaced_device));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &e_domain));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &f_domain));
    OK(fastiommu_domain_map(e_domain, SHARED_IOVA, E_PA, 4096, FASTIOMMU_PROT_READ));
    OK(fastiommu_domain_map(f_domain, SHARED_IOVA, F_PA, 4096, FASTIOMMU_PROT_READ));
    OK(fastiommu_attach(replaced_group, e_domain));

    struct mapper mappers[2] = { { .index = 0, .seed = 1 }, { .index = 1, .seed = 2 } };
    struct translator translator = { .seed = 3 };
    struct replacer replacers[2] = { { .to = e_domain }, { .to = f_domain } };
    long replaced_violations = 0;
    pthread_t threads[6];
    pthread_create(&threads[0], NULL, map_unmap_sync, &mappers[0]);
    pthread_create(&threads[1], NULL, map_unmap_sync, &mappers[1]);
    pthread_create(&threads[2], NULL, translate_slots, &translator);
    pthread_create(&threads[3], NULL, replace_loop, &replacers[0]);
    pthread_create(&threads[4], NULL, replace_loop, &replacers[1]);
    pthread_create(&threads[5], NULL, translate_replaced, &replaced_violations);
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
    }

    for (int i = 0; i < 2; i++) {
        CHECK(mappers[i].errors == 0 && mappers[i].maps == ROUNDS, "mapper %d: %ld maps, %ld errors", i, mappers[i].maps,
              mappers[i].errors);
        CHECK(replacers[i].errors == 0, "replacer %d: %ld errors in %ld replaces", i, replacers[i].errors,
              replacers[i].replaces);
    }
    CHECK(translator.violations == 0, "translator: %ld violations in %ld translations", translator.violations,
          translator.translated);
    CHECK(replaced_violations == 0, "the replaced group's device: %ld answers neither E's nor F's page", replaced_violations);
    CHECK(replaced_successes > 0, "the replaced group's device translated (%ld times; %ld faults in a replace's window)",
          replaced_successes, replace_window_faults);

    /* Afterwards: every slot unmapped (table and device agree), the group on E or F, no table page leaked. */
    for (int m = 0; m < 2; m++) {
        for (int s = 0; s < SLOTS; s++) {
            uint64_t pa = 1;
            EXPECT_STATUS(fastiommu_domain_iova_to_phys(domain, SLOT_IOVA(m, s), &pa), FASTIOMMU_ERR_NOT_MAPPED);
            int f = 0;
            fastiommu_translate_response r = test_translate(hw, 0x10, SLOT_IOVA(m, s), FASTIOMMU_ACCESS_READ, &f);
            failures += f;
            CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "slot %d/%d unmapped and synced: the device faults", m, s);
        }
    }
    int f = 0;
    fastiommu_translate_response r = test_translate(hw, 0x20, SHARED_IOVA, FASTIOMMU_ACCESS_READ, &f);
    failures += f;
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && (r.pa == E_PA || r.pa == F_PA), "the replaced group ends on E or F");

    OK(fastiommu_detach(replaced_group));
    OK(fastiommu_detach(group));
    OK(fastiommu_domain_destroy(e_domain));
    OK(fastiommu_domain_destroy(f_domain));
    OK(fastiommu_domain_destroy(domain));
    OK(fastiommu_device_release(device));
    OK(fastiommu_device_release(replaced_device));
    OK(fastiommu_group_destroy(group));
    OK(fastiommu_group_destroy(replaced_group));
    OK(fastiommu_instance_destroy(instance));
    OK(fastiommu_driver_destroy(driver));
    uint64_t in_use = 1;
    OK(fastiommu_allocator_stats(window, NULL, &in_use));
    CHECK(in_use == 0, "every page of the window came back: %" PRIu64 " in use", in_use);
    OK(fastiommu_iommu_destroy(hw));
    OK(fastiommu_allocator_destroy(window));
    OK(fastiommu_memory_destroy(memory));
    free(ram);

    if (failures != 0) {
        fprintf(stderr, "test_driver_threads: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_driver_threads: ok, %ld + %ld map/unmap/sync rounds, %ld translations (%ld hits), %ld + %ld replaces\n",
           mappers[0].maps, mappers[1].maps, translator.translated, translator.hits, replacers[0].replaces,
           replacers[1].replaces);
    return 0;
}
