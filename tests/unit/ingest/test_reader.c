/*
 * test_reader.c - the record reader over plain, gzip, zip and length-delimited files.
 *
 * Scratch files are written into the test's working directory (the build tree) and removed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zip.h>
#include <zlib.h>

#include "xf/ingest.h"
#include "xf/proto.h"

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void empty_file_gives_no_records_and_no_error(void **state)
{
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;

    write_file("rd_empty.json", "", 0);
    assert_int_equal(xf_reader_open("rd_empty.json", XF_FMT_AUTO, &r), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_destroy(r);
    unlink("rd_empty.json");
}

static void missing_file_is_not_found(void **state)
{
    struct xf_reader *r = NULL;

    assert_int_equal(xf_reader_open("rd_does_not_exist.json", XF_FMT_AUTO, &r), XF_ENOTFOUND);
    assert_null(r);
}

static void lines_skip_blank_and_strip_crlf(void **state)
{
    static const char text[] = "{\"a\":1}\r\n\r\n   \n{\"b\":2}";
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;

    write_file("rd_crlf.json", text, sizeof text - 1);
    assert_int_equal(xf_reader_open("rd_crlf.json", XF_FMT_AUTO, &r), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"a\":1}");
    assert_int_equal(len, 7);
    assert_string_equal(where, "rd_crlf.json:1");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"b\":2}"); /* last line without a newline */
    assert_string_equal(where, "rd_crlf.json:4");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_destroy(r);
    unlink("rd_crlf.json");
}

static void ten_megabyte_line_is_skipped_and_the_next_line_is_read(void **state)
{
    size_t big = 10u * 1024 * 1024;
    FILE *f = fopen("rd_big.json", "wb");
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;
    char *chunk = xf_malloc(1024 * 1024);

    assert_non_null(f);
    assert_non_null(chunk);
    memset(chunk, 'x', 1024 * 1024);
    fputs("{\"first\":1}\n{\"huge\":\"", f);
    for (size_t i = 0; i < big / (1024 * 1024); i++)
        fwrite(chunk, 1, 1024 * 1024, f);
    fputs("\"}\n{\"after\":3}\n", f);
    fclose(f);
    xf_free(chunk);

    assert_int_equal(xf_reader_open("rd_big.json", XF_FMT_AUTO, &r), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"first\":1}");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), XF_ETOOBIG);
    assert_string_equal(where, "rd_big.json:2");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"after\":3}");
    assert_string_equal(where, "rd_big.json:3");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_destroy(r);
    unlink("rd_big.json");
}

static void gzip_file_is_detected_by_magic(void **state)
{
    static const char text[] = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
    gzFile gz = gzopen("rd_small.json.gz", "wb");
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;
    uint64_t done, total;

    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, sizeof text - 1), (int)(sizeof text - 1));
    gzclose(gz);
    /* the name says nothing: detection is by content */
    rename("rd_small.json.gz", "rd_small.data");
    assert_int_equal(xf_reader_open("rd_small.data", XF_FMT_AUTO, &r), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"a\":1}");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"c\":3}");
    assert_string_equal(where, "rd_small.data:3");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_progress(r, &done, &total);
    assert_true(total > 0);
    assert_int_equal(done, total);
    xf_reader_destroy(r);
    unlink("rd_small.data");
}

static void truncated_gzip_is_reported_once(void **state)
{
    static const char text[] = "{\"a\":1}\n{\"b\":2}\n";
    unsigned char out[256];
    uLongf outlen = sizeof out;
    z_stream zs;
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;

    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)text;
    zs.avail_in = sizeof text - 1;
    zs.next_out = out;
    zs.avail_out = (uInt)outlen;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    outlen = zs.total_out;
    deflateEnd(&zs);
    write_file("rd_trunc.gz", (const char *)out, outlen - 6); /* cut the trailer */
    assert_int_equal(xf_reader_open("rd_trunc.gz", XF_FMT_AUTO, &r), 0);
    int rc, n = 0, errors = 0;
    while ((rc = xf_reader_next(r, &data, &len, &where)) != 0) {
        if (rc == 1)
            n++;
        else
            errors++;
        assert_true(n + errors < 10);
    }
    assert_int_equal(errors, 1);
    xf_reader_destroy(r);
    unlink("rd_trunc.gz");
}

static void zip_members_are_read_in_name_order_skipping_directories(void **state)
{
    static const char b[] = "{\"m\":\"b1\"}\n{\"m\":\"b2\"}\n";
    static const char a[] = "{\"m\":\"a1\"}\n";
    int zerr = 0;
    zip_t *z;
    struct xf_reader *r = NULL;
    const char *data, *where;
    size_t len;

    unlink("rd_members.zip");
    z = zip_open("rd_members.zip", ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(z);
    assert_true(zip_file_add(z, "b.json", zip_source_buffer(z, b, sizeof b - 1, 0), 0) >= 0);
    assert_true(zip_dir_add(z, "dir", 0) >= 0);
    assert_true(zip_file_add(z, "a.json", zip_source_buffer(z, a, sizeof a - 1, 0), 0) >= 0);
    assert_int_equal(zip_close(z), 0);

    assert_int_equal(xf_reader_open("rd_members.zip", XF_FMT_AUTO, &r), 0);
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"m\":\"a1\"}");
    assert_string_equal(where, "rd_members.zip:a.json:1");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(data, "{\"m\":\"b1\"}");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
    assert_string_equal(where, "rd_members.zip:b.json:2");
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_destroy(r);
    unlink("rd_members.zip");
}

static void length_delimited_proto_file_is_framed_automatically(void **state)
{
    struct xf_buf out;
    struct xf_event ev, got;
    struct xf_reader *r = NULL;
    const char *data, *where;
    char err[XF_ERRMSG_MAX];
    size_t len;
    enum xf_format used;

    xf_buf_init(&out);
    xf_event_init(&ev);
    xf_event_init(&got);
    for (int i = 0; i < 3; i++) {
        char id[16];
        xf_event_reset(&ev);
        ev.category = XF_CAT_PROCESS;
        ev.time = 1795251607500LL + i;
        snprintf(id, sizeof id, "t:%d", i);
        xf_event_set_id(&ev, id);
        assert_int_equal(xf_event_set(&ev, XF_F_IMAGE, "C:\\x.exe", (size_t)-1), 0);
        assert_int_equal(xf_proto_encode(&ev, &out, 1), 0);
    }
    write_file("rd_events.pb", out.data, out.len);
    assert_int_equal(xf_reader_open("rd_events.pb", XF_FMT_AUTO, &r), 0);
    for (int i = 0; i < 3; i++) {
        char want[32];
        assert_int_equal(xf_reader_next(r, &data, &len, &where), 1);
        snprintf(want, sizeof want, "rd_events.pb:#%d", i + 1);
        assert_string_equal(where, want);
        assert_int_equal(xf_decode(XF_FMT_AUTO, data, len, &got, &used, err), 0);
        assert_int_equal(used, XF_FMT_PROTO);
        assert_int_equal(got.time, 1795251607500LL + i);
    }
    assert_int_equal(xf_reader_next(r, &data, &len, &where), 0);
    xf_reader_destroy(r);
    unlink("rd_events.pb");
    xf_buf_close(&out);
    xf_event_close(&ev);
    xf_event_close(&got);
}

static void otrf_empire_launcher_vbs_zip_has_2067_decodable_records(void **state)
{
    struct xf_reader *r = NULL;
    struct xf_event ev;
    const char *data, *where;
    char err[XF_ERRMSG_MAX];
    size_t len, n = 0, process = 0, network = 0;
    int rc;

    xf_event_init(&ev);
    assert_int_equal(xf_reader_open(XF_OTRF_DIR
                                    "/atomic_windows_execution_host_empire_launcher_vbs.zip",
                                    XF_FMT_AUTO, &r),
                     0);
    while ((rc = xf_reader_next(r, &data, &len, &where)) == 1) {
        enum xf_format used;
        if (xf_decode(XF_FMT_AUTO, data, len, &ev, &used, err) != 0)
            fail_msg("%s: %s", where, err);
        assert_int_equal(used, XF_FMT_SYSMON);
        if (ev.category == XF_CAT_PROCESS)
            process++;
        if (ev.category == XF_CAT_NETWORK)
            network++;
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2067);
    /* Sysmon 1 (5) + Security 4688 (5); Sysmon 3 (10) + Security 5156 (40) */
    assert_int_equal(process, 10);
    assert_int_equal(network, 50);
    xf_reader_destroy(r);
    xf_event_close(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_file_gives_no_records_and_no_error),
        cmocka_unit_test(missing_file_is_not_found),
        cmocka_unit_test(lines_skip_blank_and_strip_crlf),
        cmocka_unit_test(ten_megabyte_line_is_skipped_and_the_next_line_is_read),
        cmocka_unit_test(gzip_file_is_detected_by_magic),
        cmocka_unit_test(truncated_gzip_is_reported_once),
        cmocka_unit_test(zip_members_are_read_in_name_order_skipping_directories),
        cmocka_unit_test(length_delimited_proto_file_is_framed_automatically),
        cmocka_unit_test(otrf_empire_launcher_vbs_zip_has_2067_decodable_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
