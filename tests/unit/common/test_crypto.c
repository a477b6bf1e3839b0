/* common/crypto.c: digests, HMAC, encodings, constant-time comparison and AES-256-GCM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/crypto.h"

/* Lower-case hex of a digest, for assertions that print both sides readably. */
static void hex_of(const uint8_t *in, size_t len, char *out)
{
    wh_hex_encode(in, len, out);
}

/* RFC 4231 section 4: HMAC-SHA-256 test cases 1, 2 and 6. */
static void test_hmac_rfc4231(void **state)
{
    uint8_t key1[20], key6[131], mac[WH_SHA256_LEN];
    char hex[2 * WH_SHA256_LEN + 1];

    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));

    /* test case 1 */
    {
        const wh_str_t parts[] = {WH_STRLIT("Hi There")};
        wh_hmac_sha256(wh_str((const char *)key1, sizeof(key1)), parts, 1, mac);
        hex_of(mac, sizeof(mac), hex);
        assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }
    /* test case 2: a key shorter than the output */
    {
        const wh_str_t parts[] = {WH_STRLIT("what do ya want for nothing?")};
        wh_hmac_sha256(WH_STRLIT("Jefe"), parts, 1, mac);
        hex_of(mac, sizeof(mac), hex);
        assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    /* test case 6: a key larger than the block size is hashed first */
    {
        const wh_str_t parts[] = {WH_STRLIT("Test Using Larger Than Block-Size Key - Hash Key First")};
        wh_hmac_sha256(wh_str((const char *)key6, sizeof(key6)), parts, 1, mac);
        hex_of(mac, sizeof(mac), hex);
        assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
}

/* The MAC is over the concatenation of the parts, however they are split (empty parts included). */
/* The per-thread keyed contexts: many keys in turn (more than the cache holds), each MAC as computed afresh. */
static void test_hmac_key_cache(void **state)
{
    uint8_t first[40][WH_SHA256_LEN], again[WH_SHA256_LEN];
    char key[80];
    const wh_str_t parts[] = {WH_STRLIT("msg_1.1700000000."), WH_STRLIT("{\"type\":\"crm.contact.updated\"}")};

    (void)state;
    for (int round = 0; round != 3; ++round)
        for (int k = 0; k != 40; ++k) {
            /* keys of 1 to 79 bytes: short ones kept, long ones (over 64) never */
            int len = 1 + (k * 2) % 79;
            memset(key, 'a' + k % 26, (size_t)len);
            key[0] = (char)k;
            wh_hmac_sha256(wh_str(key, (size_t)len), parts, 2, round == 0 ? first[k] : again);
            if (round != 0)
                assert_memory_equal(first[k], again, WH_SHA256_LEN);
        }
    /* and the RFC 4231 vector still holds after all that churn */
    {
        static const uint8_t want[] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                       0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                       0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
        const wh_str_t msg[] = {WH_STRLIT("what do ya want for nothing?")};
        wh_hmac_sha256(WH_STRLIT("Jefe"), msg, 1, again);
        assert_memory_equal(again, want, WH_SHA256_LEN);
    }
}

static void test_hmac_parts_concatenate(void **state)
{
    const wh_str_t split[] = {WH_STRLIT("what do "), WH_STR_NULL, WH_STRLIT("ya want"), WH_STRLIT(""), WH_STRLIT(" for nothing?")};
    uint8_t mac[WH_SHA256_LEN];
    char hex[2 * WH_SHA256_LEN + 1];

    wh_hmac_sha256(WH_STRLIT("Jefe"), split, sizeof(split) / sizeof(split[0]), mac);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_sha256(void **state)
{
    uint8_t h[WH_SHA256_LEN];
    char hex[2 * WH_SHA256_LEN + 1];

    /* FIPS 180-2 appendix B.1 */
    {
        const wh_str_t parts[] = {WH_STRLIT("abc")};
        wh_sha256(parts, 1, h);
        hex_of(h, sizeof(h), hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    {
        const wh_str_t parts[] = {WH_STRLIT("a"), WH_STRLIT(""), WH_STRLIT("bc")};
        wh_sha256(parts, 3, h);
        hex_of(h, sizeof(h), hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    /* the empty message */
    wh_sha256(NULL, 0, h);
    hex_of(h, sizeof(h), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_ct_equal(void **state)
{
    static const uint8_t a[] = {1, 2, 3, 4}, b[] = {1, 2, 3, 4}, c[] = {1, 2, 3, 5}, d[] = {0, 2, 3, 4};

    assert_true(wh_ct_equal(a, 4, b, 4));
    assert_false(wh_ct_equal(a, 4, c, 4)); /* last byte differs */
    assert_false(wh_ct_equal(a, 4, d, 4)); /* first byte differs */
    /* a prefix is not equal: the lengths differ */
    assert_false(wh_ct_equal(a, 3, b, 4));
    assert_false(wh_ct_equal(a, 4, b, 3));
    assert_true(wh_ct_equal(a, 3, b, 3));
    assert_true(wh_ct_equal(NULL, 0, NULL, 0));
    assert_false(wh_ct_equal(NULL, 0, a, 1));
}

static void test_hex_encode(void **state)
{
    static const uint8_t in[] = {0x00, 0xff, 0x10, 0xab, 0x7f, 0x80};
    char out[2 * sizeof(in) + 2];

    memset(out, 'X', sizeof(out));
    wh_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00ff10ab7f80");
    assert_int_equal(out[2 * sizeof(in) + 1], 'X'); /* nothing past the NUL */

    wh_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_hex_decode(void **state)
{
    uint8_t out[8];
    static const uint8_t want[] = {0x00, 0xff, 0x10, 0xab};

    assert_int_equal(wh_hex_decode(WH_STRLIT("00FF10ab"), out, 4), 4); /* either case, exact cap */
    assert_memory_equal(out, want, 4);
    assert_int_equal(wh_hex_decode(WH_STRLIT(""), out, 0), 0);

    /* odd length */
    assert_int_equal(wh_hex_decode(WH_STRLIT("abc"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("a"), out, sizeof(out)), -1);
    /* bad characters, in either nibble, anywhere */
    assert_int_equal(wh_hex_decode(WH_STRLIT("zz"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("0g"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("g0"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("0011 2"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("00112-"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(WH_STRLIT("0x00"), out, sizeof(out)), -1);
    assert_int_equal(wh_hex_decode(wh_str("00\0"
                                          "0",
                                          4),
                                   out, sizeof(out)),
                     -1);

    /* overflow of cap: refused, and nothing written past cap */
    memset(out, 0xee, sizeof(out));
    assert_int_equal(wh_hex_decode(WH_STRLIT("0011223344"), out, 4), -1);
    for (size_t i = 4; i != sizeof(out); ++i)
        assert_int_equal(out[i], 0xee);
    assert_int_equal(wh_hex_decode(WH_STRLIT("00"), out, 0), -1);
}

static void test_hex_round_trip(void **state)
{
    uint8_t in[256], back[256];
    char hex[2 * sizeof(in) + 1];

    for (size_t i = 0; i != sizeof(in); ++i)
        in[i] = (uint8_t)i;
    wh_hex_encode(in, sizeof(in), hex);
    assert_int_equal(strlen(hex), 2 * sizeof(in));
    assert_int_equal(wh_hex_decode(wh_str_c(hex), back, sizeof(back)), sizeof(in));
    assert_memory_equal(in, back, sizeof(in));
}

/* RFC 4648 section 10 */
static const struct {
    const char *plain, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_base64_encode_rfc4648(void **state)
{
    char out[16];

    for (size_t i = 0; i != sizeof(rfc4648) / sizeof(rfc4648[0]); ++i) {
        size_t len = strlen(rfc4648[i].plain);
        size_t n = wh_base64_encode((const uint8_t *)rfc4648[i].plain, len, out);
        print_message("  encode \"%s\"\n", rfc4648[i].plain);
        assert_string_equal(out, rfc4648[i].b64);
        assert_int_equal(n, strlen(rfc4648[i].b64));
        assert_int_equal(n, 4 * ((len + 2) / 3));
    }
}

static void test_base64_decode_rfc4648(void **state)
{
    for (size_t i = 0; i != sizeof(rfc4648) / sizeof(rfc4648[0]); ++i) {
        uint8_t out[16];
        size_t cap = 3 * (strlen(rfc4648[i].b64) / 4); /* the documented minimum */
        long n;

        print_message("  decode \"%s\" (cap %zu)\n", rfc4648[i].b64, cap);
        n = wh_base64_decode(wh_str_c(rfc4648[i].b64), out, cap);
        /* the decoded length, padding excluded */
        assert_int_equal(n, strlen(rfc4648[i].plain));
        assert_memory_equal(out, rfc4648[i].plain, strlen(rfc4648[i].plain));
    }
}

static void test_base64_decode_rejects(void **state)
{
    static const char *const bad[] = {
        "Zg=",                            /* length not a multiple of 4 */
        "Zg",                             /* unpadded */
        "Zm9vY",                          /* 5 */
        "Zm9v!A==",                       /* bad character */
        "Zm9v\nYg==", "Zm9 ",             /* whitespace */
        " Zm9",       "Zm9v-_8=",         /* the URL-safe alphabet is not standard base64 */
        "Zg==Zg==",                       /* '=' in the middle */
        "Z=9v",       "Zm=v",     "Zg=a", /* '=' then data */
        "Z===",                           /* more than 2 '=' */
        "====",       "Zm9vY===",
    };
    uint8_t out[32];

    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        long n = wh_base64_decode(wh_str_c(bad[i]), out, sizeof(out));
        if (n != -1)
            fail_msg("\"%s\" decoded to length %ld, expected -1", bad[i], n);
    }
    /* an embedded NUL is a bad character, not the end */
    assert_int_equal(wh_base64_decode(wh_str("Zm9v\0\0\0\0", 8), out, sizeof(out)), -1);
}

static void test_base64_decode_cap(void **state)
{
    uint8_t out[8];

    /* "Zm9vYmFy" needs 6 bytes */
    memset(out, 0xee, sizeof(out));
    assert_int_equal(wh_base64_decode(WH_STRLIT("Zm9vYmFy"), out, 5), -1);
    for (size_t i = 5; i != sizeof(out); ++i)
        assert_int_equal(out[i], 0xee); /* nothing written past cap */
    assert_int_equal(wh_base64_decode(WH_STRLIT("Zm9vYmFy"), out, 6), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(wh_base64_decode(WH_STRLIT("Zg=="), out, 0), -1);
}

static void test_base64_round_trip(void **state)
{
    uint8_t in[64], back[3 * ((sizeof(in) + 2) / 3)]; /* cap >= 3 * (encoded length / 4), as documented */
    char enc[4 * ((sizeof(in) + 2) / 3) + 1];

    for (size_t i = 0; i != sizeof(in); ++i)
        in[i] = (uint8_t)(0xff - 4 * i); /* reaches '+' and '/' */
    for (size_t len = 0; len <= sizeof(in); ++len) {
        size_t n = wh_base64_encode(in, len, enc);
        long m;
        assert_int_equal(n, strlen(enc));
        m = wh_base64_decode(wh_str(enc, n), back, sizeof(back));
        if (m != (long)len)
            fail_msg("length %zu: \"%s\" decoded to %ld bytes", len, enc, m);
        assert_memory_equal(in, back, len);
    }
}

static void test_base64url(void **state)
{
    static const uint8_t plus_slash[] = {0xfb, 0xff, 0xbf}; /* standard "+/+/" */
    static const uint8_t plus_slash2[] = {0xfb, 0xff};      /* standard "+/8=" */
    char out[16];

    for (size_t i = 0; i != sizeof(rfc4648) / sizeof(rfc4648[0]); ++i) {
        size_t n = wh_base64url_encode((const uint8_t *)rfc4648[i].plain, strlen(rfc4648[i].plain), out);
        assert_string_equal(out, rfc4648[i].b64url);
        assert_int_equal(n, strlen(rfc4648[i].b64url));
    }
    assert_int_equal(wh_base64url_encode(plus_slash, sizeof(plus_slash), out), 4);
    assert_string_equal(out, "-_-_");
    assert_int_equal(wh_base64url_encode(plus_slash2, sizeof(plus_slash2), out), 3);
    assert_string_equal(out, "-_8");
}

static void test_random(void **state)
{
    uint8_t a[32], b[32];
    char id[64];

    wh_random_bytes(a, sizeof(a));
    wh_random_bytes(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a)); /* 2^-256 */

    wh_random_id("evt_", 16, id, sizeof(id));
    assert_int_equal(strlen(id), 4 + 32);
    assert_memory_equal(id, "evt_", 4);
    for (size_t i = 4; i != 36; ++i)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            fail_msg("\"%s\": byte %zu is not lower-case hex", id, i);
}

static const uint8_t aead_key[WH_AEAD_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
#define PLAIN "{\"clientSecret\":\"s3cr3t-value\"}"
#define AAD "conn_a"

static void test_aead_round_trip(void **state)
{
    uint8_t sealed[sizeof(PLAIN) - 1 + WH_AEAD_OVERHEAD], sealed2[sizeof(sealed)], plain[sizeof(PLAIN)];
    size_t plen = 0;

    assert_int_equal(wh_aead_seal(aead_key, WH_STRLIT(AAD), WH_STRLIT(PLAIN), sealed), WH_OK);
    /* the plaintext does not appear in the blob */
    assert_memory_not_equal(sealed + 12, PLAIN, sizeof(PLAIN) - 1);
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT(AAD), wh_str((const char *)sealed, sizeof(sealed)), plain, &plen), WH_OK);
    assert_int_equal(plen, sizeof(PLAIN) - 1);
    assert_memory_equal(plain, PLAIN, plen);

    /* a fresh nonce each time: sealing the same secret twice gives different blobs, both of which open */
    assert_int_equal(wh_aead_seal(aead_key, WH_STRLIT(AAD), WH_STRLIT(PLAIN), sealed2), WH_OK);
    assert_memory_not_equal(sealed, sealed2, 12);
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT(AAD), wh_str((const char *)sealed2, sizeof(sealed2)), plain, &plen), WH_OK);
    assert_memory_equal(plain, PLAIN, sizeof(PLAIN) - 1);
}

static void test_aead_empty(void **state)
{
    uint8_t sealed[WH_AEAD_OVERHEAD] = {0}, plain[1];
    size_t plen = 99;

    /* an empty plaintext and an empty aad are still authenticated */
    assert_int_equal(wh_aead_seal(aead_key, WH_STRLIT(""), WH_STRLIT(""), sealed), WH_OK);
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT(""), wh_str((const char *)sealed, sizeof(sealed)), plain, &plen), WH_OK);
    assert_int_equal(plen, 0);
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT("x"), wh_str((const char *)sealed, sizeof(sealed)), plain, &plen),
                     WH_ECRYPTO);
    sealed[WH_AEAD_OVERHEAD - 1] ^= 1;
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT(""), wh_str((const char *)sealed, sizeof(sealed)), plain, &plen), WH_ECRYPTO);
}

static void test_aead_refusals(void **state)
{
    uint8_t sealed[sizeof(PLAIN) - 1 + WH_AEAD_OVERHEAD] = {0}, copy[sizeof(sealed)], plain[sizeof(sealed)],
                                       other_key[WH_AEAD_KEY_LEN];
    size_t plen;
    const wh_str_t blob = wh_str((const char *)sealed, sizeof(sealed));

    assert_int_equal(wh_aead_seal(aead_key, WH_STRLIT(AAD), WH_STRLIT(PLAIN), sealed), WH_OK);

    /* wrong key: one bit off */
    memcpy(other_key, aead_key, sizeof(other_key));
    other_key[31] ^= 0x80;
    assert_string_equal(wh_err_name(wh_aead_open(other_key, WH_STRLIT(AAD), blob, plain, &plen)), wh_err_name(WH_ECRYPTO));

    /* wrong aad: another owner, a prefix of the owner, no aad at all */
    assert_string_equal(wh_err_name(wh_aead_open(aead_key, WH_STRLIT("conn_b"), blob, plain, &plen)), wh_err_name(WH_ECRYPTO));
    assert_string_equal(wh_err_name(wh_aead_open(aead_key, WH_STRLIT("conn_"), blob, plain, &plen)), wh_err_name(WH_ECRYPTO));
    assert_string_equal(wh_err_name(wh_aead_open(aead_key, WH_STRLIT(""), blob, plain, &plen)), wh_err_name(WH_ECRYPTO));

    /* one flipped bit anywhere (nonce, ciphertext, tag) */
    for (size_t i = 0; i != sizeof(sealed); ++i) {
        memcpy(copy, sealed, sizeof(sealed));
        copy[i] ^= 0x01;
        if (wh_aead_open(aead_key, WH_STRLIT(AAD), wh_str((const char *)copy, sizeof(copy)), plain, &plen) != WH_ECRYPTO)
            fail_msg("a flipped bit at byte %zu of %zu was not detected", i, sizeof(sealed));
    }

    /* truncated: by one byte, to the bare overhead, below it, to nothing */
    {
        const size_t lens[] = {sizeof(sealed) - 1, sizeof(sealed) - 16, WH_AEAD_OVERHEAD, WH_AEAD_OVERHEAD - 1, 12, 1, 0};
        for (size_t i = 0; i != sizeof(lens) / sizeof(lens[0]); ++i) {
            if (wh_aead_open(aead_key, WH_STRLIT(AAD), wh_str((const char *)sealed, lens[i]), plain, &plen) != WH_ECRYPTO)
                fail_msg("a blob truncated to %zu of %zu bytes was not refused", lens[i], sizeof(sealed));
        }
    }

    /* the untouched blob still opens (the refusals above were about the changes, not the blob) */
    assert_int_equal(wh_aead_open(aead_key, WH_STRLIT(AAD), blob, plain, &plen), WH_OK);
    assert_memory_equal(plain, PLAIN, sizeof(PLAIN) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_parts_concatenate),
        cmocka_unit_test(test_hmac_key_cache),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_base64_encode_rfc4648),
        cmocka_unit_test(test_base64_decode_rfc4648),
        cmocka_unit_test(test_base64_decode_rejects),
        cmocka_unit_test(test_base64_decode_cap),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_aead_round_trip),
        cmocka_unit_test(test_aead_empty),
        cmocka_unit_test(test_aead_refusals),
    };
    return cmocka_run_group_tests_name("common/crypto", tests, NULL, NULL);
}
