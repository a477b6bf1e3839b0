/* common/str.c: ASCII case-insensitive equality and whole-string integer parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/str.h"

static void test_ieq(void **state)
{
    static const struct {
        const char *a;
        size_t alen;
        const char *b;
        size_t blen;
        bool want;
    } cases[] = {
        {"", 0, "", 0, true},
        {"Content-Type", 12, "content-type", 12, true},
        {"WEBHOOK-ID", 10, "webhook-id", 10, true},
        {"abcXYZ", 6, "ABCxyz", 6, true},
        {"abc", 3, "abd", 3, false},
        {"abc", 3, "abcd", 4, false}, /* a prefix is not equal */
        {"abcd", 4, "abc", 3, false},
        {"a", 1, "", 0, false},
        /* only letters fold: '@' (0x40) and '`' (0x60), '[' and '{' differ by the case bit but are not letters */
        {"@", 1, "`", 1, false},
        {"[", 1, "{", 1, false},
        {"^", 1, "~", 1, false},
        /* bytes >= 0x80 compare exactly (no locale): É (C3 89) is not é (C3 A9) */
        {"\xc3\x89", 2, "\xc3\xa9", 2, false},
        {"\xc3\x89", 2, "\xc3\x89", 2, true},
        /* binary-safe: an embedded NUL is a byte like any other */
        {"a\0b", 3, "A\0B", 3, true},
        {"a\0b", 3, "a\0c", 3, false},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        print_message("  ieq case %zu\n", i);
        assert_int_equal(wh_str_ieq(wh_str(cases[i].a, cases[i].alen), wh_str(cases[i].b, cases[i].blen)), cases[i].want);
        /* symmetric */
        assert_int_equal(wh_str_ieq(wh_str(cases[i].b, cases[i].blen), wh_str(cases[i].a, cases[i].alen)), cases[i].want);
    }
    /* lengths, not NUL terminators, bound the comparison */
    assert_true(wh_str_ieq(wh_str("abcX", 3), wh_str("ABCy", 3)));
}

static void test_to_i64_accepts(void **state)
{
    static const struct {
        const char *text;
        long long want;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"7", 7},
        {"007", 7},
        {"-42", -42},
        {"1732356000123", 1732356000123LL},
        {"9223372036854775807", LLONG_MAX},
        {"-9223372036854775808", LLONG_MIN},
        {"9223372036854775806", LLONG_MAX - 1},
        {"-9223372036854775807", LLONG_MIN + 1},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        long long v = 12345;
        print_message("  accepts \"%s\"\n", cases[i].text);
        assert_true(wh_str_to_i64(wh_str_c(cases[i].text), &v));
        if (v != cases[i].want)
            fail_msg("\"%s\" -> %lld, expected %lld", cases[i].text, v, cases[i].want);
    }
}

static void test_to_i64_rejects(void **state)
{
    static const char *const cases[] = {
        "",
        "-",
        "+1",
        "12a",
        "a12",
        " 1",
        "1 ",
        "1.0",
        "--1",
        "1-",
        "0x10",
        "9223372036854775808",  /* LLONG_MAX + 1 */
        "-9223372036854775809", /* LLONG_MIN - 1 */
        "18446744073709551616", /* 2^64: would wrap to 0 in an unchecked parser */
        "99999999999999999999",
        "-99999999999999999999",
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        long long v = 12345;
        bool ok = wh_str_to_i64(wh_str_c(cases[i]), &v);
        if (ok)
            fail_msg("\"%s\" was accepted as %lld, expected a refusal", cases[i], v);
    }
}

static void test_utf8_sanitize(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "plain"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},                           /* é */
        {"\xe5\x90\x8d\xe5\x89\x8d", "\xe5\x90\x8d\xe5\x89\x8d"}, /* 名前 */
        {"\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!"},               /* 😀 */
        {"\xff=1", "?=1"},                                        /* not UTF-8 at all */
        {"a\xc3", "a?"},                                          /* cut after its lead byte */
        {"a\xe5\x90", "a??"},                                     /* cut inside a 3-byte sequence */
        {"\xc0\xaf", "??"},                                       /* overlong '/' */
        {"\xed\xa0\x80", "???"},                                  /* a surrogate */
        {"\xf4\x90\x80\x80", "????"},                             /* beyond U+10FFFF */
        {"\x80x", "?x"},                                          /* a lone continuation byte */
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t n = wh_utf8_sanitize(cases[i].in, out, sizeof(out));
        print_message("  case %zu\n", i);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* a sequence that does not fit whole is dropped, never cut */
    assert_int_equal(wh_utf8_sanitize("ab\xc3\xa9", out, 4), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(wh_utf8_sanitize("abc", out, 1), 0);
    assert_string_equal(out, "");
}

static void test_to_i64_length_bound(void **state)
{
    long long v = 0;

    /* the length, not the NUL, ends the number: "123456" seen through a 3-byte window is 123 */
    assert_true(wh_str_to_i64(wh_str("123456", 3), &v));
    assert_int_equal(v, 123);
    /* and a digit-free window is refused even when digits follow it */
    assert_false(wh_str_to_i64(wh_str("-123", 1), &v));
    assert_false(wh_str_to_i64(wh_str("123", 0), &v));
    /* an embedded NUL is not a digit */
    assert_false(wh_str_to_i64(wh_str("1\0"
                                      "2",
                                      3),
                               &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ieq),
        cmocka_unit_test(test_to_i64_accepts),
        cmocka_unit_test(test_to_i64_rejects),
        cmocka_unit_test(test_to_i64_length_bound),
        cmocka_unit_test(test_utf8_sanitize),
    };
    return cmocka_run_group_tests_name("common/str", tests, NULL, NULL);
}
