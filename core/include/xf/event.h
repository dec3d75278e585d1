/*
 * xf/event.h - the normalized event every decoder produces and every later stage reads.
 *
 * An event is a category (process, file, network, ...), an event time, a stable id, and a
 * fixed table of string fields named after the Sysmon/Sigma vocabulary (Image, CommandLine,
 * ParentProcessGuid, ...). Decoders of every input format fill the same fields, which is what
 * lets one Sigma rule and one join spec work on ECS, Sysmon, Windows-event and protobuf input.
 *
 * All strings live in one arena owned by the event; fields hold offsets into it, so the arena
 * can grow without invalidating anything. A field may hold several values (mail recipients,
 * attachments): they are stored back to back, NUL-separated, with a count.
 *
 *   arena: [\0][Image value\0][CommandLine value\0][rcpt1\0rcpt2\0] ...
 *   off[XF_F_IMAGE] ---^        nval[XF_F_RECIPIENT] = 2 ----^
 */
#ifndef XF_EVENT_H
#define XF_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"

/* What kind of thing happened. Names are the strings used in join specs and logs. */
#define XF_CATEGORY_MAP(X)                                                                         \
    X(UNKNOWN, "unknown")                                                                          \
    X(PROCESS, "process") /* process creation (Sysmon 1, Security 4688, ECS process start) */      \
    X(PROCESS_END, "process_end")                                                                  \
    X(FILE, "file")         /* file create/write/delete (Sysmon 11, 23, ECS file) */               \
    X(NETWORK, "network")   /* connection (Sysmon 3, Security 5156, ECS network) */                \
    X(DNS, "dns")           /* DNS query (Sysmon 22, ECS dns) */                                   \
    X(EMAIL, "email")       /* mail gateway record */                                              \
    X(LOGON, "logon")       /* Security 4624/4625/4648, ECS authentication */                      \
    X(SERVICE, "service")   /* service install (System 7045, Security 4697) */                     \
    X(REGISTRY, "registry") /* Sysmon 12/13/14 */                                                  \
    X(IMAGE_LOAD, "image_load")                                                                    \
    X(PROCESS_ACCESS, "process_access")                                                            \
    X(ALERT, "alert") /* a third-party detection (EDR, sandbox, IDS) */                            \
    X(OTHER, "other")

enum xf_category {
#define XF_CAT_ENUM(name, str) XF_CAT_##name,
    XF_CATEGORY_MAP(XF_CAT_ENUM)
#undef XF_CAT_ENUM
        XF_CAT__COUNT
};

const char *xf_category_name(enum xf_category c);
/* Returns the category for a name, or XF_CAT_UNKNOWN. */
enum xf_category xf_category_from_name(const char *name);

/*
 * The field table. Column 2 is the canonical name (Sysmon/Sigma spelling, what rules and join
 * specs use); column 3 the ECS name, used by docs and by the ECS decoder's fallback lookup.
 * XF_FM marks multi-valued fields.
 */
#define XF_FS 0
#define XF_FM 1
#define XF_FIELD_MAP(X)                                                                            \
    /* envelope */                                                                                 \
    X(EVENT_ID, "EventID", "event.code", XF_FS) /* Windows event id, "1", "4624" */                \
    X(RECORD_ID, "RecordId", "event.id", XF_FS) /* the source's own record id */                   \
    X(TENANT, "Tenant", "organization.id", XF_FS)                                                  \
    X(OBSERVER, "Observer", "observer.name", XF_FS) /* the product that saw it */                  \
    X(CHANNEL, "Channel", "winlog.channel", XF_FS)                                                 \
    X(PROVIDER, "Provider", "event.provider", XF_FS)                                               \
    X(HOST, "Hostname", "host.name", XF_FS) /* lowercased, as seen (FQDN or not) */                \
    X(USER, "User", "user.name", XF_FS)     /* DOMAIN\\user as seen */                             \
    X(ACTION, "Action", "event.action", XF_FS)                                                     \
    /* process */                                                                                  \
    X(PROCESS_GUID, "ProcessGuid", "process.entity_id", XF_FS)                                     \
    X(PROCESS_ID, "ProcessId", "process.pid", XF_FS)                                               \
    X(IMAGE, "Image", "process.executable", XF_FS)                                                 \
    X(COMMAND_LINE, "CommandLine", "process.command_line", XF_FS)                                  \
    X(CURRENT_DIRECTORY, "CurrentDirectory", "process.working_directory", XF_FS)                   \
    X(INTEGRITY_LEVEL, "IntegrityLevel", "winlog.event_data.IntegrityLevel", XF_FS)                \
    X(ORIGINAL_FILE_NAME, "OriginalFileName", "process.pe.original_file_name", XF_FS)              \
    X(DESCRIPTION, "Description", "process.pe.description", XF_FS)                                 \
    X(PRODUCT, "Product", "process.pe.product", XF_FS)                                             \
    X(COMPANY, "Company", "process.pe.company", XF_FS)                                             \
    X(HASHES, "Hashes", "winlog.event_data.Hashes", XF_FS) /* "SHA256=..,MD5=.." */                \
    X(SHA256, "Sha256", "process.hash.sha256", XF_FS)      /* process image or file sha256 */      \
    X(LOGON_ID, "LogonId", "winlog.event_data.LogonId", XF_FS)                                     \
    X(PARENT_PROCESS_GUID, "ParentProcessGuid", "process.parent.entity_id", XF_FS)                 \
    X(PARENT_PROCESS_ID, "ParentProcessId", "process.parent.pid", XF_FS)                           \
    X(PARENT_IMAGE, "ParentImage", "process.parent.executable", XF_FS)                             \
    X(PARENT_COMMAND_LINE, "ParentCommandLine", "process.parent.command_line", XF_FS)              \
    X(PARENT_USER, "ParentUser", "process.parent.user.name", XF_FS)                                \
    /* file */                                                                                     \
    X(TARGET_FILENAME, "TargetFilename", "file.path", XF_FS)                                       \
    X(FILE_OPERATION, "FileOperation", "event.action", XF_FS) /* create|write|delete|rename */     \
    /* network */                                                                                  \
    X(PROTOCOL, "Protocol", "network.transport", XF_FS)                                            \
    X(INITIATED, "Initiated", "network.direction", XF_FS) /* "true" for outbound */                \
    X(SOURCE_IP, "SourceIp", "source.ip", XF_FS)                                                   \
    X(SOURCE_PORT, "SourcePort", "source.port", XF_FS)                                             \
    X(SOURCE_HOSTNAME, "SourceHostname", "source.domain", XF_FS)                                   \
    X(DESTINATION_IP, "DestinationIp", "destination.ip", XF_FS)                                    \
    X(DESTINATION_PORT, "DestinationPort", "destination.port", XF_FS)                              \
    X(DESTINATION_HOSTNAME, "DestinationHostname", "destination.domain", XF_FS)                    \
    X(URL, "Url", "url.full", XF_FM)                                                               \
    X(BYTES, "Bytes", "network.bytes", XF_FS)                                                      \
    /* dns */                                                                                      \
    X(QUERY_NAME, "QueryName", "dns.question.name", XF_FS)                                         \
    X(QUERY_RESULTS, "QueryResults", "dns.answers.data", XF_FM)                                    \
    /* logon */                                                                                    \
    X(LOGON_TYPE, "LogonType", "winlog.logon.type", XF_FS)                                         \
    X(IP_ADDRESS, "IpAddress", "source.ip", XF_FS) /* where a logon came from */                   \
    X(WORKSTATION_NAME, "WorkstationName", "source.domain", XF_FS)                                 \
    X(TARGET_USER_NAME, "TargetUserName", "user.target.name", XF_FS)                               \
    X(TARGET_LOGON_ID, "TargetLogonId", "winlog.event_data.TargetLogonId", XF_FS)                  \
    /* service install */                                                                          \
    X(SERVICE_NAME, "ServiceName", "service.name", XF_FS)                                          \
    X(IMAGE_PATH, "ImagePath", "service.executable", XF_FS)                                        \
    /* registry */                                                                                 \
    X(TARGET_OBJECT, "TargetObject", "registry.path", XF_FS)                                       \
    X(DETAILS, "Details", "registry.data.strings", XF_FS)                                          \
    /* process access */                                                                           \
    X(SOURCE_PROCESS_GUID, "SourceProcessGUID", "winlog.event_data.SourceProcessGUID", XF_FS)      \
    X(TARGET_PROCESS_GUID, "TargetProcessGUID", "winlog.event_data.TargetProcessGUID", XF_FS)      \
    X(SOURCE_IMAGE, "SourceImage", "winlog.event_data.SourceImage", XF_FS)                         \
    X(TARGET_IMAGE, "TargetImage", "winlog.event_data.TargetImage", XF_FS)                         \
    X(GRANTED_ACCESS, "GrantedAccess", "winlog.event_data.GrantedAccess", XF_FS)                   \
    X(IMAGE_LOADED, "ImageLoaded", "dll.path", XF_FS)                                              \
    /* email */                                                                                    \
    X(MESSAGE_ID, "MessageId", "email.message_id", XF_FS)                                          \
    X(SENDER, "Sender", "email.from.address", XF_FS)                                               \
    X(RECIPIENT, "Recipient", "email.to.address", XF_FM)                                           \
    X(SUBJECT, "Subject", "email.subject", XF_FS)                                                  \
    X(EMAIL_DIRECTION, "EmailDirection", "email.direction", XF_FS) /* inbound|outbound|internal */ \
    X(VERDICT, "Verdict", "event.outcome", XF_FS)                                                  \
    X(ATTACHMENT_NAME, "AttachmentName", "email.attachments.file.name", XF_FM)                     \
    X(ATTACHMENT_SHA256, "AttachmentSha256", "email.attachments.file.hash.sha256", XF_FM)          \
    X(ATTACHMENT_TYPE, "AttachmentType", "email.attachments.file.mime_type", XF_FM)                \
    X(ATTACHMENT_SIZE, "AttachmentSize", "email.attachments.file.size", XF_FM)                     \
    /* third-party alert */                                                                        \
    X(ALERT_PRODUCT, "AlertProduct", "observer.product", XF_FS)                                    \
    X(ALERT_RULE, "AlertRule", "rule.name", XF_FS)                                                 \
    X(ALERT_SEVERITY, "AlertSeverity", "event.severity", XF_FS)

enum xf_field {
#define XF_FIELD_ENUM(id, name, ecs, flags) XF_F_##id,
    XF_FIELD_MAP(XF_FIELD_ENUM)
#undef XF_FIELD_ENUM
        XF_F__COUNT
};

/* Canonical name of a field ("CommandLine"), its ECS name, and whether it is multi-valued. */
const char *xf_field_name(enum xf_field f);
const char *xf_field_ecs_name(enum xf_field f);
int xf_field_is_multi(enum xf_field f);
/* Looks a field up by canonical name, case-insensitively. Returns the field or -1. */
int xf_field_lookup(const char *name);

/* Maximum length of a stable event id string (see xf_event.id). */
#define XF_EVENT_ID_MAX 64

struct xf_event {
    enum xf_category category;
    xf_time_t time;             /* event time, ms since epoch, UTC */
    uint64_t idhash;            /* xf_hash64 of id: the key used for dedup and storage */
    char id[XF_EVENT_ID_MAX];   /* stable id: "<format's own id>" or "h:<content hash>" */
    uint32_t off[XF_F__COUNT];  /* offset of the first value in arena, 0 = absent */
    uint16_t nval[XF_F__COUNT]; /* number of values (0 absent, 1 single, more if multi) */
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* Embedded struct: init before use, close to free the arena. reset keeps the arena memory
 * for the next event (decoders reuse one event per thread). */
void xf_event_init(struct xf_event *ev);
void xf_event_close(struct xf_event *ev);
void xf_event_reset(struct xf_event *ev);

/* Sets a single value (copied; replaces an earlier value). len may be (size_t)-1 for a NUL
 * terminated string. Empty values and the Windows placeholder "-" are still stored; callers
 * that want to skip them do so. Returns 0 or XF_ENOMEM / XF_ETOOBIG (arena over 64 MiB). */
int xf_event_set(struct xf_event *ev, enum xf_field f, const char *val, size_t len);
/* Appends one more value to a multi-valued field (copied). */
int xf_event_add(struct xf_event *ev, enum xf_field f, const char *val, size_t len);
/* Returns the (first) value or NULL when absent. Borrowed, valid until the event changes. */
const char *xf_event_get(const struct xf_event *ev, enum xf_field f);
/* Number of values of f (0 when absent). */
size_t xf_event_count(const struct xf_event *ev, enum xf_field f);
/* Returns value i (0-based) of f, or NULL. */
const char *xf_event_get_nth(const struct xf_event *ev, enum xf_field f, size_t i);

/* Sets ev->id from s (truncated to XF_EVENT_ID_MAX-1) and computes ev->idhash. */
void xf_event_set_id(struct xf_event *ev, const char *s);
/* Sets the id to "h:" + a 128-bit hash of the raw record, for formats without their own id. */
void xf_event_set_content_id(struct xf_event *ev, const void *raw, size_t len);

/* Copies src into dst (dst initialized; its old content is replaced). */
int xf_event_copy(struct xf_event *dst, const struct xf_event *src);

/*
 * Compact binary form, used by the store and by queues between threads:
 *
 *   u8 version | u8 category | i64 time | u8 idlen | id bytes |
 *   { u8 field | u16 nval | u32 len | len bytes (values NUL-separated) } ...
 *
 * Integers little-endian. encode appends to out; decode replaces dst's content and returns
 * XF_EPARSE on any inconsistency (it never trusts the input).
 */
int xf_event_encode(const struct xf_event *ev, struct xf_buf *out);
int xf_event_decode(struct xf_event *dst, const void *data, size_t len);

#endif
