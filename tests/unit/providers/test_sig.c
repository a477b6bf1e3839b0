/* providers/sig.c: the shared verification helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/crypto.h"
#include "../../../providers/sig.h"

#define MIN5 WH_TIMESTAMP_TOLERANCE_MS

static void test_check_window(void **state)
{
    static const struct {
        int64_t ts, now, tolerance;
        wh_err_t want;
    } cases[] = {
        {1000, 1000, MIN5, WH_OK},
        {1000, 1000 + MIN5, MIN5, WH_OK},         /* exactly 5:00 old */
        {1000, 1000 + MIN5 + 1, MIN5, WH_ESTALE}, /* 5:00.001 old */
        {1000 + MIN5, 1000, MIN5, WH_OK},         /* exactly 5:00 ahead */
        {1000 + MIN5 + 1, 1000, MIN5, WH_ESTALE}, /* 5:00.001 ahead */
        {0, 0, 0, WH_OK},
        {1, 0, 0, WH_ESTALE},
        {INT64_MAX, INT64_MIN, MIN5, WH_ESTALE}, /* distance 2^64-1: no overflow */
        {INT64_MIN, INT64_MAX, MIN5, WH_ESTALE},
        {INT64_MAX, INT64_MAX - MIN5, MIN5, WH_OK},
        {INT64_MIN, INT64_MIN + MIN5 + 1, MIN5, WH_ESTALE},
        {5, 5, -1, WH_ESTALE}, /* a negative tolerance admits nothing */
        {0, INT64_MAX, INT64_MAX, WH_OK},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        print_message("  window case %zu\n", i);
        assert_string_equal(wh_err_name(wh_sig_check_window(cases[i].ts, cases[i].now, cases[i].tolerance)),
                            wh_err_name(cases[i].want));
    }
}

static void test_parse_timestamp(void **state)
{
    static const struct {
        const char *text;
        bool ok;
        int64_t want;
    } cases[] = {
        {"0", true, 0},
        {"15000000", true, 15000000},
        {"0015000000", true, 15000000},
        {"9223372036854775807", true, INT64_MAX},
        {"9223372036854775808", false, 0},
        {"99999999999999999999", false, 0},
        {"", false, 0},
        {"-1", false, 0},
        {"+1", false, 0},
        {"1 ", false, 0},
        {" 1", false, 0},
        {"1.5", false, 0},
        {"1e3", false, 0},
        {"0x10", false, 0},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t got = -42;
        print_message("  timestamp \"%s\"\n", cases[i].text);
        assert_int_equal(wh_sig_parse_timestamp(wh_str_c(cases[i].text), &got), cases[i].ok);
        if (cases[i].ok)
            assert_int_equal(got, cases[i].want);
    }
    /* Length-bounded: bytes after the view are never read. */
    int64_t got = 0;
    assert_true(wh_sig_parse_timestamp(wh_str("12345x", 5), &got));
    assert_int_equal(got, 12345);
}

static const uint8_t digest[32] = {0x23, 0x2d, 0xb2, 0x61, 0x5f, 0x3d, 0x66, 0x6f, 0xe2, 0x1a, 0x8e, 0xc9, 0x71, 0xac, 0x7b, 0x54,
                                   0x02, 0xd3, 0x3b, 0x9a, 0x92, 0x57, 0x84, 0xdf, 0x3c, 0xa6, 0x54, 0xd0, 0x5f, 0x48, 0x17, 0xde};
#define DIGEST_HEX "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"

static void test_match_hex(void **state)
{
    char upper[] = DIGEST_HEX;

    for (char *p = upper; *p != '\0'; ++p)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_true(wh_sig_match_hex(WH_STRLIT(DIGEST_HEX), digest, sizeof(digest)));
    assert_true(wh_sig_match_hex(wh_str_c(upper), digest, sizeof(digest)));
    assert_false(wh_sig_match_hex(WH_STRLIT("332db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"), digest, 32));
    assert_false(wh_sig_match_hex(WH_STRLIT("232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817df"), digest, 32));
    assert_false(wh_sig_match_hex(WH_STRLIT(DIGEST_HEX "00"), digest, 32));
    assert_false(wh_sig_match_hex(wh_str(DIGEST_HEX, 62), digest, 32));
    assert_false(wh_sig_match_hex(wh_str(DIGEST_HEX, 63), digest, 32));
    assert_false(wh_sig_match_hex(WH_STRLIT("g32db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"), digest, 32));
    assert_false(wh_sig_match_hex(WH_STR_NULL, digest, 32));
    assert_false(wh_sig_match_hex(WH_STRLIT(DIGEST_HEX), digest, WH_SIG_MAX_DIGEST + 1));
    /* A prefix of the right bytes is not the right bytes. */
    assert_false(wh_sig_match_hex(wh_str(DIGEST_HEX, 32), digest, 32));
    assert_true(wh_sig_match_hex(wh_str(DIGEST_HEX, 32), digest, 16));
}

static void test_match_base64(void **state)
{
    char b64[45];

    wh_base64_encode(digest, sizeof(digest), b64);
    assert_int_equal(strlen(b64), 44);
    assert_true(wh_sig_match_base64(wh_str_c(b64), digest, sizeof(digest)));
    b64[0] = b64[0] == 'A' ? 'B' : 'A';
    assert_false(wh_sig_match_base64(wh_str_c(b64), digest, sizeof(digest)));
    wh_base64_encode(digest, sizeof(digest), b64);
    assert_false(wh_sig_match_base64(wh_str(b64, 43), digest, 32)); /* padding missing */
    assert_false(wh_sig_match_base64(wh_str(b64, 40), digest, 32));
    assert_false(wh_sig_match_base64(WH_STRLIT("HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQ=="), digest, 32)); /* 31 bytes */
    assert_false(wh_sig_match_base64(WH_STRLIT("HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQwA"), digest, 32)); /* 33 bytes */
    assert_false(wh_sig_match_base64(WH_STRLIT("HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQ!="), digest, 32));
    assert_false(wh_sig_match_base64(WH_STRLIT("HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDg=Qw="), digest, 32));
    assert_false(wh_sig_match_base64(WH_STR_NULL, digest, 32));
    assert_false(wh_sig_match_base64(wh_str_c(b64), digest, WH_SIG_MAX_DIGEST + 1));
    /* The largest digest fits the decode buffer. */
    {
        uint8_t big[WH_SIG_MAX_DIGEST];
        char big64[4 * ((WH_SIG_MAX_DIGEST + 2) / 3) + 1];
        memset(big, 0xa5, sizeof(big));
        wh_base64_encode(big, sizeof(big), big64);
        assert_true(wh_sig_match_base64(wh_str_c(big64), big, sizeof(big)));
    }
}

static void test_get_header(void **state)
{
    char longv[WH_MAX_HEADER_VALUE + 1];
    wh_header_t headers[] = {
        {WH_STRLIT("content-type"), WH_STRLIT("application/json")},
        {WH_STRLIT("x-empty"), WH_STRLIT("")},
        {WH_STRLIT("x-long"), {longv, sizeof(longv)}},
        {WH_STRLIT("x-bound"), {longv, WH_MAX_HEADER_VALUE}},
        {WH_STRLIT("x-twice"), WH_STRLIT("first")},
        {WH_STRLIT("x-twice"), WH_STRLIT("second")},
    };
    wh_inbound_t in = {.headers = headers, .nheaders = sizeof(headers) / sizeof(headers[0])};
    wh_str_t v;

    memset(longv, 'a', sizeof(longv));
    assert_true(wh_sig_get_header(&in, WH_STRLIT("x-absent"), &v));
    assert_null(v.base);
    assert_true(wh_sig_get_header(&in, WH_STRLIT("x-empty"), &v));
    assert_non_null(v.base);
    assert_int_equal(v.len, 0);
    assert_false(wh_sig_get_header(&in, WH_STRLIT("x-long"), &v));
    assert_true(wh_sig_get_header(&in, WH_STRLIT("x-bound"), &v));
    assert_int_equal(v.len, WH_MAX_HEADER_VALUE);
    assert_true(wh_sig_get_header(&in, WH_STRLIT("x-twice"), &v));
    assert_true(wh_str_eq(v, WH_STRLIT("first")));
    assert_true(wh_sig_get_header(&in, WH_STRLIT("Content-Type"), &v));
    assert_true(wh_str_eq(v, WH_STRLIT("application/json")));
}

static void test_get_credential(void **state)
{
    json_t *c = json_pack("{s:s, s:s, s:i, s:s#}", "secret", "s3cr3t", "empty", "", "number", 7, "nul", "a\0b", (size_t)3);
    wh_str_t v;

    v = wh_sig_get_credential(c, "secret");
    assert_true(wh_str_eq(v, WH_STRLIT("s3cr3t")));
    assert_null(wh_sig_get_credential(c, "empty").base);
    assert_null(wh_sig_get_credential(c, "number").base);
    assert_null(wh_sig_get_credential(c, "absent").base);
    assert_null(wh_sig_get_credential(NULL, "secret").base);
    v = wh_sig_get_credential(c, "nul"); /* length-aware: the NUL is part of the secret */
    assert_int_equal(v.len, 3);
    json_decref(c);
    c = json_pack("[s]", "secret");
    assert_null(wh_sig_get_credential(c, "secret").base);
    json_decref(c);
}

static void hex_key(const wh_str_t *parts, size_t n, char out[2 * WH_DEDUPE_KEY_LEN + 1])
{
    uint8_t key[WH_DEDUPE_KEY_LEN];
    wh_sig_dedupe_key(parts, n, key);
    wh_hex_encode(key, sizeof(key), out);
}

static void test_dedupe_key(void **state)
{
    /* Pinned: keys outlive deploys, so the encoding must never change. Computed independently in Python:
     * sha256(b"".join(struct.pack(">Q", len(p)) + p for p in parts)).hexdigest()[:32] */
    const wh_str_t sdk[] = {WH_STRLIT("hubspot/v1"), WH_STRLIT("62515"),        WH_STRLIT("12345"),
                            WH_STRLIT("1"),          WH_STRLIT("123"),          WH_STRLIT("contact.creation"),
                            WH_STRLIT(""),           WH_STRLIT("1564113600000")};
    const wh_str_t ab_c[] = {WH_STRLIT("ab"), WH_STRLIT("c")}, a_bc[] = {WH_STRLIT("a"), WH_STRLIT("bc")};
    const wh_str_t a_empty[] = {WH_STRLIT("a"), WH_STRLIT("")}, a[] = {WH_STRLIT("a")};
    char x[2 * WH_DEDUPE_KEY_LEN + 1], y[2 * WH_DEDUPE_KEY_LEN + 1];

    hex_key(sdk, 8, x);
    assert_string_equal(x, "623d21c360442e663b8e13e2c029b8ea");
    hex_key(ab_c, 2, x);
    hex_key(a_bc, 2, y);
    assert_string_not_equal(x, y);
    hex_key(a_empty, 2, x);
    hex_key(a, 1, y);
    assert_string_not_equal(x, y);
    hex_key(NULL, 0, x);
    assert_string_equal(x, "e3b0c44298fc1c149afbf4c8996fb924"); /* SHA-256 of nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_window), cmocka_unit_test(test_parse_timestamp), cmocka_unit_test(test_match_hex),
        cmocka_unit_test(test_match_base64), cmocka_unit_test(test_get_header),      cmocka_unit_test(test_get_credential),
        cmocka_unit_test(test_dedupe_key),
    };
    return cmocka_run_group_tests_name("providers/sig", tests, NULL, NULL);
}
