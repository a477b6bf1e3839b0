/* dispatch/match.c: eventTypes entries against event types (design §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include "../../../dispatch/match.h"

static void test_match_table(void **state)
{
    static const struct {
        const char *pattern, *type;
        bool want;
    } cases[] = {
        /* "*" alone matches everything */
        {"*", "crm.contact.updated", true},
        {"*", "system.connection.deleted", true},
        {"*", "x", true},
        /* "prefix.*" matches every type below the prefix, at any depth */
        {"crm.*", "crm.contact.updated", true},
        {"crm.*", "crm.x", true},
        {"crm.*", "crm.deal.stage.changed", true},
        {"crm.*", "crm", false},    /* the prefix itself is not below it */
        {"crm.*", "crm.", false},   /* nothing below the dot */
        {"crm.*", "crmx.a", false}, /* the dot is part of the prefix */
        {"crm.*", "xcrm.a", false},
        {"crm.*", "system.connection.deleted", false},
        {"crm.*", "CRM.contact.updated", false}, /* types are case-sensitive */
        {"crm.contact.*", "crm.contact.updated", true},
        {"crm.contact.*", "crm.contact.created", true},
        {"crm.contact.*", "crm.account.updated", false},
        {"crm.contact.*", "crm.contacts.updated", false},
        {"crm.contact.*", "crm.contact", false},
        {"crm.contact.*", "crm.*", false},
        {"system.*", "system.sync.initial.complete", true},
        {"system.*", "system.subscription.disabled", true},
        {"system.*", "crm.contact.updated", false},
        {"system.*", "crm.system.updated", false},
        /* exact entries match exactly */
        {"crm.contact.updated", "crm.contact.updated", true},
        {"crm.contact.updated", "crm.contact.update", false},
        {"crm.contact.updated", "crm.contact.updatedx", false},
        {"crm.contact.updated", "crm.contact.updated.x", false},
        {"crm.contact.updated", "crm.contact.created", false},
        {"crm.contact.updated", "CRM.CONTACT.UPDATED", false},
        /* a '*' is only a wildcard alone or after a final dot */
        {"crm*", "crm.contact.updated", false},
        {"crm*", "crmx", false},
        {"crm.*.updated", "crm.contact.updated", false},
        {"*.updated", "crm.contact.updated", false},
        {"**", "crm.contact.updated", false},
        {"crm.*", "crm.*", true}, /* a literal type "crm.*" is below "crm." like any other */
        /* "." + "*" with an empty prefix matches only types starting with a dot (never a real type) */
        {".*", "crm.contact.updated", false},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        bool got = wh_event_type_matches(wh_str_c(cases[i].pattern), wh_str_c(cases[i].type));
        if (got != cases[i].want)
            fail_msg("\"%s\" vs \"%s\": %s, expected %s", cases[i].pattern, cases[i].type, got ? "match" : "no match",
                     cases[i].want ? "match" : "no match");
    }
}

/* Decision: an empty eventTypes entry selects nothing, whatever the type (even an empty one). */
static void test_empty_pattern_never_matches(void **state)
{
    static const char *const types[] = {"crm.contact.updated", "system.connection.deleted", "x", "*", ""};

    for (size_t i = 0; i != sizeof(types) / sizeof(types[0]); ++i) {
        if (wh_event_type_matches(WH_STRLIT(""), wh_str_c(types[i])))
            fail_msg("the empty pattern matched \"%s\", expected no match", types[i]);
        if (wh_event_type_matches(WH_STR_NULL, wh_str_c(types[i])))
            fail_msg("the NULL pattern matched \"%s\", expected no match", types[i]);
    }
}

/* Lengths bound both sides: bytes past them are not part of the pattern or the type. */
static void test_lengths_bound_the_match(void **state)
{
    /* "crm.*" seen through 4 bytes is the exact entry "crm." */
    assert_false(wh_event_type_matches(wh_str("crm.*", 4), WH_STRLIT("crm.contact.updated")));
    assert_true(wh_event_type_matches(wh_str("crm.*", 4), WH_STRLIT("crm.")));
    /* a type seen through a window */
    assert_true(wh_event_type_matches(WH_STRLIT("crm.contact.*"), wh_str("crm.contact.updated-and-more", 19)));
    assert_false(wh_event_type_matches(WH_STRLIT("crm.contact.updated"), wh_str("crm.contact.updated", 18)));
    assert_false(wh_event_type_matches(WH_STRLIT("crm.*"), wh_str("crm.contact.updated", 4)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_empty_pattern_never_matches),
        cmocka_unit_test(test_lengths_bound_the_match),
    };
    return cmocka_run_group_tests_name("dispatch/match", tests, NULL, NULL);
}
