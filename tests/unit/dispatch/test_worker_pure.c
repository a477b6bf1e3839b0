/* The worker's pure parts: dispatch/body.c (the outgoing body of design §7 and its type, from a decoded envelope
   object) and read.c's sizing of reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../dispatch/worker_int.h"

static json_t *build(const char *envelope_json, char *type, size_t tsize)
{
    json_t *ev = json_loads(envelope_json, 0, NULL), *out;
    char *text;
    size_t len;

    assert_non_null(ev);
    wk_event_type(ev, type, tsize);
    text = wk_build_body(ev, type, &len);
    assert_int_equal(strlen(text), len);
    out = json_loads(text, 0, NULL);
    assert_non_null(out);
    free(text);
    json_decref(ev);
    return out;
}

static void test_change_with_cached_record(void **state)
{
    char type[160];
    json_t *b = build("{\"eventId\":\"evt_1\",\"connectionId\":\"c1\",\"integrationId\":\"hubspot\",\"objectType\":\"contact\","
                      "\"objectId\":\"42\",\"action\":\"updated\",\"occurredAt\":1764000000000,\"changedFields\":[\"email\"],"
                      "\"previous\":{\"email\":\"old@ex.test\"},\"fields\":{\"email\":\"new@ex.test\"},"
                      "\"_object\":{\"id\":\"42\",\"email\":\"new@ex.test\",\"lastName\":\"Lovelace\"},\"thin\":false}",
                      type, sizeof(type));
    json_t *data = json_object_get(b, "data");

    (void)state;
    assert_string_equal(type, "crm.contact.updated");
    assert_string_equal(json_string_value(json_object_get(b, "type")), "crm.contact.updated");
    assert_int_equal(strlen(json_string_value(json_object_get(b, "timestamp"))), 24);
    assert_string_equal(json_string_value(json_object_get(data, "eventId")), "evt_1");
    assert_string_equal(json_string_value(json_object_get(data, "occurredAt")), "2025-11-24T16:00:00.000Z");
    assert_string_equal(json_string_value(json_array_get(json_object_get(data, "changedFields"), 0)), "email");
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "previous"), "email")), "old@ex.test");
    /* the cached record, not the event's own fields */
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "object"), "lastName")), "Lovelace");
    assert_null(json_object_get(data, "fields"));
    assert_true(json_is_false(json_object_get(data, "thin")));
    json_decref(b);
}

static void test_uncached_thin_and_system(void **state)
{
    char type[160];
    json_t *b, *data;

    (void)state;
    /* not cached: the event's own fields; no changedFields given: an empty list */
    b = build("{\"eventId\":\"evt_2\",\"connectionId\":\"c1\",\"integrationId\":\"pipedrive\",\"objectType\":\"deal\","
              "\"objectId\":\"7\",\"action\":\"created\",\"occurredAt\":0,\"fields\":{\"amount\":10},\"extra\":{\"x\":1}}",
              type, sizeof(type));
    data = json_object_get(b, "data");
    assert_string_equal(type, "crm.deal.created");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "fields"), "amount")), 10);
    assert_int_equal(json_array_size(json_object_get(data, "changedFields")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "details"), "x")), 1);
    json_decref(b);
    /* thin: ids only, neither object nor fields */
    b = build(
        "{\"eventId\":\"evt_3\",\"connectionId\":\"c1\",\"integrationId\":\"zoho\",\"objectType\":\"lead\",\"objectId\":\"9\","
        "\"action\":\"updated\",\"occurredAt\":0,\"fields\":{},\"_object\":{\"id\":\"9\"},\"thin\":true}",
        type, sizeof(type));
    data = json_object_get(b, "data");
    assert_null(json_object_get(data, "object"));
    assert_null(json_object_get(data, "fields"));
    assert_true(json_is_true(json_object_get(data, "thin")));
    json_decref(b);
    /* a system event: its own type, its data as written, stamped with its event id */
    b = build("{\"_system\":true,\"type\":\"system.connection.deleted\",\"eventId\":\"evt_4\",\"environmentId\":\"e\","
              "\"receivedAt\":1,\"data\":{\"connectionId\":\"c9\",\"status\":\"DELETED\"}}",
              type, sizeof(type));
    data = json_object_get(b, "data");
    assert_string_equal(type, "system.connection.deleted");
    assert_string_equal(json_string_value(json_object_get(data, "connectionId")), "c9");
    assert_string_equal(json_string_value(json_object_get(data, "eventId")), "evt_4");
    json_decref(b);
}

/* Reads are sized by events: full HubSpot batches (100 events) read few entries, single events many; the estimate
   follows a big entry at once and forgets it slowly. */
static void test_read_sizing(void **state)
{
    double e = 100;

    (void)state;
    assert_int_equal(wk_read_size(100), WH_MAX_BATCH_EVENTS / (100 * wh_partitions()));
    assert_int_equal(wk_read_size(1), WH_READ_COUNT);
    assert_int_equal(wk_read_size(0), WH_READ_COUNT);
    assert_int_equal(wk_read_size(1e9), 1);
    assert_true(wk_read_size(3) * 3 * wh_partitions() <= WH_MAX_BATCH_EVENTS);
    e = wk_read_learn(e, 1);
    assert_true(e > 79.9 && e < 80.1);
    e = wk_read_learn(e, 100);
    assert_true(e == 100);
    for (int i = 0; i != 30; ++i)
        e = wk_read_learn(e, 3);
    assert_true(e == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_with_cached_record),
        cmocka_unit_test(test_uncached_thin_and_system),
        cmocka_unit_test(test_read_sizing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
