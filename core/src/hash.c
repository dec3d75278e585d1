/*
 * hash.c - xxHash behind our own names, so no other module includes xxhash.h.
 * XXH3 is stable across versions and platforms, which matters: ids derived from these hashes
 * are stored on disk and compared across runs.
 */
#include <stdio.h>
#include <xxhash.h>

#include "xf/core.h"

uint64_t xf_hash64(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

uint64_t xf_hash64_seed(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

void xf_hash128_hex(const void *data, size_t len, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(data, len);

    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}
