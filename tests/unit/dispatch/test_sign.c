/* dispatch/sign.c: Standard Webhooks signatures, secrets and webhook ids (design §7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/crypto.h"
#include "../../../dispatch/sign.h"

/*
 * The Standard Webhooks test vector, as the reference libraries assert it: standard-webhooks/standard-webhooks,
 * libraries/python/tests/test_webhooks.py, test_sign_function (commit 33d368b20c5543357f4f27fd13bed0703b8c5204):
 *   key "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id "msg_p5jXN8AQM9LWM0D4loKWxJek",
 *   timestamp 1614265330, payload '{"test": 2432232314}' -> "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 * (the same file verifies it with and without the whsec_ prefix: test_signature_verification_with_and_without_prefix).
 */
#define VECTOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS 1614265330
#define VECTOR_BODY "{\"test\": 2432232314}"
#define VECTOR_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* base64-decoded "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" (Python base64.b64decode) */
static const uint8_t vector_key[24] = {0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4,
                                       0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};

static void test_standard_webhooks_vector(void **state)
{
    uint8_t key[WH_SIGN_KEY_MAX];
    size_t keylen = 0, n;
    char sig[WH_SIGNATURE_MAX];

    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT(VECTOR_SECRET), key, &keylen), WH_OK);
    assert_int_equal(keylen, 24);
    assert_memory_equal(key, vector_key, 24);

    memset(sig, 'X', sizeof(sig));
    n = wh_sign_v1(key, keylen, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), sig);
    assert_string_equal(sig, VECTOR_SIG);
    assert_int_equal(n, strlen(VECTOR_SIG));

    /* the same key without its prefix signs the same */
    keylen = 0;
    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), key, &keylen), WH_OK);
    assert_int_equal(keylen, 24);
    wh_sign_v1(key, keylen, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), sig);
    assert_string_equal(sig, VECTOR_SIG);
}

/* During a rotation the header holds both signatures, the new key's first, each the plain v1 signature. */
static void test_rotation_header(void **state)
{
    uint8_t old_key[WH_SIGN_KEY_MAX], new_key[WH_SIGN_KEY_MAX];
    size_t old_len, new_len, n;
    char header[WH_SIGNATURE_HEADER_MAX], want[2 * WH_SIGNATURE_MAX + 1], sig[WH_SIGNATURE_MAX];

    (void)state;
    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT(VECTOR_SECRET), old_key, &old_len), WH_OK);
    /* a 64-byte key (the largest): the header must still fit */
    memset(new_key, 0xa5, sizeof(new_key));
    new_len = sizeof(new_key);

    n = wh_sign_header(new_key, new_len, old_key, old_len, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), header);
    wh_sign_v1(new_key, new_len, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), sig);
    snprintf(want, sizeof(want), "%s %s", sig, VECTOR_SIG);
    assert_string_equal(header, want);
    assert_int_equal(n, strlen(want));
    assert_true(n < WH_SIGNATURE_HEADER_MAX);

    /* no rotation: exactly the one signature, the reference vector */
    n = wh_sign_header(old_key, old_len, NULL, 0, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), header);
    assert_string_equal(header, VECTOR_SIG);
    assert_int_equal(n, strlen(VECTOR_SIG));
}

/* Every signed part matters: id, timestamp, body, key. */
static void test_signature_covers_every_part(void **state)
{
    uint8_t key[WH_SIGN_KEY_MAX];
    size_t keylen;
    char sig[WH_SIGNATURE_MAX];

    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT(VECTOR_SECRET), key, &keylen), WH_OK);

    wh_sign_v1(key, keylen, WH_STRLIT("msg_p5jXN8AQM9LWM0D4loKWxJeK"), VECTOR_TS, WH_STRLIT(VECTOR_BODY), sig);
    assert_string_not_equal(sig, VECTOR_SIG);
    wh_sign_v1(key, keylen, WH_STRLIT(VECTOR_ID), VECTOR_TS + 1, WH_STRLIT(VECTOR_BODY), sig);
    assert_string_not_equal(sig, VECTOR_SIG);
    wh_sign_v1(key, keylen, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT("{\"test\": 2432232315}"), sig);
    assert_string_not_equal(sig, VECTOR_SIG);
    key[0] ^= 1;
    wh_sign_v1(key, keylen, WH_STRLIT(VECTOR_ID), VECTOR_TS, WH_STRLIT(VECTOR_BODY), sig);
    assert_string_not_equal(sig, VECTOR_SIG);
}

/* The signed content is id "." ts "." body, checked against HMAC-SHA256 computed on that string directly. */
static void test_signed_content_layout(void **state)
{
    static const uint8_t key[] = {1, 2, 3, 4, 5};
    static const char body[] = "{\"type\":\"crm.contact.updated\"}";
    const wh_str_t whole[] = {WH_STRLIT("msg_1.1732356000.{\"type\":\"crm.contact.updated\"}")};
    uint8_t mac[WH_SHA256_LEN];
    char want[WH_SIGNATURE_MAX], sig[WH_SIGNATURE_MAX];

    wh_hmac_sha256(wh_str((const char *)key, sizeof(key)), whole, 1, mac);
    memcpy(want, "v1,", 3);
    wh_base64_encode(mac, sizeof(mac), want + 3);
    wh_sign_v1(key, sizeof(key), WH_STRLIT("msg_1"), 1732356000, wh_str(body, sizeof(body) - 1), sig);
    assert_string_equal(sig, want);

    /* an empty body and a timestamp of 0 are still signed ("msg_1.0.") */
    {
        const wh_str_t empty[] = {WH_STRLIT("msg_1.0.")};
        wh_hmac_sha256(wh_str((const char *)key, sizeof(key)), empty, 1, mac);
        wh_base64_encode(mac, sizeof(mac), want + 3);
        wh_sign_v1(key, sizeof(key), WH_STRLIT("msg_1"), 0, WH_STRLIT(""), sig);
        assert_string_equal(sig, want);
    }
}

static void test_key_from_secret_bounds(void **state)
{
    uint8_t key[WH_SIGN_KEY_MAX];
    size_t keylen;
    /* base64 of bytes 0..63 and 0..64 (Python base64.b64encode(bytes(range(n)))) */
    static const char b64_64[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    static const char b64_65[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=";

    keylen = 0;
    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT(b64_64), key, &keylen), WH_OK);
    assert_int_equal(keylen, 64);
    for (size_t i = 0; i != 64; ++i)
        assert_int_equal(key[i], i);

    keylen = 0;
    assert_int_equal(wh_sign_key_from_secret(WH_STRLIT("whsec_AA=="), key, &keylen), WH_OK);
    assert_int_equal(keylen, 1);
    assert_int_equal(key[0], 0);

    {
        static const struct {
            const char *secret;
            const char *what;
        } bad[] = {
            {"", "empty"},
            {"whsec_", "prefix only"},
            {"whsec_not base64!", "bad base64"},
            {"whsec_Zg=", "bad base64 length"},
            {"whsec_Zg==Zg==", "padding in the middle"},
            {"whsec_-_8=", "URL-safe alphabet"},
            {b64_65, "65 bytes"},
            {"whsec_whsec_AAAA", "prefix twice"},
        };
        for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
            wh_err_t err = wh_sign_key_from_secret(wh_str_c(bad[i].secret), key, &keylen);
            if (err != WH_EINVAL)
                fail_msg("%s (\"%s\"): %s, expected invalid", bad[i].what, bad[i].secret, wh_err_name(err));
        }
    }
    /* a long secret is refused, not read past */
    {
        char longsecret[400];
        memcpy(longsecret, "whsec_", 6);
        memset(longsecret + 6, 'A', sizeof(longsecret) - 6);
        assert_int_equal(wh_sign_key_from_secret(wh_str(longsecret, sizeof(longsecret)), key, &keylen), WH_EINVAL);
    }
}

static void test_new_secret(void **state)
{
    char a[64], b[64];
    uint8_t key[WH_SIGN_KEY_MAX], raw[32];
    size_t keylen = 0;

    memset(a, 'X', sizeof(a));
    wh_sign_new_secret(a, 39);
    assert_int_equal(strlen(a), 6 + 32);
    assert_memory_equal(a, "whsec_", 6);
    assert_int_equal(wh_base64_decode(wh_str(a + 6, 32), raw, sizeof(raw)), 24);
    assert_int_equal(wh_sign_key_from_secret(wh_str_c(a), key, &keylen), WH_OK);
    assert_int_equal(keylen, 24);
    assert_memory_equal(key, raw, 24);

    wh_sign_new_secret(b, sizeof(b));
    assert_string_not_equal(a, b);
}

static void assert_webhook_id_shape(const char *id)
{
    if (strlen(id) != WH_WEBHOOK_ID_LEN || memcmp(id, "msg_", 4) != 0)
        fail_msg("\"%s\" is not msg_ + 32 hex", id);
    for (size_t i = 4; i != WH_WEBHOOK_ID_LEN; ++i)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            fail_msg("\"%s\": byte %zu is not lower-case hex", id, i);
}

static void test_webhook_id(void **state)
{
    char a[WH_WEBHOOK_ID_LEN + 1], b[WH_WEBHOOK_ID_LEN + 1];

    /* the first 16 bytes of SHA-256("evt_1:sub_1"), computed with Python's hashlib */
    wh_webhook_id("evt_1", "sub_1", a);
    assert_string_equal(a, "msg_a71c7979cbecce0160a0fee1e8f79892");
    assert_webhook_id_shape(a);

    /* deterministic: every retry, replay and redelivery carries the same id */
    wh_webhook_id("evt_1", "sub_1", b);
    assert_string_equal(a, b);

    /* per subscription and per event */
    wh_webhook_id("evt_1", "sub_2", b);
    assert_webhook_id_shape(b);
    assert_string_not_equal(a, b);
    wh_webhook_id("evt_2", "sub_1", b);
    assert_string_not_equal(a, b);
    /* the order of event and subscription matters */
    wh_webhook_id("sub_1", "evt_1", b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_webhooks_vector),
        cmocka_unit_test(test_rotation_header),
        cmocka_unit_test(test_signature_covers_every_part),
        cmocka_unit_test(test_signed_content_layout),
        cmocka_unit_test(test_key_from_secret_bounds),
        cmocka_unit_test(test_new_secret),
        cmocka_unit_test(test_webhook_id),
    };
    return cmocka_run_group_tests_name("dispatch/sign", tests, NULL, NULL);
}
