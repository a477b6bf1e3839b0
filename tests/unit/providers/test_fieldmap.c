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
    wh_fieldmap_t map = WH_FIELDMAP(rows);

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
    wh_fieldmap_t map = WH_FIELDMAP(rows);
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
    wh_fieldmap_t map = WH_FIELDMAP(rows);
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
    wh_fieldmap_t map = WH_FIELDMAP(rows);
    json_t *fields = json_pack("{s:s}", "additional", "not an object");
    char name[WH_FIELDMAP_NAME_CAP];

    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("x"), json_string("v"), fields, name), WH_EINTERNAL);
    assert_int_equal(wh_fieldmap_put(&map, "contact", WH_STRLIT("email"), json_string("v"), fields, name), WH_OK);
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_put_bounds),
        cmocka_unit_test(test_put_additional_clash),
    };
    return cmocka_run_group_tests_name("providers/fieldmap", tests, NULL, NULL);
}
