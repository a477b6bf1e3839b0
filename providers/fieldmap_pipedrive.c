/*
 * Pipedrive API field keys -> unified fields (design §4), keyed by the event's object_type as
 * providers/pipedrive.c resolves it (person -> "contact", organization -> "account", activity -> "task", …).
 * One table serves both webhook versions: v1 sends the v1 API object (user_id is a deal's owner, email and
 * phone are arrays), v2 the v2 API object (owner_id, emails, phones). Keys without a row, custom_fields
 * included, land under fields.additional.<key>.
 */
#include "fieldmap.h"

extern const wh_fieldmap_t wh_fieldmap_pipedrive;

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "first_name", "firstName"},
    {"contact", "last_name", "lastName"},
    {"contact", "name", "name"},
    {"contact", "emails", "emails"}, /* v2: [{value, primary, label}] */
    {"contact", "email", "emails"},  /* v1: the same list under its v1 name */
    {"contact", "phones", "phones"},
    {"contact", "phone", "phones"},
    {"contact", "org_id", "accountId"},
    {"contact", "owner_id", "ownerId"},
    {"contact", "add_time", "createdAt"},
    {"contact", "update_time", "updatedAt"},

    {"account", "name", "name"},
    {"account", "address", "address"},
    {"account", "owner_id", "ownerId"},
    {"account", "add_time", "createdAt"},
    {"account", "update_time", "updatedAt"},

    {"deal", "title", "name"},
    {"deal", "value", "amount"},
    {"deal", "currency", "currency"},
    {"deal", "stage_id", "stage"},
    {"deal", "pipeline_id", "pipeline"},
    {"deal", "status", "status"},
    {"deal", "expected_close_date", "closeDate"},
    {"deal", "owner_id", "ownerId"}, /* v2 */
    {"deal", "user_id", "ownerId"},  /* v1 names the owner user_id; one payload never carries both */
    {"deal", "person_id", "contactId"},
    {"deal", "org_id", "accountId"},
    {"deal", "add_time", "createdAt"},
    {"deal", "update_time", "updatedAt"},

    {"lead", "title", "name"},
    {"lead", "value", "amount"},
    {"lead", "expected_close_date", "closeDate"},
    {"lead", "owner_id", "ownerId"},
    {"lead", "person_id", "contactId"},
    {"lead", "organization_id", "accountId"},
    {"lead", "add_time", "createdAt"},
    {"lead", "update_time", "updatedAt"},

    {"task", "subject", "title"},
    {"task", "type", "type"},
    {"task", "due_date", "dueDate"},
    {"task", "done", "done"},
    {"task", "note", "body"},
    {"task", "deal_id", "dealId"},
    {"task", "lead_id", "leadId"},
    {"task", "person_id", "contactId"},
    {"task", "org_id", "accountId"},
    {"task", "owner_id", "ownerId"}, /* v2 */
    {"task", "user_id", "ownerId"},  /* v1 */
    {"task", "add_time", "createdAt"},
    {"task", "update_time", "updatedAt"},

    {"note", "content", "body"},
    {"note", "deal_id", "dealId"},
    {"note", "lead_id", "leadId"},
    {"note", "person_id", "contactId"},
    {"note", "org_id", "accountId"},
    {"note", "user_id", "ownerId"},
    {"note", "add_time", "createdAt"},
    {"note", "update_time", "updatedAt"},

    {"user", "name", "name"},
    {"user", "email", "email"},
    {"user", "phone", "phone"},
    {"user", "active_flag", "active"},
    {"user", "created", "createdAt"},
    {"user", "modified", "updatedAt"},
};

const wh_fieldmap_t wh_fieldmap_pipedrive = WH_FIELDMAP_INIT(rows);
