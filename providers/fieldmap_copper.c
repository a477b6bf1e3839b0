/*
 * Copper record attributes (Developer API field names) -> unified fields (design §4), keyed by the event's
 * object_type as providers/copper.c resolves it (person -> "contact", company -> "account",
 * opportunity -> "deal"). Attributes without a row land under fields.additional.<name>.
 */
#include "fieldmap.h"

extern const wh_fieldmap_t wh_fieldmap_copper;

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "name", "name"},
    {"contact", "first_name", "firstName"},
    {"contact", "last_name", "lastName"},
    {"contact", "emails", "emails"},
    {"contact", "phone_numbers", "phoneNumbers"},
    {"contact", "title", "title"},
    {"contact", "company_id", "accountId"},
    {"contact", "assignee_id", "ownerId"},
    {"contact", "date_created", "createdAt"},
    {"contact", "date_modified", "updatedAt"},

    {"account", "name", "name"},
    {"account", "email_domain", "domain"},
    {"account", "phone_numbers", "phoneNumbers"},
    {"account", "assignee_id", "ownerId"},
    {"account", "date_created", "createdAt"},
    {"account", "date_modified", "updatedAt"},

    {"deal", "name", "name"},
    {"deal", "monetary_value", "amount"},
    {"deal", "pipeline_stage_id", "stage"},
    {"deal", "pipeline_id", "pipeline"},
    {"deal", "close_date", "closeDate"},
    {"deal", "status", "status"},
    {"deal", "company_id", "accountId"},
    {"deal", "primary_contact_id", "contactId"},
    {"deal", "assignee_id", "ownerId"},
    {"deal", "date_created", "createdAt"},
    {"deal", "date_modified", "updatedAt"},

    {"lead", "name", "name"},
    {"lead", "first_name", "firstName"},
    {"lead", "last_name", "lastName"},
    {"lead", "email", "email"},
    {"lead", "phone_numbers", "phoneNumbers"},
    {"lead", "company_name", "companyName"},
    {"lead", "title", "title"},
    {"lead", "status", "status"},
    {"lead", "assignee_id", "ownerId"},
    {"lead", "date_created", "createdAt"},
    {"lead", "date_modified", "updatedAt"},

    {"task", "name", "title"},
    {"task", "status", "status"},
    {"task", "due_date", "dueDate"},
    {"task", "assignee_id", "ownerId"},
    {"task", "date_created", "createdAt"},
    {"task", "date_modified", "updatedAt"},
};

const wh_fieldmap_t wh_fieldmap_copper = WH_FIELDMAP_INIT(rows);
