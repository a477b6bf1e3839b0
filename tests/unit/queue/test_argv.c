/* queue/argv.c: one buffer for every argument of a call, binary-safe, grown as needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "../../../queue/argv.h"

static void test_pieces_and_whole(void **state)
{
    wh_argv_t a;
    const char **p;

    (void)state;
    wh_argv_init(&a);
    wh_argv_adds(&a, "EVALSHA");
    wh_argv_addi(&a, -1700000000000LL);
    wh_argv_add(&a, "a\0b", 3); /* binary-safe */
    wh_argv_adds(&a, NULL);     /* an empty argument */
    wh_argv_begin(&a);
    wh_argv_put(&a, "{\"s\":", 5);
    wh_argv_put(&a, "{}}", 3);
    wh_argv_end(&a);
    assert_int_equal(a.n, 5);
    p = wh_argv_ptrs(&a);
    assert_int_equal(a.lens[0], 7);
    assert_memory_equal(p[0], "EVALSHA", 7);
    assert_int_equal(a.lens[1], 14);
    assert_memory_equal(p[1], "-1700000000000", 14);
    assert_int_equal(a.lens[2], 3);
    assert_memory_equal(p[2], "a\0b", 3);
    assert_int_equal(a.lens[3], 0);
    assert_int_equal(a.lens[4], 8);
    assert_memory_equal(p[4], "{\"s\":{}}", 8);
    wh_argv_dispose(&a);
}

static void test_growth_append_reset(void **state)
{
    wh_argv_t a, b;
    char big[10000];
    const char **p;

    (void)state;
    memset(big, 'x', sizeof(big));
    wh_argv_init(&a);
    wh_argv_init(&b);
    for (int i = 0; i != 5000; ++i)
        wh_argv_addi(&a, i);
    wh_argv_add(&a, big, sizeof(big));
    assert_int_equal(a.n, 5001);
    wh_argv_adds(&b, "first");
    wh_argv_append(&b, &a);
    assert_int_equal(b.n, 5002);
    p = wh_argv_ptrs(&b);
    assert_memory_equal(p[0], "first", 5);
    assert_int_equal(b.lens[4000], 4);
    assert_memory_equal(p[4000], "3999", 4);
    assert_int_equal(b.lens[5001], sizeof(big));
    assert_memory_equal(p[5001], big, sizeof(big));
    wh_argv_reset(&b);
    assert_int_equal(b.n, 0);
    wh_argv_adds(&b, "again");
    p = wh_argv_ptrs(&b);
    assert_int_equal(b.n, 1);
    assert_memory_equal(p[0], "again", 5);
    wh_argv_dispose(&a);
    wh_argv_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_and_whole),
        cmocka_unit_test(test_growth_append_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
