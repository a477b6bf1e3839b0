/* providers/fieldmap.c: the generic property -> unified field mechanism, on a table of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../providers/fieldmap.h"

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "email", "email"},
    {"contact", "firstname", "firstName"},
    {"account", "name", "name"},
};

static void assert_fields(const json_t *fields, const char *want)
{
    char *got = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, want);
    free(got);
}

static void test_find(void **state)
{
    wh_fieldmap_t map = WH_FIELDMAP_INIT(rows);

    assert_int_equal(map.count, 3);
    assert_string_equal(wh_fieldmap_find(&map, "contact", WH_STRLIT("firstname")), "firstName");
    assert_string_equal(wh_fieldmap_find(&map, "account", WH_STRLIT("name")), "name");
    assert_null(wh_fieldmap_find(&map, "account", WH_STRLIT("firstname"))); /* rows are per object type */
    assert_null(wh_fieldmap_find(&map, "contact", WH_STRLIT("FirstName"))); /* case-sensitive */
    assert_null(wh_fieldmap_find(&map, "contact", WH_STRLIT("first")));     /* no prefix match */
    assert_null(wh_fieldmap_find(&map, "contact", wh_str("firstnamex", 10)));
    assert_string_equal(wh_fieldmap_find(&map, "contact", wh_str("firstnamex", 9)), "firstName");
}

static void test_put(void **state)
{
    wh_fieldmap_t map = WH_FIELDMAP_INIT(rows);
    json_t *fields = json_object();
    char name[WH_FIELDMAP_NAME_CAP];

    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("email"), json_string("a@b"), fields, name), WH_OK);
    assert_string_equal(name, "email");
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("hs_score"), json_integer(7), fields, name), WH_OK);
    assert_string_equal(name, "additional.hs_score");
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("custom"), json_null(), fields, name), WH_OK);
    assert_string_equal(name, "additional.custom");
    assert_int_equal(wh_fieldmap_put(&map, "ticket", WH_STRLIT("email"), json_string("t"), fields, name), WH_OK);
    assert_string_equal(name, "additional.email");
    assert_fields(fields, "{\"additional\":{\"custom\":null,\"email\":\"t\",\"hs_score\":7},\"email\":\"a@b\"}");
    json_decref(fields);
}

static void test_put_bounds(void **state)
{
    wh_fieldmap_t map = WH_FIELDMAP_INIT(rows);
    json_t *fields = json_object();
    char prop[WH_FIELDMAP_MAX_PROPERTY + 1], name[WH_FIELDMAP_NAME_CAP];

    memset(prop, 'p', sizeof(prop));
    assert_int_equal(wh_fieldmap_put(&map, "contact", wh_str(prop, WH_FIELDMAP_MAX_PROPERTY), json_true(), fields, name), WH_OK);
    assert_int_equal(strlen(name), strlen("additional.") + WH_FIELDMAP_MAX_PROPERTY);
    /* Refusals still take the value (ASan reports a leak otherwise) and leave fields and name alone. */
    assert_int_equal(wh_fieldmap_put(&map, "contact", wh_str(prop, sizeof(prop)), json_string("x"), fields, name), WH_EINVAL);
    assert_string_equal(name, "");
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT(""), json_string("x"), fields, name), WH_EINVAL);
    assert_int_equal(wh_fieldmap_put(&map, "contact", wh_str("a\0b", 3), json_string("x"), fields, name), WH_EINVAL);
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("\xff\xfe"), json_string("x"), fields, name), WH_EINVAL);
    assert_int_equal(json_object_size(json_object_get(fields, "additional")), 1);
    json_decref(fields);
}

static void test_put_additional_clash(void **state)
{
    wh_fieldmap_t map = WH_FIELDMAP_INIT(rows);
    json_t *fields = json_pack("{s:s}", "additional", "not an object");
    char name[WH_FIELDMAP_NAME_CAP];

    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("x"), json_string("v"), fields, name), WH_EINTERNAL);
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("email"), json_string("v"), fields, name), WH_OK);
    json_decref(fields);
}

/* The HubSpot table: the rows the unified model promises, no duplicates, nothing mapped onto "additional". */
static void test_hubspot_table(void **state)
{
    static const char *const required[][3] = {
        {"contact", "firstname", "firstName"},
        {"contact", "lastname", "lastName"},
        {"contact", "email", "email"},
        {"contact", "phone", "phone"},
        {"contact", "mobilephone", "mobilePhone"},
        {"contact", "company", "companyName"},
        {"contact", "jobtitle", "title"},
        {"contact", "hubspot_owner_id", "ownerId"},
        {"contact", "lifecyclestage", "lifecycleStage"},
        {"contact", "createdate", "createdAt"},
        {"contact", "lastmodifieddate", "updatedAt"},
        {"contact", "associatedcompanyid", "accountId"},
        {"account", "name", "name"},
        {"account", "domain", "domain"},
        {"account", "phone", "phone"},
        {"account", "industry", "industry"},
        {"account", "hubspot_owner_id", "ownerId"},
        {"account", "numberofemployees", "numberOfEmployees"},
        {"account", "annualrevenue", "annualRevenue"},
        {"account", "createdate", "createdAt"},
        {"deal", "dealname", "name"},
        {"deal", "amount", "amount"},
        {"deal", "dealstage", "stage"},
        {"deal", "pipeline", "pipeline"},
        {"deal", "closedate", "closeDate"},
        {"deal", "hubspot_owner_id", "ownerId"},
        {"deal", "createdate", "createdAt"},
    };
    const wh_fieldmap_t *map = &wh_fieldmap_hubspot;

    for (size_t i = 0; i != sizeof(required) / sizeof(required[0]); ++i) {
        const char *got = wh_fieldmap_find(map, required[i][0], wh_str_c(required[i][1]));
        assert_non_null(got);
        assert_string_equal(got, required[i][2]);
    }
    for (size_t i = 0; i != map->count; ++i) {
        assert_string_not_equal(map->entries[i].field, WH_FIELDMAP_ADDITIONAL);
        assert_true(strlen(map->entries[i].property) <= WH_FIELDMAP_MAX_PROPERTY);
        for (size_t j = i + 1; j != map->count; ++j)
            if (strcmp(map->entries[i].object_type, map->entries[j].object_type) == 0 &&
                strcmp(map->entries[i].property, map->entries[j].property) == 0)
                fail_msg("rows %zu and %zu both map %s.%s", i, j, map->entries[i].object_type, map->entries[i].property);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),          cmocka_unit_test(test_put),
        cmocka_unit_test(test_put_bounds),    cmocka_unit_test(test_put_additional_clash),
        cmocka_unit_test(test_hubspot_table),
    };
    return cmocka_run_group_tests_name("providers/fieldmap", tests, NULL, NULL);
}
