/*
 * queue/envelope.c: change events ↔ msgpack stream entries (design §4), and queue/keys.c's partition hash.
 * Changes are built by hand here (no provider involved), packed as the gateway packs them, and unpacked as
 * the worker unpacks them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/limits.h"
#include "../../../queue/envelope.h"
#include "../../../queue/keys.h"

#define EVENT_ID "evt_0123456789abcdef0123456789abcdef"

static const wh_envelope_ctx_t ctx = {
    .connection_id = "conn_a",
    .environment_id = "env_1",
    .integration_id = "hubspot",
    .source = "webhook",
    .received_at_ms = 1732356000456LL,
};

static void assert_json_equal(const json_t *got, const json_t *want, const char *what)
{
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *g = got != NULL ? json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        char *w = want != NULL ? json_dumps(want, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        print_error("%s:\n  got  %s\n  want %s\n", what, g != NULL ? g : "(null)", w != NULL ? w : "(null)");
        free(g);
        free(w);
        fail();
    }
}

static void assert_err(wh_err_t got, wh_err_t want, const char *errbuf, const char *what)
{
    if (got != want)
        fail_msg("%s: %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
}

static json_t *must(json_t *v)
{
    assert_non_null(v);
    return v;
}

/* A change with every optional part set and every JSON type in its fields. */
static void full_change(wh_change_t *c)
{
    json_t *fields;

    memset(c, 0, sizeof(*c));
    c->object_type = "contact";
    c->action = "updated";
    snprintf(c->object_id, sizeof(c->object_id), "%s", "51");
    c->occurred_at_ms = 1732355999000LL;
    snprintf(c->account, sizeof(c->account), "%s", "62515");
    snprintf(c->provider_event_id, sizeof(c->provider_event_id), "%s", "4052381");
    /* Latin-1, CJK and a 4-byte emoji; integer bounds; reals; booleans; null; a mixed array; nested objects */
    fields = must(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:f, s:f, s:f, s:b, s:b, s:n, s:[s, i, n, {s:s}],"
                            " s:{s:{s:{s:[i, i, {s:s}]}}, s:{}, s:[]}}",
                            "firstName", "Zoë", "lastName", "Ångström 東京 \xf0\x9f\x8e\x89", "email", "zoe@example.com", "amount",
                            (json_int_t)INT64_MAX, "balance", (json_int_t)INT64_MIN, "zero", (json_int_t)0, "negative", -1, "score",
                            3.25, "ratio", -0.5, "huge", 1e300, "vip", 1, "churned", 0, "phone", "tags", "a", 1, "k", "v",
                            "additional", "hs_custom", "nested", "deeper", 1, 2, "z", "end", "empty_obj", "empty_arr"));
    json_object_set_new(fields, "a real that looks whole", must(json_real(2.0)));
    json_object_set_new(fields, "prénom", must(json_string("clé")));
    json_object_set_new(fields, "with NUL", must(json_stringn("a\0b", 3)));
    json_object_set_new(fields, "", must(json_string("empty key")));
    c->fields = fields;
    c->changed_fields = must(json_pack("[s, s]", "email", "firstName"));
    c->previous = must(json_pack("{s:s, s:n}", "email", "old@example.com", "firstName"));
    c->extra = must(json_pack("{s:[s, s]}", "mergedIds", "1", "2"));
    c->thin = false;
}

static void change_dispose(wh_change_t *c)
{
    json_decref(c->fields);
    json_decref(c->changed_fields);
    json_decref(c->previous);
    json_decref(c->extra);
}

/* An entry as the gateway writes it: msgpack_pack_array(n), then n envelopes. */
static void pack_entry(msgpack_sbuffer *sb, const wh_change_t *changes, size_t n)
{
    msgpack_packer pk;
    char id[WH_EVENT_ID_LEN + 1];

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i != n; ++i) {
        snprintf(id, sizeof(id), "evt_%032zx", i);
        wh_envelope_pack(&pk, &ctx, &changes[i], n == 1 ? EVENT_ID : id);
    }
}

/* An entry whose elements are the given JSON values, packed as msgpack (for hand-made variants). */
static void pack_json_entry(msgpack_sbuffer *sb, const json_t *arr)
{
    msgpack_packer pk;

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    wh_msgpack_pack_json(&pk, arr);
}

static wh_err_t unpack(const char *buf, size_t len, json_t **out, char *errbuf)
{
    /* an exactly sized heap copy, so a read past the end is an ASan report */
    char *copy = malloc(len != 0 ? len : 1);
    wh_err_t err;

    assert_non_null(copy);
    if (len != 0)
        memcpy(copy, buf, len);
    errbuf[0] = '\0';
    err = wh_envelope_unpack(copy, len, out, errbuf);
    free(copy);
    return err;
}

/* One valid envelope, decoded to JSON, for tests that alter it. */
static json_t *valid_envelope(void)
{
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr, *ev;
    char errbuf[WH_ERRBUF_SIZE];

    full_change(&c);
    pack_entry(&sb, &c, 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "valid envelope");
    ev = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c);
    return ev;
}

/* Packs [ev] and expects wh_envelope_unpack to answer `want`. Takes ev. */
static void expect_envelope(json_t *ev, wh_err_t want, const char *what)
{
    msgpack_sbuffer sb;
    json_t *arr = must(json_array()), *out = NULL;
    char errbuf[WH_ERRBUF_SIZE];

    json_array_append_new(arr, ev);
    pack_json_entry(&sb, arr);
    assert_err(unpack(sb.data, sb.size, &out, errbuf), want, errbuf, what);
    if (want != WH_OK)
        assert_null(out);
    json_decref(out);
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
}

static void assert_str_member(const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("\"%s\" is missing or not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_int_member(const json_t *o, const char *key, json_int_t want)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is missing or not an integer", key);
    if (json_integer_value(v) != want)
        fail_msg("\"%s\" = %lld, expected %lld", key, (long long)json_integer_value(v), (long long)want);
}

static void test_round_trip_every_key(void **state)
{
    static const char *const keys[] = {"v",       "eventId",  "connectionId", "environmentId", "integrationId", "objectType",
                                       "action",  "objectId", "occurredAt",   "receivedAt",    "source",        "providerEventId",
                                       "account", "fields",   "thin",         "changedFields", "previous",      "extra"};
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr = NULL, *ev;
    char errbuf[WH_ERRBUF_SIZE];

    full_change(&c);
    pack_entry(&sb, &c, 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "full change");
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 1);
    ev = json_array_get(arr, 0);

    assert_int_member(ev, "v", 1);
    assert_str_member(ev, "eventId", EVENT_ID);
    assert_str_member(ev, "connectionId", "conn_a");
    assert_str_member(ev, "environmentId", "env_1");
    assert_str_member(ev, "integrationId", "hubspot");
    assert_str_member(ev, "objectType", "contact");
    assert_str_member(ev, "action", "updated");
    assert_str_member(ev, "objectId", "51");
    assert_int_member(ev, "occurredAt", 1732355999000LL);
    assert_int_member(ev, "receivedAt", 1732356000456LL);
    assert_str_member(ev, "source", "webhook");
    assert_str_member(ev, "providerEventId", "4052381");
    assert_str_member(ev, "account", "62515");
    assert_json_equal(json_object_get(ev, "fields"), c.fields, "fields");
    assert_true(json_is_false(json_object_get(ev, "thin")));
    assert_json_equal(json_object_get(ev, "changedFields"), c.changed_fields, "changedFields");
    assert_json_equal(json_object_get(ev, "previous"), c.previous, "previous");
    assert_json_equal(json_object_get(ev, "extra"), c.extra, "extra");

    /* nothing else */
    assert_int_equal(json_object_size(ev), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i != sizeof(keys) / sizeof(keys[0]); ++i)
        if (json_object_get(ev, keys[i]) == NULL)
            fail_msg("key \"%s\" missing", keys[i]);

    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c);
}

/* Types survive exactly: an integer stays an integer (bounds included), a real a real, even when whole. */
static void test_value_types(void **state)
{
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr = NULL, *fields;
    char errbuf[WH_ERRBUF_SIZE];

    full_change(&c);
    pack_entry(&sb, &c, 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "full change");
    fields = json_object_get(json_array_get(arr, 0), "fields");

    assert_true(json_is_integer(json_object_get(fields, "amount")));
    assert_true(json_integer_value(json_object_get(fields, "amount")) == INT64_MAX);
    assert_true(json_is_integer(json_object_get(fields, "balance")));
    assert_true(json_integer_value(json_object_get(fields, "balance")) == INT64_MIN);
    assert_true(json_is_integer(json_object_get(fields, "negative")));
    assert_int_equal(json_integer_value(json_object_get(fields, "negative")), -1);
    assert_true(json_is_real(json_object_get(fields, "a real that looks whole")));
    assert_true(json_real_value(json_object_get(fields, "a real that looks whole")) == 2.0);
    assert_true(json_real_value(json_object_get(fields, "huge")) == 1e300);
    assert_true(json_real_value(json_object_get(fields, "ratio")) == -0.5);
    assert_true(json_is_true(json_object_get(fields, "vip")));
    assert_true(json_is_false(json_object_get(fields, "churned")));
    assert_true(json_is_null(json_object_get(fields, "phone")));
    assert_string_equal(json_string_value(json_object_get(fields, "lastName")), "Ångström 東京 \xf0\x9f\x8e\x89");
    assert_string_equal(json_string_value(json_object_get(fields, "prénom")), "clé");
    /* binary-safe strings */
    assert_int_equal(json_string_length(json_object_get(fields, "with NUL")), 3);
    assert_memory_equal(json_string_value(json_object_get(fields, "with NUL")), "a\0b", 3);
    assert_json_equal(fields, c.fields, "fields");

    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c);
}

/* changedFields, previous and extra are written only when set; a thin change has empty fields. */
static void test_optional_keys(void **state)
{
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr = NULL, *ev, *empty = must(json_object());
    char errbuf[WH_ERRBUF_SIZE];

    memset(&c, 0, sizeof(c));
    c.object_type = "deal";
    c.action = "deleted";
    snprintf(c.object_id, sizeof(c.object_id), "%s", "9");
    c.occurred_at_ms = -5; /* before the epoch: still an integer */
    c.thin = true;
    pack_entry(&sb, &c, 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "thin change");
    ev = json_array_get(arr, 0);
    assert_null(json_object_get(ev, "changedFields"));
    assert_null(json_object_get(ev, "previous"));
    assert_null(json_object_get(ev, "extra"));
    assert_true(json_is_true(json_object_get(ev, "thin")));
    assert_json_equal(json_object_get(ev, "fields"), empty, "fields of a thin change");
    assert_int_member(ev, "occurredAt", -5);
    assert_str_member(ev, "providerEventId", "");
    assert_str_member(ev, "account", "");
    assert_int_equal(json_object_size(ev), 15);
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);

    /* each optional part on its own */
    for (int which = 0; which != 3; ++which) {
        const char *key = which == 0 ? "changedFields" : which == 1 ? "previous" : "extra";
        json_t **slot = which == 0 ? &c.changed_fields : which == 1 ? &c.previous : &c.extra;
        *slot = which == 0 ? must(json_pack("[s]", "stage")) : must(json_pack("{s:s}", "stage", "won"));
        pack_entry(&sb, &c, 1);
        assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, key);
        ev = json_array_get(arr, 0);
        assert_json_equal(json_object_get(ev, key), *slot, key);
        assert_int_equal(json_object_size(ev), 16);
        json_decref(arr);
        msgpack_sbuffer_destroy(&sb);
        json_decref(*slot);
        *slot = NULL;
    }
    json_decref(empty);
}

static void test_several_envelopes_keep_their_order(void **state)
{
    wh_change_t c[3];
    msgpack_sbuffer sb;
    json_t *arr = NULL;
    char errbuf[WH_ERRBUF_SIZE], id[WH_EVENT_ID_LEN + 1];

    for (size_t i = 0; i != 3; ++i) {
        full_change(&c[i]);
        snprintf(c[i].object_id, sizeof(c[i].object_id), "obj-%zu", i);
    }
    pack_entry(&sb, c, 3);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "three changes");
    assert_int_equal(json_array_size(arr), 3);
    for (size_t i = 0; i != 3; ++i) {
        char obj[16];
        snprintf(id, sizeof(id), "evt_%032zx", i);
        snprintf(obj, sizeof(obj), "obj-%zu", i);
        assert_str_member(json_array_get(arr, i), "eventId", id);
        assert_str_member(json_array_get(arr, i), "objectId", obj);
        change_dispose(&c[i]);
    }
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
}

/*
 * queue/scripts/ingest.lua writes the array header itself (0x90+n below 16, else 0xdc + 16-bit big-endian n)
 * and concatenates the envelope maps the gateway packed one by one.
 */
static void test_lua_built_header(void **state)
{
    static const size_t counts[] = {1, 15, 16, 100};
    wh_change_t c;

    full_change(&c);
    for (size_t k = 0; k != sizeof(counts) / sizeof(counts[0]); ++k) {
        size_t n = counts[k];
        msgpack_sbuffer body;
        msgpack_packer pk;
        char *entry, errbuf[WH_ERRBUF_SIZE], id[WH_EVENT_ID_LEN + 1];
        size_t hlen, len;
        json_t *arr = NULL;

        msgpack_sbuffer_init(&body);
        msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
        for (size_t i = 0; i != n; ++i) {
            snprintf(id, sizeof(id), "evt_%032zx", i);
            wh_envelope_pack(&pk, &ctx, &c, id); /* a bare map, no array around it */
        }
        entry = malloc(3 + body.size);
        assert_non_null(entry);
        if (n < 16) {
            entry[0] = (char)(0x90 + n);
            hlen = 1;
        } else {
            entry[0] = (char)0xdc;
            entry[1] = (char)(n / 256);
            entry[2] = (char)(n % 256);
            hlen = 3;
        }
        memcpy(entry + hlen, body.data, body.size);
        len = hlen + body.size;

        print_message("  %zu envelopes behind a %zu-byte header\n", n, hlen);
        assert_err(unpack(entry, len, &arr, errbuf), WH_OK, errbuf, "Lua-built entry");
        assert_int_equal(json_array_size(arr), n);
        for (size_t i = 0; i != n; ++i) {
            snprintf(id, sizeof(id), "evt_%032zx", i);
            assert_str_member(json_array_get(arr, i), "eventId", id);
            assert_json_equal(json_object_get(json_array_get(arr, i), "fields"), c.fields, "fields");
        }
        json_decref(arr);

        /* a header announcing one envelope more than follow is a truncated entry */
        if (n < 15) {
            entry[0] = (char)(0x90 + n + 1);
        } else {
            entry[0] = (char)0xdc;
            entry[1] = (char)((n + 1) / 256);
            entry[2] = (char)((n + 1) % 256);
            if (n == 15) { /* 16 needs the long form: shift the body by two bytes */
                memmove(entry + 3, entry + 1, body.size);
                len = 3 + body.size;
            }
        }
        assert_err(unpack(entry, len, &arr, errbuf), WH_EMALFORMED, errbuf, "header announces n+1");
        free(entry);
        msgpack_sbuffer_destroy(&body);
    }
    change_dispose(&c);
}

/* Builds a valid one-envelope entry of exactly `size` bytes (a padding string in fields). */
static void entry_of_size(msgpack_sbuffer *sb, size_t size)
{
    wh_change_t c;
    size_t pad = size - 4096, got;
    char *filler;

    memset(&c, 0, sizeof(c));
    c.object_type = "note";
    c.action = "created";
    snprintf(c.object_id, sizeof(c.object_id), "%s", "1");
    for (int round = 0; round != 2; ++round) {
        filler = malloc(pad);
        assert_non_null(filler);
        memset(filler, 'x', pad);
        c.fields = must(json_object());
        json_object_set_new(c.fields, "body", must(json_stringn(filler, pad)));
        free(filler);
        pack_entry(sb, &c, 1);
        got = sb->size;
        json_decref(c.fields);
        if (got == size)
            return;
        msgpack_sbuffer_destroy(sb);
        pad += size - got; /* the string header does not change size in this range */
    }
    fail_msg("could not build an entry of %zu bytes", size);
}

static void test_entry_size_bound(void **state)
{
    msgpack_sbuffer sb;
    json_t *arr = NULL;
    char errbuf[WH_ERRBUF_SIZE];
    char *junk;

    /* exactly WH_MAX_ENTRY_BYTES is accepted */
    entry_of_size(&sb, WH_MAX_ENTRY_BYTES);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_OK, errbuf, "entry of WH_MAX_ENTRY_BYTES");
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);

    /* one byte more is too large, even when it is a valid entry */
    entry_of_size(&sb, WH_MAX_ENTRY_BYTES + 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_ETOO_LARGE, errbuf, "entry of WH_MAX_ENTRY_BYTES + 1");
    assert_null(arr);
    msgpack_sbuffer_destroy(&sb);

    /* and refused before being parsed */
    junk = calloc(1, (size_t)WH_MAX_ENTRY_BYTES + 1);
    assert_non_null(junk);
    junk[0] = (char)0x91;
    assert_err(unpack(junk, (size_t)WH_MAX_ENTRY_BYTES + 1, &arr, errbuf), WH_ETOO_LARGE, errbuf, "oversized junk");
    free(junk);
}

static void test_refuses_what_is_not_one_array(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *what;
    } cases[] = {
        {"", 0, "empty buffer"},
        {"\x80", 1, "a map"},
        {"\x81\xa1v\x01", 4, "a map with v"},
        {"\x01", 1, "an integer"},
        {"\xa3"
         "abc",
         4, "a string"},
        {"\xc0", 1, "nil"},
        {"\xc1", 1, "the never-used byte"},
        {"\x90\xc0", 2, "an empty array, then trailing nil"},
        {"\x90\x90", 2, "two arrays"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *arr = NULL;
        assert_err(unpack(cases[i].bytes, cases[i].len, &arr, errbuf), WH_EMALFORMED, errbuf, cases[i].what);
        assert_null(arr);
    }
}

static void test_refuses_trailing_bytes(void **state)
{
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr = NULL;
    char errbuf[WH_ERRBUF_SIZE];

    full_change(&c);
    pack_entry(&sb, &c, 1);
    msgpack_sbuffer_write(&sb, "\x00", 1);
    assert_err(unpack(sb.data, sb.size, &arr, errbuf), WH_EMALFORMED, errbuf, "one trailing byte");
    assert_null(arr);
    {
        /* a whole second entry behind the first */
        size_t one = sb.size - 1;
        char *twice = malloc(2 * one);
        assert_non_null(twice);
        memcpy(twice, sb.data, one);
        memcpy(twice + one, sb.data, one);
        assert_err(unpack(twice, 2 * one, &arr, errbuf), WH_EMALFORMED, errbuf, "two entries");
        assert_null(arr);
        free(twice);
    }
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c);
}

static void test_refuses_elements_that_are_not_envelopes(void **state)
{
    static const struct {
        bool after_valid; /* a valid envelope comes first */
        const char *element;
    } cases[] = {
        {false, "1"}, {false, "\"x\""}, {false, "[]"}, {false, "null"}, {false, "{}"},
        {true, "7"},  {true, "[]"},     {true, "{}"},  {true, "true"},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        msgpack_sbuffer sb;
        json_t *arr = must(json_array()), *out = NULL;
        char errbuf[WH_ERRBUF_SIZE], what[64];

        if (cases[i].after_valid)
            json_array_append_new(arr, valid_envelope());
        json_array_append_new(arr, must(json_loads(cases[i].element, JSON_DECODE_ANY, NULL)));
        snprintf(what, sizeof(what), "element %s%s", cases[i].after_valid ? "after a valid envelope: " : "", cases[i].element);
        pack_json_entry(&sb, arr);
        assert_err(unpack(sb.data, sb.size, &out, errbuf), WH_EMALFORMED, errbuf, what);
        assert_null(out);
        json_decref(arr);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_versions(void **state)
{
    json_t *ev;

    expect_envelope(valid_envelope(), WH_OK, "unchanged");

    ev = valid_envelope();
    json_object_del(ev, "v");
    expect_envelope(ev, WH_EMALFORMED, "missing v");

    ev = valid_envelope();
    json_object_set_new(ev, "v", json_integer(2));
    expect_envelope(ev, WH_EUNSUPPORTED, "v = 2");

    ev = valid_envelope();
    json_object_set_new(ev, "v", json_integer(1000));
    expect_envelope(ev, WH_EUNSUPPORTED, "v = 1000");

    ev = valid_envelope();
    json_object_set_new(ev, "v", json_string("1"));
    expect_envelope(ev, WH_EMALFORMED, "v = \"1\"");

    ev = valid_envelope();
    json_object_set_new(ev, "v", json_real(1.0));
    expect_envelope(ev, WH_EMALFORMED, "v = 1.0");

    ev = valid_envelope();
    json_object_set_new(ev, "v", json_null());
    expect_envelope(ev, WH_EMALFORMED, "v = nil");
}

/* A newer envelope anywhere in the entry makes the whole entry unsupported (left for a newer worker). */
static void test_newer_envelope_after_a_current_one(void **state)
{
    msgpack_sbuffer sb;
    json_t *arr = must(json_array()), *ev = valid_envelope(), *out = NULL;
    char errbuf[WH_ERRBUF_SIZE];

    json_array_append_new(arr, valid_envelope());
    json_object_set_new(ev, "v", json_integer(2));
    json_array_append_new(arr, ev);
    pack_json_entry(&sb, arr);
    assert_err(unpack(sb.data, sb.size, &out, errbuf), WH_EUNSUPPORTED, errbuf, "second envelope v = 2");
    assert_null(out);
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
}

static void test_refuses_missing_or_mistyped_members(void **state)
{
    static const char *const required_strings[] = {"eventId",    "connectionId", "environmentId", "integrationId",
                                                   "objectType", "action",       "objectId",      "source"};
    char what[96];
    json_t *ev;

    for (size_t i = 0; i != sizeof(required_strings) / sizeof(required_strings[0]); ++i) {
        ev = valid_envelope();
        json_object_del(ev, required_strings[i]);
        snprintf(what, sizeof(what), "missing %s", required_strings[i]);
        expect_envelope(ev, WH_EMALFORMED, what);

        ev = valid_envelope();
        json_object_set_new(ev, required_strings[i], json_integer(5));
        snprintf(what, sizeof(what), "%s as an integer", required_strings[i]);
        expect_envelope(ev, WH_EMALFORMED, what);

        ev = valid_envelope();
        json_object_set_new(ev, required_strings[i], json_null());
        snprintf(what, sizeof(what), "%s as nil", required_strings[i]);
        expect_envelope(ev, WH_EMALFORMED, what);
    }

    ev = valid_envelope();
    json_object_del(ev, "occurredAt");
    expect_envelope(ev, WH_EMALFORMED, "missing occurredAt");
    ev = valid_envelope();
    json_object_set_new(ev, "occurredAt", json_string("2024-11-23T10:00:00Z"));
    expect_envelope(ev, WH_EMALFORMED, "occurredAt as a string");
    ev = valid_envelope();
    json_object_del(ev, "fields");
    expect_envelope(ev, WH_EMALFORMED, "missing fields");
    ev = valid_envelope();
    json_object_set_new(ev, "fields", json_array());
    expect_envelope(ev, WH_EMALFORMED, "fields as an array");
    ev = valid_envelope();
    json_object_set_new(ev, "fields", json_null());
    expect_envelope(ev, WH_EMALFORMED, "fields as nil");
}

/* `levels` nested arrays around an integer. */
static json_t *nested_arrays(int levels)
{
    json_t *v = json_integer(7);
    for (int i = 0; i != levels; ++i) {
        json_t *a = must(json_array());
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

static void test_refuses_excessive_nesting(void **state)
{
    static const int levels[] = {WH_MAX_ENVELOPE_DEPTH, WH_MAX_ENVELOPE_DEPTH + 8, 200};
    json_t *ev;

    for (size_t i = 0; i != sizeof(levels) / sizeof(levels[0]); ++i) {
        char what[64];
        ev = valid_envelope();
        json_object_set_new(json_object_get(ev, "fields"), "deep", nested_arrays(levels[i]));
        snprintf(what, sizeof(what), "fields.deep nested %d levels", levels[i]);
        expect_envelope(ev, WH_EMALFORMED, what);
    }
    /* realistic CRM nesting is fine */
    ev = valid_envelope();
    json_object_set_new(json_object_get(ev, "fields"), "deep", nested_arrays(8));
    expect_envelope(ev, WH_OK, "fields.deep nested 8 levels");
}

/*
 * What the gateway accepted must be readable by the worker. A HubSpot body may nest WH_MAX_JSON_DEPTH levels
 * (tests/unit/providers/test_hubspot.c test_depth_limits: exactly that many is accepted); its "propertyValue" then
 * carries WH_MAX_JSON_DEPTH - 2 levels, which the provider stores as fields.additional.<property>. The entry
 * holding that change must unpack, or a request answered 2xx is never delivered.
 */
static void test_fields_as_deep_as_ingest_accepts_round_trip(void **state)
{
    wh_change_t c;
    msgpack_sbuffer sb;
    json_t *arr = NULL;
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err;
    bool same;

    memset(&c, 0, sizeof(c));
    c.object_type = "contact";
    c.action = "updated";
    snprintf(c.object_id, sizeof(c.object_id), "%s", "1");
    c.fields = must(json_object());
    json_object_set_new(c.fields, "additional", must(json_object()));
    json_object_set_new(json_object_get(c.fields, "additional"), "x", nested_arrays(WH_MAX_JSON_DEPTH - 2));
    c.changed_fields = must(json_pack("[s]", "x"));
    pack_entry(&sb, &c, 1);
    err = unpack(sb.data, sb.size, &arr, errbuf);
    same = arr != NULL && json_equal(json_object_get(json_array_get(arr, 0), "fields"), c.fields);
    /* released before asserting, so a failure here is not also reported as a leak */
    json_decref(arr);
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c);
    assert_err(err, WH_OK, errbuf, "fields.additional.x nested WH_MAX_JSON_DEPTH - 2 levels (the deepest HubSpot body accepted)");
    assert_true(same);
}

/*
 * wh_msgpack_to_json's own bound, on msgpack objects built by hand (no unpacker limit involved):
 * WH_MAX_ENVELOPE_DEPTH nested containers convert, one more does not, whatever is innermost.
 */
static void test_msgpack_to_json_depth_bound(void **state)
{
    msgpack_object objs[WH_MAX_ENVELOPE_DEPTH + 2];

    for (int n = WH_MAX_ENVELOPE_DEPTH - 1; n <= WH_MAX_ENVELOPE_DEPTH + 1; ++n) {
        for (int innermost_empty = 0; innermost_empty != 2; ++innermost_empty) {
            json_t *j;
            bool want = n <= WH_MAX_ENVELOPE_DEPTH, converted;
            memset(objs, 0, sizeof(objs));
            for (int i = 0; i != n; ++i) {
                objs[i].type = MSGPACK_OBJECT_ARRAY;
                objs[i].via.array.size = 1;
                objs[i].via.array.ptr = &objs[i + 1];
            }
            objs[n].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            objs[n].via.u64 = 7;
            if (innermost_empty)
                objs[n - 1].via.array.size = 0;
            j = wh_msgpack_to_json(&objs[0], 0);
            converted = j != NULL;
            json_decref(j);
            if (converted != want)
                fail_msg("%d nested arrays (innermost %s): %s, expected %s", n, innermost_empty ? "empty" : "holding 7",
                         converted ? "converted" : "refused", want ? "converted" : "refused");
        }
    }
}

/* Packs [ENV-with-one-extra-raw-member]: the valid envelope's members, then key "fields" → {"blob": <raw>}. */
static void pack_with_raw_field(msgpack_sbuffer *sb, void (*raw)(msgpack_packer *))
{
    json_t *ev = valid_envelope();
    const char *key;
    json_t *val;
    msgpack_packer pk;

    json_object_del(ev, "fields");
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, json_object_size(ev) + 1);
    json_object_foreach(ev, key, val)
    {
        msgpack_pack_str(&pk, strlen(key));
        msgpack_pack_str_body(&pk, key, strlen(key));
        wh_msgpack_pack_json(&pk, val);
    }
    msgpack_pack_str(&pk, 6);
    msgpack_pack_str_body(&pk, "fields", 6);
    raw(&pk);
    json_decref(ev);
}

static void raw_bin(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str(pk, 4);
    msgpack_pack_str_body(pk, "blob", 4);
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "\x00\x01\x02", 3);
}

static void raw_ext(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str(pk, 4);
    msgpack_pack_str_body(pk, "blob", 4);
    msgpack_pack_ext(pk, 2, 1);
    msgpack_pack_ext_body(pk, "\x00\x01", 2);
}

static void raw_int_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_str(pk, 1);
    msgpack_pack_str_body(pk, "x", 1);
}

static void raw_plain(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str(pk, 4);
    msgpack_pack_str_body(pk, "blob", 4);
    msgpack_pack_str(pk, 3);
    msgpack_pack_str_body(pk, "abc", 3);
}

static void test_refuses_foreign_msgpack_types(void **state)
{
    static const struct {
        void (*raw)(msgpack_packer *);
        wh_err_t want;
        const char *what;
    } cases[] = {
        {raw_plain, WH_OK, "control: a string where the others put foreign types"},
        {raw_bin, WH_EMALFORMED, "a BIN value"},
        {raw_ext, WH_EMALFORMED, "an EXT value"},
        {raw_int_key, WH_EMALFORMED, "an integer map key"},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        msgpack_sbuffer sb;
        json_t *out = NULL;
        char errbuf[WH_ERRBUF_SIZE];

        pack_with_raw_field(&sb, cases[i].raw);
        assert_err(unpack(sb.data, sb.size, &out, errbuf), cases[i].want, errbuf, cases[i].what);
        json_decref(out);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Every proper prefix of a valid entry is refused (and read within its bounds: see unpack()). */
static void test_refuses_truncated_entries(void **state)
{
    wh_change_t c[2];
    msgpack_sbuffer sb;
    char errbuf[WH_ERRBUF_SIZE];

    full_change(&c[0]);
    full_change(&c[1]);
    pack_entry(&sb, c, 2);
    for (size_t len = 0; len != sb.size; ++len) {
        json_t *out = NULL;
        wh_err_t err = unpack(sb.data, len, &out, errbuf);
        if (err != WH_EMALFORMED)
            fail_msg("prefix of %zu of %zu bytes: %s, expected malformed", len, sb.size, wh_err_name(err));
        assert_null(out);
    }
    msgpack_sbuffer_destroy(&sb);
    change_dispose(&c[0]);
    change_dispose(&c[1]);
}

/* FNV-1a, 32 bit, written from its definition (offset basis 2166136261, prime 16777619). */
static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; ++s) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* murmur3's 32-bit finalizer, written from its definition. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static void test_partition_of(void **state)
{
    /* published FNV-1a 32 test vectors (the FNV reference test suite): "" a foobar */
    assert_int_equal(fnv1a32(""), 0x811c9dc5u);
    assert_int_equal(fnv1a32("a"), 0xe40c292cu);
    assert_int_equal(fnv1a32("foobar"), 0xbf9cf968u);
    /* "conn_a" by the same definition, cross-checked with a separate Python implementation */
    assert_int_equal(fnv1a32("conn_a"), 0x87592053u);

    /* fixed once released: changing these reorders every deployment's connections (cross-checked in Python) */
    assert_int_equal(wh_partition_of(""), 3);
    assert_int_equal(wh_partition_of("a"), 3);
    assert_int_equal(wh_partition_of("foobar"), 4);
    assert_int_equal(wh_partition_of("conn_a"), 4);
    assert_int_equal(wh_partition_of("conn_b"), 2);
    /* plain FNV-1a modulo 8 put these four in one partition (it only sees each byte's low 3 bits) */
    {
        unsigned q = wh_partition_of("conn_q"), A = wh_partition_of("conn_A"), I = wh_partition_of("conn_I");
        assert_false(q == wh_partition_of("conn_a") && A == q && I == q);
    }
    assert_int_equal(wh_partitions(), WH_DEFAULT_PARTITIONS);
    assert_int_equal(WH_DEFAULT_PARTITIONS, 8); /* what deployments before WHARF_PARTITIONS ran with */

    /* deterministic, in range, and every partition is used: at the default count, and at others */
    for (unsigned n = 1; n <= WH_MAX_PARTITIONS; n = n == 1 ? 8 : n * 2) {
        unsigned seen[WH_MAX_PARTITIONS] = {0};
        char id[32];
        wh_partitions_init(n);
        assert_int_equal(wh_partitions(), n);
        for (int i = 0; i != 4000; ++i) {
            unsigned p;
            snprintf(id, sizeof(id), "conn_%d", i);
            p = wh_partition_of(id);
            assert_in_range(p, 0, n - 1);
            assert_int_equal(p, wh_partition_of(id));
            assert_int_equal(p, fmix32(fnv1a32(id)) % n);
            ++seen[p];
        }
        for (unsigned p = 0; p != n; ++p)
            if (seen[p] == 0)
                fail_msg("partition %u of %u never chosen for 4000 ids", p, n);
        /* bytes >= 0x80 hash as unsigned */
        assert_int_equal(wh_partition_of("conn_\xc3\xa9"), fmix32(fnv1a32("conn_\xc3\xa9")) % n);
    }
    wh_partitions_init(0); /* out of range: the default */
    assert_int_equal(wh_partitions(), WH_DEFAULT_PARTITIONS);
    wh_partitions_init(WH_MAX_PARTITIONS + 1);
    assert_int_equal(wh_partitions(), WH_DEFAULT_PARTITIONS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_key),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_optional_keys),
        cmocka_unit_test(test_several_envelopes_keep_their_order),
        cmocka_unit_test(test_lua_built_header),
        cmocka_unit_test(test_entry_size_bound),
        cmocka_unit_test(test_refuses_what_is_not_one_array),
        cmocka_unit_test(test_refuses_trailing_bytes),
        cmocka_unit_test(test_refuses_elements_that_are_not_envelopes),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_newer_envelope_after_a_current_one),
        cmocka_unit_test(test_refuses_missing_or_mistyped_members),
        cmocka_unit_test(test_refuses_excessive_nesting),
        cmocka_unit_test(test_fields_as_deep_as_ingest_accepts_round_trip),
        cmocka_unit_test(test_msgpack_to_json_depth_bound),
        cmocka_unit_test(test_refuses_foreign_msgpack_types),
        cmocka_unit_test(test_refuses_truncated_entries),
        cmocka_unit_test(test_partition_of),
    };
    return cmocka_run_group_tests_name("queue/envelope", tests, NULL, NULL);
}
