/*
 * test_hmap.c - the correlator's hash table against a plain list of (hash, value) pairs:
 * random inserts and deletes with hashes chosen to collide and to wrap around the end of the
 * table, every live pair found after every step and no deleted one, through growth; for both
 * slot kinds (narrow: 32 bits of hash and value, wide: 64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corr_int.h"

struct pair {
    uint64_t h, v;
};

static size_t count(const struct hmap *m, uint64_t h, uint64_t v)
{
    size_t pos = hmap_first(m, h), n = 0;
    uint64_t got;

    while (hmap_next(m, h, &pos, &got))
        n += got == v;
    return n;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Hashes near the top of a 64-slot table land in its last slots, so runs wrap to slot 0;
 * hashes 0 and 1 are stored as 2 and 3, so they meet those. */
static uint64_t pick_hash(uint64_t *s)
{
    static const uint64_t special[] = {0, 1, 2, 3, 62, 63, 64 + 63, 128 + 62};
    uint64_t r = rnd(s);

    return r % 3 == 0 ? special[r / 3 % XF_ARRAY_LEN(special)] : r % 97;
}

static void check_all(const struct hmap *m, const struct pair *p, size_t n)
{
    assert_int_equal(m->n, n);
    for (size_t i = 0; i < n; i++) {
        size_t want = 0;
        for (size_t k = 0; k < n; k++)
            want += hmap_fix(p[k].h) == hmap_fix(p[i].h) && p[k].v == p[i].v;
        assert_int_equal(count(m, p[i].h, p[i].v), want);
    }
}

static void random_puts_and_deletes(int wide)
{
    enum { OPS = 20000, MAXN = 300 };
    struct pair *p = calloc(MAXN, sizeof(*p));
    struct hmap m;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    size_t n = 0;

    assert_non_null(p);
    assert_int_equal(wide ? hmap_init_wide(&m, 16) : hmap_init(&m, 16), 0);
    for (int op = 0; op < OPS; op++) {
        /* fill up to MAXN (the table grows), then hover around a third of it */
        int put = n < 20 || (n < MAXN && rnd(&s) % 100 < (op < OPS / 4 ? 70 : 45));
        if (put) {
            p[n].h = pick_hash(&s);
            p[n].v = rnd(&s) % 8; /* the same pair twice is allowed and kept twice */
            assert_int_equal(hmap_put(&m, p[n].h, p[n].v), 0);
            n++;
        } else {
            size_t i = rnd(&s) % n;
            assert_int_equal(hmap_del(&m, p[i].h, p[i].v), 1);
            p[i] = p[--n];
        }
        if (op % 7 == 0 || n < 40)
            check_all(&m, p, n);
        /* a pair never put is not found and deletes nothing */
        assert_int_equal(count(&m, 5, 1000), 0);
        assert_int_equal(hmap_del(&m, 5, 1000), 0);
    }
    check_all(&m, p, n);
    while (n) {
        assert_int_equal(hmap_del(&m, p[n - 1].h, p[n - 1].v), 1);
        n--;
        check_all(&m, p, n);
    }
    for (size_t i = 0; i < m.cap; i++)
        assert_int_equal(wide ? m.w[i].h : m.s[i].h, 0);
    hmap_close(&m);
    free(p);
}

static void random_puts_and_deletes_match_a_list(void **state)
{
    (void)state;
    random_puts_and_deletes(0);
}

static void random_puts_and_deletes_match_a_list_wide(void **state)
{
    (void)state;
    random_puts_and_deletes(1);
}

/* A narrow table matches the low 32 bits: hashes that differ above them meet (its callers
 * compare the real key), and it refuses values that do not fit. A wide one tells them apart
 * and keeps 64-bit values. */
static void narrow_tables_match_32_bits_wide_ones_64(void **state)
{
    const uint64_t h1 = 0x1234567800000abcull, h2 = 0x8765432100000abcull, big = 1ull << 40;
    struct hmap m, w;
    size_t pos;
    uint64_t v;

    (void)state;
    assert_int_equal(hmap_init(&m, 16), 0);
    assert_int_equal(hmap_init_wide(&w, 16), 0);
    assert_int_equal(hmap_put(&m, h1, 7), 0);
    assert_int_equal(hmap_put(&w, h1, big), 0);
    pos = hmap_first(&m, h2);
    assert_int_equal(hmap_next(&m, h2, &pos, &v), 1);
    assert_int_equal(v, 7);
    pos = hmap_first(&w, h2);
    assert_int_equal(hmap_next(&w, h2, &pos, &v), 0);
    pos = hmap_first(&w, h1);
    assert_int_equal(hmap_next(&w, h1, &pos, &v), 1);
    assert_true(v == big);
    assert_int_equal(hmap_put(&m, h1, big), XF_EINVAL);
    assert_int_equal(m.n, 1);
    hmap_close(&m);
    hmap_close(&w);
}

/* A full run around the end of the table: deleting its first entries moves the later ones
 * back across the wrap, and every one stays reachable. */
static void deleting_inside_a_run_that_wraps_keeps_the_rest(void **state)
{
    struct hmap m;

    (void)state;
    assert_int_equal(hmap_init(&m, 16), 0);
    for (uint64_t v = 0; v < 8; v++)
        assert_int_equal(hmap_put(&m, m.cap - 2, v), 0); /* home: the second-last slot */
    assert_int_equal(hmap_put(&m, m.cap + 1, 100), 0);   /* home slot 1, inside that run */
    for (uint64_t v = 0; v < 8; v += 2)
        assert_int_equal(hmap_del(&m, m.cap - 2, v), 1);
    for (uint64_t v = 0; v < 8; v++)
        assert_int_equal(count(&m, m.cap - 2, v), v % 2);
    assert_int_equal(count(&m, m.cap + 1, 100), 1);
    assert_int_equal(m.n, 5);
    hmap_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_puts_and_deletes_match_a_list),
        cmocka_unit_test(random_puts_and_deletes_match_a_list_wide),
        cmocka_unit_test(narrow_tables_match_32_bits_wide_ones_64),
        cmocka_unit_test(deleting_inside_a_run_that_wraps_keeps_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
