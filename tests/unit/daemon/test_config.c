/*
 * test_config.c - the daemon's configuration table: YAML parsing, every error path with its
 * exact FILE:LINE message, precedence default < file < environment < flag, and that
 * docs/config.md is what the table generates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xf/daemon.h"

/* Loads text as "t.yaml" over the defaults; returns the rc and leaves errors in *errs. */
static int load(struct xf_config *cfg, const char *text, struct xf_buf *errs)
{
    assert_int_equal(xf_config_init(cfg), 0);
    xf_buf_init(errs);
    return xf_config_load_buffer(cfg, "t.yaml", text, strlen(text), errs);
}

static void expect_errors(const char *text, const char *want)
{
    struct xf_config cfg;
    struct xf_buf errs;

    assert_int_equal(load(&cfg, text, &errs), XF_ECONFIG);
    assert_non_null(errs.data);
    assert_string_equal(errs.data, want);
    xf_buf_close(&errs);
    xf_config_close(&cfg);
}

static void test_defaults_are_the_documented_ones(void **state)
{
    struct xf_config cfg;

    assert_int_equal(xf_config_init(&cfg), 0);
    assert_string_equal(cfg.brokers, "127.0.0.1:9092");
    assert_string_equal(cfg.group, "xdrflow");
    assert_int_equal(cfg.n_topics, 4);
    assert_string_equal(cfg.topics[0].name, "xdr.email");
    assert_string_equal(cfg.topics[1].name, "xdr.endpoint");
    assert_string_equal(cfg.topics[2].name, "xdr.network");
    assert_string_equal(cfg.topics[3].name, "xdr.alerts");
    assert_int_equal(cfg.topics[3].format, XF_FMT_AUTO);
    assert_string_equal(cfg.dead_letter_topic, "xdr.deadletter");
    assert_string_equal(cfg.store_path, "./xdrflow-db");
    assert_string_equal(cfg.api_listen, "127.0.0.1:8080");
    assert_string_equal(cfg.log_level, "info");
    assert_string_equal(cfg.log_format, "text");
    assert_int_equal(cfg.lateness_ms, 600000);
    assert_int_equal(cfg.queue_batches, 24);
    assert_int_equal(cfg.decode_threads, 0);
    assert_int_equal(cfg.store_sync, 0);
    assert_null(cfg.links_path);
    assert_int_equal(cfg.n_rule_paths, 0);
    assert_int_equal(xf_config_validate(&cfg), 0);
    xf_config_close(&cfg);
}

static void test_full_file_sets_every_key(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;
    const char *text = "kafka:\n"
                       "  brokers: \"10.0.0.1:9092,10.0.0.2:9092\"\n"
                       "  group: g1\n"
                       "  topics:\n"
                       "    - {name: a, format: proto}\n"
                       "    - name: b\n"
                       "      format: ecs\n"
                       "    - c\n"
                       "  dead_letter_topic: dlq\n"
                       "  properties: {fetch.wait.max.ms: 50, client.id: x}\n"
                       "store: {path: /tmp/db, sync: yes}\n"
                       "rules: {paths: [r1, r2], links: l.yaml}\n"
                       "correlation: {lateness: 90s}\n"
                       "api: {listen: \"\"}\n"
                       "log: {level: debug, format: json}\n"
                       "pipeline: {decode_threads: 3, queue_batches: 8}\n";

    assert_int_equal(load(&cfg, text, &errs), 0);
    assert_int_equal(errs.len, 0);
    assert_string_equal(cfg.brokers, "10.0.0.1:9092,10.0.0.2:9092");
    assert_string_equal(cfg.group, "g1");
    assert_int_equal(cfg.n_topics, 3);
    assert_string_equal(cfg.topics[0].name, "a");
    assert_int_equal(cfg.topics[0].format, XF_FMT_PROTO);
    assert_string_equal(cfg.topics[1].name, "b");
    assert_int_equal(cfg.topics[1].format, XF_FMT_ECS);
    assert_string_equal(cfg.topics[2].name, "c");
    assert_int_equal(cfg.topics[2].format, XF_FMT_AUTO);
    assert_string_equal(cfg.dead_letter_topic, "dlq");
    assert_int_equal(cfg.n_kafka_props, 2);
    assert_string_equal(cfg.kafka_props[0], "fetch.wait.max.ms=50");
    assert_string_equal(cfg.kafka_props[1], "client.id=x");
    assert_string_equal(cfg.store_path, "/tmp/db");
    assert_int_equal(cfg.store_sync, 1);
    assert_int_equal(cfg.n_rule_paths, 2);
    assert_string_equal(cfg.rule_paths[1], "r2");
    assert_string_equal(cfg.links_path, "l.yaml");
    assert_int_equal(cfg.lateness_ms, 90000);
    assert_string_equal(cfg.api_listen, "");
    assert_string_equal(cfg.log_level, "debug");
    assert_string_equal(cfg.log_format, "json");
    assert_int_equal(cfg.decode_threads, 3);
    assert_int_equal(cfg.queue_batches, 8);
    assert_string_equal(cfg.source, "t.yaml");
    xf_buf_close(&errs);
    xf_config_close(&cfg);
}

static void test_empty_file_keeps_defaults(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;

    assert_int_equal(load(&cfg, "", &errs), 0);
    assert_string_equal(cfg.group, "xdrflow");
    assert_int_equal(cfg.n_topics, 4);
    xf_config_close(&cfg);
}

static void test_unknown_key_names_line_and_dotted_key(void **state)
{
    expect_errors("kafka:\n  brokers: x\n  grup: g\n", "t.yaml:3: unknown key 'kafka.grup'\n");
}

static void test_retired_auto_release_names_its_replacement_with_the_line(void **state)
{
    struct xf_config cfg;
    char why[256];

    expect_errors("response:\n  mode: auto\n  auto_release: true\n",
                  "t.yaml:3: response.auto_release: replaced by response.auto_release_after (a "
                  "duration; 0 = never, the default)\n");
    assert_int_equal(xf_config_init(&cfg), 0);
    assert_int_equal(xf_config_set(&cfg, "response.auto_release", "true", why, sizeof why),
                     XF_ECONFIG);
    assert_string_equal(why, "response.auto_release: replaced by response.auto_release_after (a "
                             "duration; 0 = never, the default)");
    assert_int_equal(xf_config_set(&cfg, "response.auto_release_after", "90", why, sizeof why), 0);
    assert_true(cfg.response.policy.auto_release_after_ms == 90000);
    assert_int_equal(xf_config_set(&cfg, "response.auto_release_after", "0", why, sizeof why), 0);
    assert_true(cfg.response.policy.auto_release_after_ms == 0);
    xf_config_close(&cfg);
}

static void test_unknown_section_is_reported(void **state)
{
    expect_errors("kafka: {group: g}\nresponder:\n  mode: auto\n",
                  "t.yaml:2: unknown section 'responder'\n");
}

static void test_every_error_is_reported_not_just_the_first(void **state)
{
    expect_errors("kafka:\n"
                  "  bogus: 1\n"
                  "  group: [a, b]\n"
                  "store:\n"
                  "  sync: maybe\n"
                  "pipeline:\n"
                  "  decode_threads: many\n"
                  "  queue_batches: 1\n"
                  "log: {level: loud, format: xml}\n"
                  "correlation: {lateness: soon}\n",
                  "t.yaml:2: unknown key 'kafka.bogus'\n"
                  "t.yaml:3: kafka.group: expected a value, got a list\n"
                  "t.yaml:5: store.sync: expected true or false, got 'maybe'\n"
                  "t.yaml:7: pipeline.decode_threads: expected an integer from 0 to 64, got "
                  "'many'\n"
                  "t.yaml:8: pipeline.queue_batches: expected an integer from 2 to 4096, got "
                  "'1'\n"
                  "t.yaml:9: log.level: expected one of error, warn, info, debug, got 'loud'\n"
                  "t.yaml:9: log.format: expected one of text, json, got 'xml'\n"
                  "t.yaml:10: correlation.lateness: expected a duration such as 90s, 5m or 1h, "
                  "got 'soon'\n");
}

static void test_topic_errors_name_the_item(void **state)
{
    expect_errors("kafka:\n"
                  "  topics:\n"
                  "    - {name: a, format: xml}\n"
                  "    - {format: ecs}\n"
                  "    - {name: c, partitions: 3}\n"
                  "    - [x]\n",
                  "t.yaml:3: kafka.topics[].format: expected one of auto, ecs, sysmon, winevt, "
                  "proto, got 'xml'\n"
                  "t.yaml:4: kafka.topics[]: a topic needs a name\n"
                  "t.yaml:5: unknown key 'kafka.topics[].partitions' (known: name, format)\n"
                  "t.yaml:6: kafka.topics: expected {name, format} items\n");
}

static void test_list_and_mapping_shapes_are_checked(void **state)
{
    expect_errors("kafka:\n"
                  "  topics: xdr.email\n"
                  "  properties: [a]\n"
                  "rules:\n"
                  "  paths: /etc/rules\n"
                  "store: /var/lib\n",
                  "t.yaml:2: kafka.topics: expected a list, got a value\n"
                  "t.yaml:3: kafka.properties: expected a mapping of librdkafka properties, got "
                  "a list\n"
                  "t.yaml:5: rules.paths: expected a list, got a value\n"
                  "t.yaml:6: store: expected a mapping, got a value\n");
}

static void test_duplicate_key_points_at_the_first(void **state)
{
    expect_errors("kafka:\n  group: a\n  group: b\n",
                  "t.yaml:3: duplicate key 'group' (first at line 2)\n");
}

static void test_yaml_syntax_error_has_a_line(void **state)
{
    expect_errors("kafka:\n  group: a\n  topics: [a, b\nstore: {}\n",
                  "t.yaml:4: YAML syntax error: did not find expected ',' or ']'\n");
}

static void test_top_level_must_be_a_mapping(void **state)
{
    expect_errors("- a\n- b\n", "t.yaml:1: expected a mapping of sections (kafka:, store:, ...)\n");
}

static void test_null_value_for_typed_key_is_an_error(void **state)
{
    expect_errors("pipeline:\n  queue_batches:\n", "t.yaml:2: pipeline.queue_batches: a value is "
                                                   "required\n");
}

static void test_env_overrides_file_and_flag_overrides_env(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;
    char why[256];

    assert_int_equal(load(&cfg,
                          "kafka: {brokers: file:1}\nstore: {path: filedb}\n"
                          "log: {level: warn}\n",
                          &errs),
                     0);
    setenv("XDRFLOW_BROKERS", "env:2", 1);
    setenv("XDRFLOW_DB", "envdb", 1);
    setenv("XDRFLOW_API_LISTEN", "127.0.0.1:9", 1);
    setenv("XDRFLOW_LOG_LEVEL", "debug", 1);
    setenv("XDRFLOW_KAFKA_SASL_PASSWORD", "s3cret", 1);
    assert_int_equal(xf_config_apply_env(&cfg), 0);
    assert_string_equal(cfg.brokers, "env:2");
    assert_string_equal(cfg.store_path, "envdb");
    assert_string_equal(cfg.api_listen, "127.0.0.1:9");
    assert_string_equal(cfg.log_level, "debug");
    assert_int_equal(cfg.n_kafka_props, 1);
    assert_string_equal(cfg.kafka_props[0], "sasl.password=s3cret");
    assert_int_equal(xf_config_set(&cfg, "kafka.brokers", "flag:3", why, sizeof why), 0);
    assert_string_equal(cfg.brokers, "flag:3");
    unsetenv("XDRFLOW_BROKERS");
    unsetenv("XDRFLOW_DB");
    unsetenv("XDRFLOW_API_LISTEN");
    unsetenv("XDRFLOW_LOG_LEVEL");
    unsetenv("XDRFLOW_KAFKA_SASL_PASSWORD");
    xf_buf_close(&errs);
    xf_config_close(&cfg);
}

static void test_bad_env_value_is_rejected(void **state)
{
    struct xf_config cfg;

    assert_int_equal(xf_config_init(&cfg), 0);
    setenv("XDRFLOW_LOG_LEVEL", "chatty", 1);
    assert_int_equal(xf_config_apply_env(&cfg), XF_ECONFIG);
    assert_string_equal(cfg.log_level, "info");
    unsetenv("XDRFLOW_LOG_LEVEL");
    xf_config_close(&cfg);
}

static void test_set_unknown_key_says_so(void **state)
{
    struct xf_config cfg;
    char why[256];

    assert_int_equal(xf_config_init(&cfg), 0);
    assert_int_equal(xf_config_set(&cfg, "kafka.nope", "1", why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "unknown key 'kafka.nope'");
    xf_config_close(&cfg);
}

static void test_validate_rejects_dlq_among_inputs_and_empty_topics(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;

    assert_int_equal(load(&cfg, "kafka:\n  topics: [a, b]\n  dead_letter_topic: b\n", &errs), 0);
    assert_int_equal(xf_config_validate(&cfg), XF_ECONFIG);
    xf_config_close(&cfg);
    assert_int_equal(load(&cfg, "kafka:\n  topics: []\n", &errs), 0);
    assert_int_equal(xf_config_validate(&cfg), XF_ECONFIG);
    xf_config_close(&cfg);
}

static void test_copy_is_deep(void **state)
{
    struct xf_config cfg, copy;
    struct xf_buf errs;

    assert_int_equal(load(&cfg, "rules: {paths: [x]}\nkafka: {properties: {a: b}}\n", &errs), 0);
    assert_int_equal(xf_config_copy(&copy, &cfg), 0);
    xf_config_close(&cfg);
    assert_string_equal(copy.rule_paths[0], "x");
    assert_string_equal(copy.kafka_props[0], "a=b");
    assert_string_equal(copy.topics[0].name, "xdr.email");
    assert_string_equal(copy.source, "t.yaml");
    xf_config_close(&copy);
}

/* ---- api tokens and response ------------------------------------------------------------- */

static void test_response_defaults_are_the_documented_ones(void **state)
{
    struct xf_config cfg;
    const struct xf_policy_conf *p = &cfg.response.policy;

    assert_int_equal(xf_config_init(&cfg), 0);
    assert_int_equal(p->mode, XF_MODE_APPROVE);
    assert_int_equal(p->min_severity, 2);
    assert_int_equal(p->min_score, 0);
    assert_true(p->max_actions_per_min == 10.0);
    assert_int_equal(p->burst, 5);
    assert_int_equal(p->auto_release_after_ms, 0);
    assert_int_equal(p->max_attempts, 5);
    assert_int_equal(p->backoff_base_ms, 1000);
    assert_int_equal(p->backoff_max_ms, 60000);
    assert_int_equal(p->poll_interval_ms, 2000);
    assert_int_equal(p->max_polls, 150);
    assert_int_equal(p->timeout_ms, 10000);
    assert_int_equal(p->notify_incidents, 1);
    assert_null(cfg.response.audit_log);
    assert_int_equal(cfg.response.n_connectors, 0);
    assert_int_equal(cfg.n_api_tokens, 0);
    assert_string_equal(cfg.api_metrics_role, "none");
    assert_int_equal(cfg.api_max_body, 65536);
    xf_config_close(&cfg);
}

static const char full_response[] =
    "api:\n"
    "  listen: \"127.0.0.1:0\"\n"
    "  metrics_role: read\n"
    "  max_body: 4096\n"
    "  tokens:\n"
    "    - {name: soar, role: respond, token_env: XF_TEST_SOAR}\n"
    "    - name: dash\n"
    "      role: read\n"
    "      token_file: /run/secrets/dash\n"
    "    - {name: ops-1, role: admin}\n"
    "response:\n"
    "  mode: auto\n"
    "  min_severity: critical\n"
    "  min_score: 70\n"
    "  stages: [c2, lateral_movement]\n"
    "  protected_hosts: [\"dc-*\", \"re:^mail\\\\d+$\", \"tag:domain_controller\"]\n"
    "  host_tags: {dc01: [domain_controller, tier0], fs01: fileserver}\n"
    "  max_actions_per_min: 2.5\n"
    "  burst: 3\n"
    "  auto_release_after: 4h\n"
    "  max_attempts: 7\n"
    "  backoff_base_ms: 500\n"
    "  backoff_max_ms: 30000\n"
    "  poll_interval_ms: 1500\n"
    "  max_polls: 40\n"
    "  timeout_ms: 5000\n"
    "  notify_incidents: false\n"
    "  audit_log: /var/log/xdrflow/audit.jsonl\n"
    "  connectors:\n"
    "    - name: hook\n"
    "      type: webhook\n"
    "      url: \"https://soar.example/hook\"\n"
    "      secret_env: XDRFLOW_WEBHOOK_SECRET\n"
    "      tls_verify: false\n"
    "      devices: {ws-017: \"dev-17\", ws-018: \"dev-18\"}\n";

static void test_tokens_and_response_fill_every_field(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;
    const struct xf_policy_conf *p = &cfg.response.policy;
    const struct xf_connector_conf *c;

    assert_int_equal(load(&cfg, full_response, &errs), 0);
    assert_int_equal(errs.len, 0);
    assert_int_equal(cfg.n_api_tokens, 3);
    assert_string_equal(cfg.api_tokens[0].name, "soar");
    assert_string_equal(cfg.api_tokens[0].role, "respond");
    assert_string_equal(cfg.api_tokens[0].token_env, "XF_TEST_SOAR");
    assert_null(cfg.api_tokens[0].token_file);
    assert_string_equal(cfg.api_tokens[1].token_file, "/run/secrets/dash");
    assert_null(cfg.api_tokens[2].token_env);
    assert_null(cfg.api_tokens[2].token_file);
    assert_string_equal(cfg.api_metrics_role, "read");
    assert_int_equal(cfg.api_max_body, 4096);
    assert_int_equal(p->mode, XF_MODE_AUTO);
    assert_int_equal(p->min_severity, 3);
    assert_int_equal(p->min_score, 70);
    assert_int_equal(p->n_stages, 2);
    assert_string_equal(p->stages[1], "lateral_movement");
    assert_int_equal(p->n_protected, 3);
    assert_string_equal(p->protected_hosts[0], "dc-*");
    assert_string_equal(p->protected_hosts[1], "re:^mail\\d+$");
    assert_string_equal(p->protected_hosts[2], "tag:domain_controller");
    assert_int_equal(p->n_host_tags, 2);
    assert_string_equal(p->host_tags[0].host, "dc01");
    assert_int_equal(p->host_tags[0].n_tags, 2);
    assert_string_equal(p->host_tags[0].tags[1], "tier0");
    assert_string_equal(p->host_tags[1].host, "fs01");
    assert_int_equal(p->host_tags[1].n_tags, 1);
    assert_string_equal(p->host_tags[1].tags[0], "fileserver");
    assert_true(p->max_actions_per_min == 2.5);
    assert_int_equal(p->burst, 3);
    assert_true(p->auto_release_after_ms == 4LL * 3600 * 1000);
    assert_int_equal(p->max_attempts, 7);
    assert_int_equal(p->backoff_base_ms, 500);
    assert_int_equal(p->backoff_max_ms, 30000);
    assert_int_equal(p->poll_interval_ms, 1500);
    assert_int_equal(p->max_polls, 40);
    assert_int_equal(p->timeout_ms, 5000);
    assert_int_equal(p->notify_incidents, 0);
    assert_string_equal(cfg.response.audit_log, "/var/log/xdrflow/audit.jsonl");
    assert_int_equal(cfg.response.n_connectors, 1);
    c = &cfg.response.connectors[0];
    assert_string_equal(c->name, "hook");
    assert_string_equal(c->type, "webhook");
    assert_int_equal(c->n_params, 3);
    assert_string_equal(xf_connector_conf_get(c, "url"), "https://soar.example/hook");
    assert_string_equal(xf_connector_conf_get(c, "secret_env"), "XDRFLOW_WEBHOOK_SECRET");
    assert_string_equal(xf_connector_conf_get(c, "tls_verify"), "false");
    assert_int_equal(c->n_devices, 2);
    assert_string_equal(c->devices[1].host, "ws-018");
    assert_string_equal(c->devices[1].device_id, "dev-18");
    xf_buf_close(&errs);
    xf_config_close(&cfg);
}

static void test_copy_of_response_and_tokens_is_deep(void **state)
{
    struct xf_config cfg, copy;
    struct xf_buf errs;

    assert_int_equal(load(&cfg, full_response, &errs), 0);
    assert_int_equal(xf_config_copy(&copy, &cfg), 0);
    xf_config_close(&cfg);
    assert_string_equal(copy.api_tokens[1].token_file, "/run/secrets/dash");
    assert_string_equal(copy.response.policy.host_tags[0].tags[1], "tier0");
    assert_string_equal(copy.response.connectors[0].devices[0].device_id, "dev-17");
    assert_string_equal(copy.response.audit_log, "/var/log/xdrflow/audit.jsonl");
    assert_int_equal(copy.response.policy.mode, XF_MODE_AUTO);
    xf_buf_close(&errs);
    xf_config_close(&copy);
}

static void test_literal_token_is_refused_with_its_line(void **state)
{
    expect_errors("api:\n"
                  "  tokens:\n"
                  "    - name: soar\n"
                  "      role: respond\n"
                  "      token: s3cr3t\n",
                  "t.yaml:5: api.tokens[].token: a literal token is refused (secrets never sit in "
                  "the config file); use token_env or token_file\n");
}

static void test_token_errors_name_the_line(void **state)
{
    expect_errors("api:\n"
                  "  tokens:\n"
                  "    - {name: a, role: root, token_env: A}\n"
                  "    - {role: read}\n"
                  "    - {name: b, role: read, token_env: B, token_file: /b}\n"
                  "    - {name: c, role: read, scope: all}\n"
                  "    - {name: d, role: read}\n"
                  "    - {name: d, role: admin}\n",
                  "t.yaml:3: api.tokens[].role: expected read, respond or admin, got 'root'\n"
                  "t.yaml:4: api.tokens[]: a token needs a name and a role\n"
                  "t.yaml:5: api.tokens[]: token_env and token_file are exclusive\n"
                  "t.yaml:6: unknown key 'api.tokens[].scope' (known: name, role, token_env, "
                  "token_file)\n"
                  "t.yaml:8: api.tokens[]: the name 'd' is used twice\n");
}

static void test_unknown_connector_type_is_refused_with_its_line(void **state)
{
    struct xf_config cfg;
    struct xf_buf errs;

    assert_int_equal(load(&cfg,
                          "response:\n"
                          "  connectors:\n"
                          "    - name: edr\n"
                          "      type: carbonblack\n"
                          "      url: https://x\n",
                          &errs),
                     XF_ECONFIG);
    assert_non_null(strstr(errs.data, "t.yaml:4: response.connectors[].type: unknown connector "
                                      "type 'carbonblack' (known: "));
    assert_non_null(strstr(errs.data, "webhook"));
    xf_buf_close(&errs);
    xf_config_close(&cfg);
}

static void test_response_errors_name_the_line(void **state)
{
    expect_errors("response:\n"
                  "  mode: yolo\n"
                  "  min_severity: severe\n"
                  "  max_actions_per_min: fast\n"
                  "  host_tags: [dc01]\n"
                  "  connectors:\n"
                  "    - {type: webhook}\n"
                  "    - name: h\n"
                  "      type: webhook\n"
                  "      devices: [a]\n"
                  "      headers: {a: b}\n",
                  "t.yaml:2: response.mode: expected one of off, dry_run, approve, auto, got "
                  "'yolo'\n"
                  "t.yaml:3: response.min_severity: expected one of low, medium, high, critical, "
                  "got 'severe'\n"
                  "t.yaml:4: response.max_actions_per_min: expected a number from 0 to 100000, "
                  "got 'fast'\n"
                  "t.yaml:5: response.host_tags: expected a mapping {host: [tags]}, got a list\n"
                  "t.yaml:7: response.connectors: a connector needs a name and a type\n"
                  "t.yaml:10: response.connectors[].devices: expected {host: device id}, got a "
                  "list\n"
                  "t.yaml:11: response.connectors[].headers: expected a value, got a mapping\n");
}

static void test_token_secret_comes_from_override_env_or_file(void **state)
{
    struct xf_token_conf t = {"ops-1", "admin", NULL, NULL};
    char path[] = "/tmp/xf-token-XXXXXX";
    char why[256] = "";
    char *secret = NULL;
    FILE *f;
    int fd;

    unsetenv("XDRFLOW_TOKEN_OPS_1");
    assert_int_equal(xf_config_token_secret(&t, &secret, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "api token 'ops-1': set XDRFLOW_TOKEN_OPS_1, token_env or token_file");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("from-file\n", f);
    fclose(f);
    t.token_file = path;
    assert_int_equal(xf_config_token_secret(&t, &secret, why, sizeof why), 0);
    assert_string_equal(secret, "from-file");
    xf_free(secret);
    t.token_file = NULL;
    t.token_env = "XF_TEST_TOKEN_ENV";
    setenv("XF_TEST_TOKEN_ENV", "from-env", 1);
    assert_int_equal(xf_config_token_secret(&t, &secret, why, sizeof why), 0);
    assert_string_equal(secret, "from-env");
    xf_free(secret);
    setenv("XDRFLOW_TOKEN_OPS_1", "override", 1);
    assert_int_equal(xf_config_token_secret(&t, &secret, why, sizeof why), 0);
    assert_string_equal(secret, "override");
    xf_free(secret);
    unsetenv("XDRFLOW_TOKEN_OPS_1");
    unsetenv("XF_TEST_TOKEN_ENV");
    assert_int_equal(xf_config_token_secret(&t, &secret, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why,
                        "api token 'ops-1': environment variable XF_TEST_TOKEN_ENV is not set");
    remove(path);
}

static void test_reference_lists_every_key_once(void **state)
{
    struct xf_buf ref;
    static const char *const names[] = {"kafka.brokers",
                                        "kafka.group",
                                        "kafka.topics",
                                        "kafka.dead_letter_topic",
                                        "kafka.properties",
                                        "store.path",
                                        "store.sync",
                                        "rules.paths",
                                        "rules.links",
                                        "correlation.lateness",
                                        "api.listen",
                                        "api.tokens",
                                        "api.metrics_role",
                                        "api.max_body",
                                        "response.mode",
                                        "response.min_severity",
                                        "response.min_score",
                                        "response.stages",
                                        "response.protected_hosts",
                                        "response.host_tags",
                                        "response.max_actions_per_min",
                                        "response.burst",
                                        "response.auto_release_after",
                                        "response.max_attempts",
                                        "response.backoff_base_ms",
                                        "response.backoff_max_ms",
                                        "response.poll_interval_ms",
                                        "response.max_polls",
                                        "response.timeout_ms",
                                        "response.notify_incidents",
                                        "response.audit_log",
                                        "response.connectors",
                                        "log.level",
                                        "log.format",
                                        "pipeline.decode_threads",
                                        "pipeline.queue_batches"};

    xf_buf_init(&ref);
    assert_int_equal(xf_config_write_reference(&ref, 1), 0);
    for (size_t i = 0; i < XF_ARRAY_LEN(names); i++) {
        char cell[64];
        snprintf(cell, sizeof cell, "| `%s` |", names[i]);
        assert_non_null(strstr(ref.data, cell));
        assert_null(strstr(strstr(ref.data, cell) + 1, cell));
    }
    assert_non_null(strstr(ref.data, "| `kafka.brokers` | string | `127.0.0.1:9092` | "
                                     "`XDRFLOW_BROKERS` |"));
    xf_buf_close(&ref);
}

static void test_docs_config_md_is_generated_from_the_table(void **state)
{
    struct xf_buf ref, file;
    FILE *f = fopen(XF_SOURCE_DIR "/docs/config.md", "rb");
    char chunk[4096];
    size_t got;

    assert_non_null(f);
    xf_buf_init(&ref);
    xf_buf_init(&file);
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(xf_buf_append(&file, chunk, got), 0);
    fclose(f);
    assert_int_equal(xf_config_write_reference(&ref, 1), 0);
    if (file.len != ref.len || memcmp(file.data, ref.data, ref.len) != 0)
        fail_msg("docs/config.md is stale: regenerate it with "
                 "`xdrflow run --config-reference > docs/config.md`");
    xf_buf_close(&ref);
    xf_buf_close(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_documented_ones),
        cmocka_unit_test(test_full_file_sets_every_key),
        cmocka_unit_test(test_empty_file_keeps_defaults),
        cmocka_unit_test(test_unknown_key_names_line_and_dotted_key),
        cmocka_unit_test(test_retired_auto_release_names_its_replacement_with_the_line),
        cmocka_unit_test(test_unknown_section_is_reported),
        cmocka_unit_test(test_every_error_is_reported_not_just_the_first),
        cmocka_unit_test(test_topic_errors_name_the_item),
        cmocka_unit_test(test_list_and_mapping_shapes_are_checked),
        cmocka_unit_test(test_duplicate_key_points_at_the_first),
        cmocka_unit_test(test_yaml_syntax_error_has_a_line),
        cmocka_unit_test(test_top_level_must_be_a_mapping),
        cmocka_unit_test(test_null_value_for_typed_key_is_an_error),
        cmocka_unit_test(test_env_overrides_file_and_flag_overrides_env),
        cmocka_unit_test(test_bad_env_value_is_rejected),
        cmocka_unit_test(test_set_unknown_key_says_so),
        cmocka_unit_test(test_validate_rejects_dlq_among_inputs_and_empty_topics),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_response_defaults_are_the_documented_ones),
        cmocka_unit_test(test_tokens_and_response_fill_every_field),
        cmocka_unit_test(test_copy_of_response_and_tokens_is_deep),
        cmocka_unit_test(test_literal_token_is_refused_with_its_line),
        cmocka_unit_test(test_token_errors_name_the_line),
        cmocka_unit_test(test_unknown_connector_type_is_refused_with_its_line),
        cmocka_unit_test(test_response_errors_name_the_line),
        cmocka_unit_test(test_token_secret_comes_from_override_env_or_file),
        cmocka_unit_test(test_reference_lists_every_key_once),
        cmocka_unit_test(test_docs_config_md_is_generated_from_the_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
