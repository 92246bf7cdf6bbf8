#include <xxhash.h>

/* libxxhash's plain XXH3 entry points are compiled for the x86-64 baseline (SSE2, ~17 GB/s
 * here); its *_dispatch entry points pick AVX2 or AVX-512 at run time (~40 GB/s here) and
 * return the same values. The wrappers below use them on x86-64 and the plain ones elsewhere. */
#if defined(__x86_64__) || defined(_M_X64)
#include <xxh_x86dispatch.h>
#define DWCP_XXH(f) f##_dispatch
#else
#define DWCP_XXH(f) f
#endif

static inline XXH64_hash_t dwcp_xxh3_64(const void *p, size_t n) { return DWCP_XXH(XXH3_64bits)(p, n); }
static inline XXH128_hash_t dwcp_xxh3_128(const void *p, size_t n) { return DWCP_XXH(XXH3_128bits)(p, n); }
static inline XXH_errorcode dwcp_xxh3_128_update(XXH3_state_t *s, const void *p, size_t n) {
    return DWCP_XXH(XXH3_128bits_update)(s, p, n);
}
