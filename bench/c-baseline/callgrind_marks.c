/* Callgrind client requests (see cbaseline.h): the harness's measured regions. The macros are valgrind's magic
 * instruction sequences, no-ops on a real CPU; without valgrind's headers the functions do nothing. */
#include "cbaseline.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define CB_HAVE_CALLGRIND 1
#endif
#endif

CB_API void cb_callgrind_zero(void)
{
#ifdef CB_HAVE_CALLGRIND
    CALLGRIND_ZERO_STATS;
#endif
}

CB_API void cb_callgrind_dump(const char *name)
{
#ifdef CB_HAVE_CALLGRIND
    CALLGRIND_DUMP_STATS_AT(name);
#else
    (void)name;
#endif
}

CB_API int cb_running_on_valgrind(void)
{
#ifdef CB_HAVE_CALLGRIND
    return RUNNING_ON_VALGRIND ? 1 : 0;
#else
    return 0;
#endif
}
