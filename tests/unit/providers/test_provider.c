/* providers/provider.c and registry.c: header lookup, the bounded change list, provider lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../../providers/provider.h"

static void test_inbound_header(void **state)
{
    wh_header_t headers[] = {
        {WH_STRLIT("x-a"), WH_STRLIT("1")},
        {WH_STRLIT("x-b"), WH_STRLIT("2")},
        {WH_STRLIT("x-a"), WH_STRLIT("3")},
        {WH_STRLIT("x-null"), WH_STR_NULL},
    };
    wh_inbound_t in = {.headers = headers, .nheaders = 4};
    wh_inbound_t none = {0};
    wh_str_t v;

    v = wh_inbound_header(&in, WH_STRLIT("x-a"));
    assert_true(wh_str_eq(v, WH_STRLIT("1"))); /* the first one */
    v = wh_inbound_header(&in, WH_STRLIT("X-B"));
    assert_true(wh_str_eq(v, WH_STRLIT("2")));
    assert_null(wh_inbound_header(&in, WH_STRLIT("x-c")).base);
    assert_null(wh_inbound_header(&in, WH_STRLIT("x-")).base);
    v = wh_inbound_header(&in, WH_STRLIT("x-null")); /* present without bytes is still present */
    assert_non_null(v.base);
    assert_int_equal(v.len, 0);
    assert_null(wh_inbound_header(&none, WH_STRLIT("x-a")).base);
}

static void test_changes(void **state)
{
    wh_changes_t c;
    wh_change_t *item;

    wh_changes_init(&c);
    assert_int_equal(c.size, 0);
    for (size_t i = 0; i != WH_MAX_BATCH; ++i) {
        item = wh_changes_push(&c);
        assert_non_null(item);
        /* pushed items start zeroed */
        assert_null(item->fields);
        assert_null(item->object_type);
        assert_int_equal(item->object_id[0], 0);
        assert_false(item->thin);
        item->fields = json_pack("{s:s}", "email", "a@b");
        item->changed_fields = json_pack("[s]", "email");
        item->previous = json_object();
        item->extra = json_pack("{s:[i]}", "mergedIds", 1);
    }
    assert_int_equal(c.size, WH_MAX_BATCH);
    assert_true(c.capacity <= WH_MAX_BATCH);
    assert_null(wh_changes_push(&c));
    assert_int_equal(c.size, WH_MAX_BATCH);
    wh_changes_dispose(&c); /* ASan: every json_t released */
    assert_int_equal(c.size, 0);
    assert_null(c.items);
    wh_changes_dispose(&c); /* idempotent */
    assert_non_null(wh_changes_push(&c));
    wh_changes_dispose(&c);
}

static void test_registry(void **state)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("hubspot"));

    assert_non_null(p);
    assert_string_equal(p->name, "hubspot");
    assert_null(wh_provider_find(WH_STRLIT("HubSpot")));
    assert_null(wh_provider_find(WH_STRLIT("hubspo")));
    assert_null(wh_provider_find(wh_str("hubspotx", 8)));
    assert_ptr_equal(wh_provider_find(wh_str("hubspotx", 7)), p);
    assert_null(wh_provider_find(WH_STRLIT("")));
    assert_null(wh_provider_find(WH_STR_NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_header),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests_name("providers/provider", tests, NULL, NULL);
}
