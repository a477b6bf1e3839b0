/*
 * queue/evrec.c: an event record's stored body. Bodies are compressed with the version-1 dictionary when that
 * shrinks them and stored as they are otherwise; what was written reads back byte for byte; a stored body that is
 * corrupt, truncated, followed by garbage or that would expand past WH_EVREC_MAX_BODY is refused, never
 * half-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>
#include "../../../queue/evrec.h"

/* A unified contact change as the worker sends it (dispatch/body.c). */
static const char contact[] =
    "{\"type\":\"crm.contact.updated\",\"timestamp\":\"2026-12-07T18:19:26.281Z\",\"data\":{\"eventId\":"
    "\"evt_ca89784bf0404b54e02c0dd456107ecc\",\"connectionId\":\"conn_f4f43b11602c936b8e4287bc\",\"integrationId\":"
    "\"hubspot\",\"objectType\":\"contact\",\"objectId\":\"1100004810\",\"action\":\"updated\",\"occurredAt\":"
    "\"2026-12-07T18:19:27.672Z\",\"changedFields\":[\"email\"],\"fields\":{\"email\":"
    "\"jane.doe+newsletter-2024@example-company.com\"},\"thin\":false}}";

/* The stored form of `body` (one argument of a fresh vector); the caller frees *a. */
static const char *stored(wh_argv_t *a, const char *body, size_t len, size_t *out_len)
{
    wh_argv_init(a);
    wh_argv_begin(a);
    wh_evrec_put_body(a, body, len);
    wh_argv_end(a);
    *out_len = a->lens[0];
    return wh_argv_ptrs(a)[0];
}

static void round_trip(const char *body, size_t len, size_t *stored_len)
{
    wh_argv_t a;
    char *back;
    size_t n, back_len;
    const char *s = stored(&a, body, len, &n);

    assert_true(wh_evrec_body(s, n, &back, &back_len));
    assert_int_equal(back_len, len);
    assert_memory_equal(back, body, len);
    assert_int_equal(back[back_len], '\0');
    free(back);
    *stored_len = n;
    wh_argv_dispose(&a);
}

static void test_typical_body_shrinks(void **state)
{
    size_t n;

    (void)state;
    round_trip(contact, sizeof(contact) - 1, &n);
    /* 433 bytes stored in well under half (measured: ~150) */
    assert_true(n < (sizeof(contact) - 1) / 2);
    {
        wh_argv_t a;
        size_t m;
        const char *s = stored(&a, contact, sizeof(contact) - 1, &m);
        assert_int_equal((unsigned char)s[0], WH_EVREC_DEFLATE_V1);
        wh_argv_dispose(&a);
    }
}

/* What does not shrink (random bytes, the empty body) is stored as it is, and reads back the same. */
static void test_incompressible_stored_plain(void **state)
{
    char noise[300];
    size_t n;
    uint32_t x = 2463534242u;

    (void)state;
    noise[0] = '{';
    for (size_t i = 1; i != sizeof(noise); ++i) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (char)(x & 0xff);
    }
    round_trip(noise, sizeof(noise), &n);
    assert_int_equal(n, sizeof(noise));
    round_trip("", 0, &n);
    assert_int_equal(n, 0);
}

/* Records written before compression (plain JSON after the header line) read as they are. */
static void test_plain_records_read(void **state)
{
    static const char rec[] = "{\"s\":{\"sub_a\":\"delivered:msg_1\"},\"a\":[]}\n{\"type\":\"crm.deal.created\"}";
    json_t *h;
    char *body;
    size_t len;

    (void)state;
    assert_true(wh_evrec_split(rec, sizeof(rec) - 1, &h, &body, &len));
    assert_string_equal(body, "{\"type\":\"crm.deal.created\"}");
    assert_int_equal(len, 27);
    assert_string_equal(json_string_value(json_object_get(json_object_get(h, "s"), "sub_a")), "delivered:msg_1");
    json_decref(h);
    free(body);
}

/* A whole record: header line, compressed body. */
static void test_split_compressed(void **state)
{
    wh_argv_t a;
    json_t *h;
    char *body;
    size_t len;

    (void)state;
    wh_argv_init(&a);
    wh_argv_begin(&a);
    wh_argv_put(&a, "{\"s\":{},\"a\":[]}\n", 16);
    wh_evrec_put_body(&a, contact, sizeof(contact) - 1);
    wh_argv_end(&a);
    assert_true(wh_evrec_split(wh_argv_ptrs(&a)[0], a.lens[0], &h, &body, &len));
    assert_int_equal(len, sizeof(contact) - 1);
    assert_string_equal(body, contact);
    json_decref(h);
    free(body);
    wh_argv_dispose(&a);
}

/* Corrupt stored bodies are refused: every truncation, a flipped byte, trailing bytes, a bare marker. */
static void test_corrupt_refused(void **state)
{
    wh_argv_t a;
    size_t n;
    const char *s;
    char *copy, *out;
    size_t out_len;

    (void)state;
    s = stored(&a, contact, sizeof(contact) - 1, &n);
    for (size_t cut = 1; cut < n; ++cut)
        assert_false(wh_evrec_body(s, cut, &out, &out_len));
    copy = malloc(n + 3);
    assert_non_null(copy);
    memcpy(copy, s, n);
    memcpy(copy + n, "xyz", 3);
    assert_false(wh_evrec_body(copy, n + 3, &out, &out_len)); /* garbage after the stream's end */
    {
        size_t refused = 0;
        for (size_t i = 1; i < n; ++i) { /* a flipped bit is refused or reads as something (never a crash) */
            memcpy(copy, s, n);
            copy[i] ^= 0x40;
            if (!wh_evrec_body(copy, n, &out, &out_len))
                ++refused;
            else
                free(out);
        }
        assert_true(refused > 0);
    }
    free(copy);
    wh_argv_dispose(&a);
    assert_false(wh_evrec_body("\x01", 1, &out, &out_len));
}

/* A small stored body that would expand past the bound (a "bomb") is refused before it is all inflated. */
static void test_expansion_bounded(void **state)
{
    size_t big = (size_t)WH_EVREC_MAX_BODY + 1;
    char *zeros = calloc(1, big), *out;
    unsigned char *packed;
    size_t out_len;
    z_stream z;

    (void)state;
    assert_non_null(zeros);
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    packed = malloc(deflateBound(&z, big) + 1);
    assert_non_null(packed);
    packed[0] = WH_EVREC_DEFLATE_V1;
    z.next_in = (Bytef *)zeros;
    z.avail_in = (uInt)big;
    z.next_out = packed + 1;
    z.avail_out = (uInt)deflateBound(&z, big);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    /* written without the dictionary: inflate asks for none with raw deflate, so only the size bound stops it */
    assert_true(z.total_out < 64 * 1024);
    assert_false(wh_evrec_body((const char *)packed, 1 + z.total_out, &out, &out_len));
    deflateEnd(&z);
    free(packed);
    free(zeros);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical_body_shrinks), cmocka_unit_test(test_incompressible_stored_plain),
        cmocka_unit_test(test_plain_records_read),   cmocka_unit_test(test_split_compressed),
        cmocka_unit_test(test_corrupt_refused),      cmocka_unit_test(test_expansion_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
