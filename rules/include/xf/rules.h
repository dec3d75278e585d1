/*
 * xf/rules.h - Sigma detection rules over xf_event.
 *
 * Rules are loaded from YAML (libyaml) into a compiled form: selections of field matchers
 * joined by a condition tree. Field names resolve through the xf_event field table, so a rule
 * written for Sysmon (Image, ParentImage, CommandLine) runs on every input format. A logsource
 * (category process_creation, file_event, network_connection, dns_query, ...) restricts a rule
 * to events of the matching xf_category.
 *
 * A loaded ruleset is immutable and may be shared by threads for matching.
 */
#ifndef XF_RULES_H
#define XF_RULES_H

#include <stddef.h>

#include "xf/core.h"
#include "xf/event.h"

/* Sigma levels, ordered. */
enum xf_level {
    XF_LEVEL_INFORMATIONAL = 0,
    XF_LEVEL_LOW,
    XF_LEVEL_MEDIUM,
    XF_LEVEL_HIGH,
    XF_LEVEL_CRITICAL
};
const char *xf_level_name(enum xf_level l);

/* What a matching rule says. All strings borrowed from the ruleset. */
struct xf_rule_info {
    const char *id; /* Sigma id (UUID) */
    const char *title;
    enum xf_level level;
    const char *const *techniques; /* "T1059.001", from tags attack.t1059.001 */
    size_t n_techniques;
    const char *const *tactics; /* "execution", from tags attack.execution */
    size_t n_tactics;
};

struct xf_ruleset;

/* One problem found while loading, with where it is. */
struct xf_rule_error {
    char file[256];
    int line; /* 1-based, 0 when unknown */
    char message[256];
};

struct xf_rule_errors {
    struct xf_rule_error *items; /* owned; free with xf_rule_errors_close */
    size_t count;
};
void xf_rule_errors_close(struct xf_rule_errors *errs);

/*
 * Loads every .yml/.yaml under the given paths (files or directories, recursively, in sorted
 * name order so the result is deterministic). A file with errors is skipped and its errors
 * appended to errs (if not NULL); the other files still load. Returns 0 and *out (caller
 * destroys) even when some files had errors; XF_ERULE only when nothing could be loaded and
 * there were errors; XF_ENOMEM.
 */
int xf_ruleset_load(const char *const *paths, size_t n_paths, struct xf_ruleset **out,
                    struct xf_rule_errors *errs);
/* Loads one rule document from memory (for tests and the fuzzer). name is used in errors. */
int xf_ruleset_load_buffer(const char *name, const char *yaml, size_t len, struct xf_ruleset **out,
                           struct xf_rule_errors *errs);
void xf_ruleset_destroy(struct xf_ruleset *rs);
size_t xf_ruleset_count(const struct xf_ruleset *rs);

/* Calls cb for every rule that matches ev, in load order. Returns the number of matches. */
typedef void (*xf_rule_match_cb)(const struct xf_rule_info *rule, void *ud);
size_t xf_ruleset_match(const struct xf_ruleset *rs, const struct xf_event *ev, xf_rule_match_cb cb,
                        void *ud);

/* The directory of the bundled rule pack as installed/built (compile-time default). */
const char *xf_rules_default_dir(void);

#endif
