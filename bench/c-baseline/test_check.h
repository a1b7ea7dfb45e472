/* The C tests' one assertion: CHECK(cond, printf-style message) counts a failure and says where, and the test
 * goes on (main returns failures != 0). Each test file defines `static int failures;` before including this. */
#ifndef FASTIOMMU_TEST_CHECK_H
#define FASTIOMMU_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

#endif
