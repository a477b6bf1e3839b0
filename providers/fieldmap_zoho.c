/*
 * Zoho CRM field API names -> unified fields (design §4), keyed by the event's object_type as
 * providers/zoho.c resolves it from the module (Contacts -> "contact", Accounts -> "account", …).
 * Zoho notifications are thin: the table names the fields of changedFields (affected_fields) and of
 * extra.affectedValues. Fields without a row (custom fields, Zoho's many system fields) keep their API name
 * under "additional.".
 */
#include "fieldmap.h"

extern const wh_fieldmap_t wh_fieldmap_zoho;

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "First_Name", "firstName"},
    {"contact", "Last_Name", "lastName"},
    {"contact", "Email", "email"},
    {"contact", "Phone", "phone"},
    {"contact", "Mobile", "mobilePhone"},
    {"contact", "Title", "title"},
    {"contact", "Account_Name", "accountId"},
    {"contact", "Owner", "ownerId"},
    {"contact", "Created_Time", "createdAt"},
    {"contact", "Modified_Time", "updatedAt"},

    {"lead", "First_Name", "firstName"},
    {"lead", "Last_Name", "lastName"},
    {"lead", "Email", "email"},
    {"lead", "Phone", "phone"},
    {"lead", "Mobile", "mobilePhone"},
    {"lead", "Company", "companyName"},
    {"lead", "Designation", "title"},
    {"lead", "Lead_Status", "status"},
    {"lead", "Owner", "ownerId"},
    {"lead", "Created_Time", "createdAt"},
    {"lead", "Modified_Time", "updatedAt"},

    {"account", "Account_Name", "name"},
    {"account", "Website", "domain"},
    {"account", "Phone", "phone"},
    {"account", "Industry", "industry"},
    {"account", "Employees", "numberOfEmployees"},
    {"account", "Annual_Revenue", "annualRevenue"},
    {"account", "Owner", "ownerId"},
    {"account", "Created_Time", "createdAt"},
    {"account", "Modified_Time", "updatedAt"},

    {"deal", "Deal_Name", "name"},
    {"deal", "Amount", "amount"},
    {"deal", "Stage", "stage"},
    {"deal", "Pipeline", "pipeline"},
    {"deal", "Closing_Date", "closeDate"},
    {"deal", "Account_Name", "accountId"},
    {"deal", "Contact_Name", "contactId"},
    {"deal", "Owner", "ownerId"},
    {"deal", "Created_Time", "createdAt"},
    {"deal", "Modified_Time", "updatedAt"},

    {"task", "Subject", "title"},
    {"task", "Status", "status"},
    {"task", "Due_Date", "dueDate"},
    {"task", "Priority", "priority"},
    {"task", "Description", "body"},
    {"task", "Owner", "ownerId"},
    {"task", "Created_Time", "createdAt"},
    {"task", "Modified_Time", "updatedAt"},

    {"note", "Note_Title", "title"},
    {"note", "Note_Content", "body"},
    {"note", "Owner", "ownerId"},
    {"note", "Created_Time", "createdAt"},
    {"note", "Modified_Time", "updatedAt"},

    {"event", "Event_Title", "title"},
    {"event", "Start_DateTime", "startAt"},
    {"event", "End_DateTime", "endAt"},
    {"event", "Owner", "ownerId"},
    {"event", "Created_Time", "createdAt"},
    {"event", "Modified_Time", "updatedAt"},

    {"call", "Subject", "title"},
    {"call", "Call_Type", "type"},
    {"call", "Call_Start_Time", "startAt"},
    {"call", "Call_Duration", "duration"},
    {"call", "Owner", "ownerId"},
    {"call", "Created_Time", "createdAt"},
    {"call", "Modified_Time", "updatedAt"},

    {"user", "full_name", "name"},
    {"user", "first_name", "firstName"},
    {"user", "last_name", "lastName"},
    {"user", "email", "email"},
    {"user", "status", "status"},
};

const wh_fieldmap_t wh_fieldmap_zoho = WH_FIELDMAP_INIT(rows);
