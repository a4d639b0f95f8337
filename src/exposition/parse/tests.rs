//! Golden cases, one or more per rule, each with the exact families and errors; then property
//! tests: our encoder's output parses back to what it encoded, and no input makes the parser
//! panic or take more than linear time.

use super::*;
use crate::exposition::testing::families;

/// Parses `text` and checks the format, the families (given as protocol JSON, so NaN is
/// `"NaN"`) and the errors (as displayed).
#[track_caller]
fn check(text: &str, format: TextFormat, want_families: &str, want_errors: &[&str]) {
    let out = parse(text);
    let got = serde_json::to_value(&out.families).unwrap();
    let want = serde_json::to_value(families(want_families)).unwrap();
    assert_eq!(got, want, "families of:\n{text}");
    let errors: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, want_errors, "errors of:\n{text}");
    assert_eq!(out.format, format, "format of:\n{text}");
}

/// `check` for text 0.0.4.
#[track_caller]
fn text(text: &str, want_families: &str, want_errors: &[&str]) {
    check(text, TextFormat::Text004, want_families, want_errors);
}

/// `check` for OpenMetrics; `# EOF\n` is appended.
#[track_caller]
fn om(body: &str, want_families: &str, want_errors: &[&str]) {
    check(
        &format!("{body}# EOF\n"),
        TextFormat::OpenMetrics,
        want_families,
        want_errors,
    );
}

/// Only the errors of a text 0.0.4 parse, for cases whose families are not the point.
#[track_caller]
fn text_errors(text: &str) -> Vec<String> {
    let out = parse(text);
    assert_eq!(out.format, TextFormat::Text004);
    out.errors.iter().map(ToString::to_string).collect()
}

/// Only the errors of an OpenMetrics parse; `# EOF\n` is appended.
#[track_caller]
fn om_errors(body: &str) -> Vec<String> {
    let out = parse(&format!("{body}# EOF\n"));
    assert_eq!(out.format, TextFormat::OpenMetrics);
    out.errors.iter().map(ToString::to_string).collect()
}

mod golden {
    use super::*;

    #[test]
    fn a_complete_text_exposition() {
        text(
            concat!(
                "# A comment, then a blank line.\n",
                "\n",
                "# HELP disk_free_bytes Free space\\non \\\\ \"disks\".\n",
                "# TYPE disk_free_bytes gauge\n",
                "disk_free_bytes{dev=\"sda\",mount=\"/\"} 1.5e+09\n",
                "disk_free_bytes{dev=\"a\\\\b \\\"c\\\"\\nd é\"} -0.25\n",
                "# TYPE requests_total counter\n",
                "requests_total 1027\n",
                "# HELP ratio Special values.\n",
                "ratio{v=\"nan\"} NaN\n",
                "ratio{v=\"inf\"} +Inf\n",
                "ratio{v=\"-inf\"} -Inf\n",
                "ratio{v=\"exp\"} .5e-3\n",
            ),
            r#"[
              {"name":"disk_free_bytes","type":"gauge","help":"Free space\non \\ \"disks\".","samples":[
                {"labels":{"dev":"sda","mount":"/"},"value":1.5e9},
                {"labels":{"dev":"a\\b \"c\"\nd é"},"value":-0.25}]},
              {"name":"requests_total","type":"counter","samples":[{"value":1027}]},
              {"name":"ratio","type":"untyped","help":"Special values.","samples":[
                {"labels":{"v":"nan"},"value":"NaN"},
                {"labels":{"v":"inf"},"value":"+Inf"},
                {"labels":{"v":"-inf"},"value":"-Inf"},
                {"labels":{"v":"exp"},"value":0.0005}]}
            ]"#,
            &[],
        );
    }

    #[test]
    fn text_takes_blanks_around_tokens_and_a_trailing_comma_like_go() {
        text(
            concat!(
                "  #   HELP   x   lead and trail  \n",
                "\t# TYPE x gauge\n",
                "  x { a = \"1\" , b=\"2\", } \t 1\n",
                "x{}\t2\n",
                "x{c=\"3\"}3\n",
                "#HELP y no space after the hash\n",
                "y 1\n",
            ),
            r#"[
              {"name":"x","type":"gauge","help":"lead and trail  ","samples":[
                {"labels":{"a":"1","b":"2"},"value":1},{"value":2},{"labels":{"c":"3"},"value":3}]},
              {"name":"y","type":"untyped","help":"no space after the hash","samples":[{"value":1}]}
            ]"#,
            &[],
        );
    }

    #[test]
    fn empty_input_is_an_empty_text_exposition() {
        text("", "[]", &[]);
        text("\n\n# only a comment\n", "[]", &[]);
    }

    #[test]
    fn metric_names_must_be_valid() {
        text(
            "1x 1\nx-y 1\n:ok_name: 2\n{a=\"1\"} 3\né 4\n",
            r#"[{"name":":ok_name:","type":"untyped","samples":[{"value":2}]}]"#,
            &[
                "line 1: invalid metric name \"1x\"",
                "line 2: unexpected character \"-\" after metric name \"x\"",
                "line 4: expected a metric name at \"{a=\\\"1\\\"} 3\"",
                "line 5: expected a metric name at \"é 4\"",
            ],
        );
        assert_eq!(
            text_errors("# HELP 1x help\n# TYPE x.y gauge\n"),
            [
                "line 1: invalid metric name \"1x\"",
                "line 2: unexpected character \".\" after metric name \"x\""
            ]
        );
    }

    #[test]
    fn label_names_must_be_valid() {
        assert_eq!(
            text_errors("x{1a=\"b\"} 1\nx{a-b=\"c\"} 1\nx{a:b=\"c\"} 1\nx{,} 1\nx{a} 1\n"),
            [
                "line 1: invalid label name \"1a\"",
                "line 2: expected = after label name \"a\"",
                "line 3: invalid label name \"a:b\"",
                "line 4: invalid label name at \",} 1\" in \"x\"",
                "line 5: expected = after label name \"a\"",
            ]
        );
    }

    #[test]
    fn label_values_know_three_escapes_and_must_be_closed() {
        assert_eq!(
            text_errors(
                "x{a=\"\\t\"} 1\nx{a=\"b} 1\nx{a=\"b\\\"} 1\nx{a=\"b\\\nx{a=b} 1\nx{a=\"1\" b=\"2\"} 1\n"
            ),
            [
                "line 1: invalid escape sequence \"\\t\" in the value of label \"a\" (only \\\\, \\\" and \\n)",
                "line 2: unterminated value of label \"a\" (no closing quote)",
                "line 3: unterminated value of label \"a\" (no closing quote)",
                "line 4: unterminated value of label \"a\" (no closing quote)",
                "line 5: expected \" to open the value of label \"a\"",
                "line 6: expected , or } after the value of label \"a\"",
            ]
        );
        // OpenMetrics keeps other escapes as written (its ABNF allows `\` + any character).
        om(
            "x{a=\"\\t\\\\\\q\\\"\"} 1\n",
            r#"[{"name":"x","type":"untyped","samples":[{"labels":{"a":"\\t\\\\q\""},"value":1}]}]"#,
            &[],
        );
    }

    #[test]
    fn duplicate_label_names_drop_the_line() {
        let many: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
        let text = format!(
            "x{{a=\"1\",b=\"2\",a=\"3\"}} 1\nx{{{},l7=\"again\"}} 1\nx{{a=\"1\"}} 2\n",
            many.join(",")
        );
        check(
            &text,
            TextFormat::Text004,
            r#"[{"name":"x","type":"untyped","samples":[{"labels":{"a":"1"},"value":2}]}]"#,
            &[
                "line 1: duplicate label name \"a\" in \"x\"",
                "line 2: duplicate label name \"l7\" in \"x\"",
            ],
        );
    }

    #[test]
    fn text_values_are_decimal_numbers_or_exactly_nan_and_signed_inf() {
        text(
            "a 1\na 5.\na +1.5E3\na 1e-400\na -0\n",
            r#"[{"name":"a","type":"untyped","samples":[
                {"value":1},{"value":5},{"value":1500},{"value":0},{"value":0}]}]"#,
            &[],
        );
        assert_eq!(
            text_errors("a Inf\na inf\na nan\na +NaN\na 0x10\na 1_0\na 1e\na .\na 1e999\na\n"),
            [
                "line 1: invalid value \"Inf\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 2: invalid value \"inf\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 3: invalid value \"nan\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 4: invalid value \"+NaN\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 5: invalid value \"0x10\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 6: invalid value \"1_0\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 7: invalid value \"1e\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 8: invalid value \".\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 9: invalid value \"1e999\" (text 0.0.4 takes a decimal number, NaN, +Inf or -Inf)",
                "line 10: \"a\" has no value",
            ]
        );
    }

    #[test]
    fn openmetrics_values_follow_its_abnf() {
        om(
            "a Inf\na -infinity\na nan\na NaN\na +INF\n",
            r#"[{"name":"a","type":"untyped","samples":[
                {"value":"+Inf"},{"value":"-Inf"},{"value":"NaN"},{"value":"NaN"},{"value":"+Inf"}]}]"#,
            &[],
        );
        assert_eq!(
            om_errors("a +nan\na 0x1\n"),
            [
                "line 1: invalid value \"+nan\"",
                "line 2: invalid value \"0x1\""
            ]
        );
    }

    #[test]
    fn timestamps_are_checked_and_kept_in_seconds() {
        text(
            "a 1 1700000000000\nb 2 -5\nc 3 +7\n",
            r#"[{"name":"a","type":"untyped","samples":[{"value":1,"timestamp":1700000000}]},
                {"name":"b","type":"untyped","samples":[{"value":2,"timestamp":-0.005}]},
                {"name":"c","type":"untyped","samples":[{"value":3,"timestamp":0.007}]}]"#,
            &[],
        );
        assert_eq!(
            text_errors("a 1 1.5\na 1 99999999999999999999\na 1 \na 1 2 3\na 1 2 \na 1 # {} 1\n"),
            [
                "line 1: invalid timestamp \"1.5\" (text 0.0.4 takes integer milliseconds)",
                "line 2: invalid timestamp \"99999999999999999999\" (text 0.0.4 takes integer milliseconds)",
                "line 3: whitespace after the value",
                "line 4: text after the timestamp",
                "line 5: text after the timestamp",
                "line 6: text after the value (exemplars need OpenMetrics)",
            ]
        );
        om(
            "a 1 1700000000.25\na 2 1700000017\n",
            r#"[{"name":"a","type":"untyped","samples":[
                {"value":1,"timestamp":1700000000.25},{"value":2,"timestamp":1700000017}]}]"#,
            &[],
        );
        assert_eq!(
            om_errors("a 1 NaN\na 1 abc\na 1 2 3\na  1\na 1 \na\t1\n"),
            [
                "line 1: invalid timestamp \"NaN\" (OpenMetrics takes seconds as a number)",
                "line 2: invalid timestamp \"abc\" (OpenMetrics takes seconds as a number)",
                "line 3: text after the timestamp",
                "line 4: \"a\" has no value",
                "line 5: invalid timestamp \"\" (OpenMetrics takes seconds as a number)",
                "line 6: unexpected character \"\\t\" after metric name \"a\"",
            ]
        );
    }

    #[test]
    fn help_and_type_at_most_once_and_before_the_samples() {
        text(
            concat!(
                "# HELP x first\n",
                "# TYPE x gauge\n",
                "# HELP x second\n",
                "# TYPE x counter\n",
                "x 1\n",
                "# HELP x after\n",
                "# TYPE x gauge\n",
                "x 2\n",
            ),
            r#"[{"name":"x","type":"gauge","help":"first","samples":[{"value":1},{"value":2}]}]"#,
            &[
                "line 3: second # HELP for \"x\"",
                "line 4: second # TYPE for \"x\"",
                "line 6: # HELP for \"x\" after its samples",
                "line 7: # TYPE for \"x\" after its samples",
            ],
        );
    }

    #[test]
    fn type_names_are_those_of_the_format() {
        text(
            concat!(
                "# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n# TYPE d summary\n",
                "# TYPE e untyped\n# TYPE f unknown\n# TYPE g Gauge\n# TYPE h gauge extra\n",
                "# TYPE i\n",
            ),
            r#"[{"name":"a","type":"counter","samples":[]},{"name":"b","type":"gauge","samples":[]},
                {"name":"c","type":"histogram","samples":[]},{"name":"d","type":"summary","samples":[]},
                {"name":"e","type":"untyped","samples":[]},{"name":"f","type":"untyped","samples":[]},
                {"name":"g","type":"untyped","samples":[]},{"name":"h","type":"untyped","samples":[]}]"#,
            &[
                "line 6: unknown metric type \"unknown\" (an OpenMetrics type: OpenMetrics expositions end with \"# EOF\")",
                "line 7: unknown metric type \"Gauge\"",
                "line 8: unknown metric type \"gauge extra\"",
                "line 9: # TYPE \"i\" without a type",
            ],
        );
        assert_eq!(
            om_errors("# TYPE e untyped\n# TYPE f gauge \n"),
            [
                "line 1: unknown metric type \"untyped\" (OpenMetrics calls it unknown)",
                "line 2: unknown metric type \"gauge \"",
            ]
        );
    }

    #[test]
    fn help_escapes_depend_on_the_format() {
        text(
            "# HELP x a\\\\b\\nc \"q\"\n",
            r#"[{"name":"x","type":"untyped","help":"a\\b\nc \"q\"","samples":[]}]"#,
            &[],
        );
        assert_eq!(
            text_errors("# HELP x a\\\"b\n# HELP y a\\\n"),
            [
                "line 1: invalid escape sequence \"\\\\\"\" in HELP text (text 0.0.4 knows only \\\\ and \\n)",
                "line 2: HELP text ends with a lone backslash",
            ]
        );
        om(
            "# HELP x  a\\\\b\\nc \\\"q\\\" \\t\n",
            r#"[{"name":"x","type":"untyped","help":" a\\b\nc \"q\" \\t","samples":[]}]"#,
            &[],
        );
        assert_eq!(
            om_errors("# HELP x\n# HELP\n"),
            [
                "line 1: # HELP \"x\" needs a space and a value after the name",
                "line 2: # HELP without a metric name",
            ]
        );
    }

    #[test]
    fn a_family_split_in_two_groups_is_refused_from_the_second_group_on() {
        text(
            concat!(
                "# TYPE a gauge\n",
                "a 1\n",
                "b 1\n",
                "a 2\n",
                "# HELP a late\n",
                "b 2\n",
                "# TYPE h histogram\n",
                "h_bucket{le=\"+Inf\"} 1\n",
                "h_count 1\n",
                "c 1\n",
                "h_sum 1\n",
            ),
            r#"[{"name":"a","type":"gauge","samples":[{"value":1}]},
                {"name":"b","type":"untyped","samples":[{"value":1},{"value":2}]},
                {"name":"h","type":"histogram","samples":[{"buckets":[{"le":"+Inf","count":1}],"count":1}]},
                {"name":"c","type":"untyped","samples":[{"value":1}]}]"#,
            &[
                "line 4: \"a\" belongs to family \"a\", whose lines ended at line 2: a family's lines must be contiguous",
                "line 5: \"a\" belongs to family \"a\", whose lines ended at line 2: a family's lines must be contiguous",
                "line 11: \"h_sum\" belongs to family \"h\", whose lines ended at line 9: a family's lines must be contiguous",
            ],
        );
    }

    #[test]
    fn samples_without_a_matching_family_are_untyped_families_of_their_own() {
        text(
            concat!(
                "# TYPE x gauge\n",
                "x 1\n",
                "x_sum 2\n",
                "x_total 3\n",
                "# TYPE y counter\n",
                "y_total 4\n",
            ),
            r#"[{"name":"x","type":"gauge","samples":[{"value":1}]},
                {"name":"x_sum","type":"untyped","samples":[{"value":2}]},
                {"name":"x_total","type":"untyped","samples":[{"value":3}]},
                {"name":"y","type":"counter","samples":[]},
                {"name":"y_total","type":"untyped","samples":[{"value":4}]}]"#,
            &[],
        );
    }

    #[test]
    fn histogram_lines_group_into_one_sample_per_label_set() {
        text(
            concat!(
                "# HELP h_seconds Latency.\n",
                "# TYPE h_seconds histogram\n",
                "h_seconds_bucket{path=\"/a\",code=\"200\",le=\"0.5\"} 1\n",
                "h_seconds_bucket{le=\"1\",code=\"200\",path=\"/a\"} 3\n",
                "h_seconds_bucket{path=\"/a\",code=\"200\",le=\"+Inf\"} 4\n",
                "h_seconds_count{code=\"200\",path=\"/a\"} 4\n",
                "h_seconds_sum{path=\"/a\",code=\"200\"} 2.5\n",
                "h_seconds_bucket{path=\"/b\",le=\"2\"} 0\n",
                "h_seconds_bucket{path=\"/b\",le=\"1\"} 0\n",
                "h_seconds_sum{path=\"/b\"} 0\n",
                "h_seconds_count{path=\"/b\"} 0\n",
                "h_seconds_sum 7\n",
                "h_seconds_count 2\n",
            ),
            r#"[{"name":"h_seconds","type":"histogram","help":"Latency.","samples":[
                {"labels":{"path":"/a","code":"200"},"buckets":[{"le":0.5,"count":1},{"le":1,"count":3},
                  {"le":"+Inf","count":4}],"sum":2.5,"count":4},
                {"labels":{"path":"/b"},"buckets":[{"le":2,"count":0},{"le":1,"count":0}],"sum":0,"count":0},
                {"buckets":[],"sum":7,"count":2}]}]"#,
            &[],
        );
    }

    #[test]
    fn histogram_structure_errors() {
        text(
            concat!(
                "# TYPE h histogram\n",
                "h_bucket 1\n",
                "h_bucket{le=\"x\"} 1\n",
                "h_bucket{le=\"1\",quantile=\"0.5\"} 1\n",
                "h_sum{le=\"1\"} 1\n",
                "h 1\n",
                "h_bucket{a=\"1\",le=\"1\"} 1\n",
                "h_count{a=\"1\"} 1\n",
                "h_bucket{a=\"2\",le=\"+Inf\"} 1\n",
                "h_sum{a=\"2\"} 1\n",
                "h_count{a=\"3\"} 0\n",
                "h_sum{a=\"3\"} 0\n",
                "# TYPE g gauge\n",
                "g{le=\"1\"} 1\n",
                "g_bucket{le=\"1\"} 1\n",
            ),
            // Text 0.0.4 histograms need no _sum or _count (validation then wants a +Inf
            // bucket or a count, as from a JSON plugin).
            r#"[{"name":"h","type":"histogram","samples":[
                {"labels":{"a":"1"},"buckets":[{"le":1,"count":1}],"count":1},
                {"labels":{"a":"2"},"buckets":[{"le":"+Inf","count":1}],"sum":1},
                {"labels":{"a":"3"},"buckets":[],"sum":0,"count":0}]}]"#,
            &[
                "line 2: \"h_bucket\" needs a label \"le\"",
                "line 3: invalid le value \"x\"",
                "line 4: label \"quantile\" is only allowed on summary quantiles",
                "line 5: \"h_sum\" must not have a label \"le\"",
                "line 6: histogram \"h\": a sample named \"h\" needs the suffix _bucket, _sum or _count",
                "line 14: label \"le\" is only allowed on histogram buckets",
                "line 15: label \"le\" is only allowed on histogram buckets",
            ],
        );
    }

    #[test]
    fn summary_lines_group_into_one_sample_per_label_set() {
        text(
            concat!(
                "# TYPE s summary\n",
                "s{quantile=\"0.5\",m=\"get\"} 0.1\n",
                "s{m=\"get\",quantile=\"0.99\"} NaN\n",
                "s_sum{m=\"get\"} 17.5\n",
                "s_count{m=\"get\"} 100\n",
                "s_count{m=\"put\"} 1\n",
                "s_sum{m=\"put\"} 2\n",
                "s 1\n",
                "s{quantile=\"0.5\",le=\"1\"} 1\n",
                "s_sum{quantile=\"0.5\"} 1\n",
                "s{quantile=\"x\"} 1\n",
            ),
            r#"[{"name":"s","type":"summary","samples":[
                {"labels":{"m":"get"},"quantiles":[{"quantile":0.5,"value":0.1},{"quantile":0.99,"value":"NaN"}],
                 "sum":17.5,"count":100},
                {"labels":{"m":"put"},"quantiles":[],"sum":2,"count":1}]}]"#,
            &[
                "line 8: \"s\" needs a label \"quantile\"",
                "line 9: label \"le\" is only allowed on histogram buckets",
                "line 10: \"s_sum\" must not have a label \"quantile\"",
                "line 11: invalid quantile value \"x\"",
            ],
        );
    }

    #[test]
    fn duplicate_series_come_through_as_separate_samples() {
        text(
            concat!(
                "x{a=\"1\"} 1\nx{a=\"1\"} 2\n",
                "# TYPE h histogram\n",
                "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 2\nh_count 2\n",
                "# TYPE s summary\n",
                "s_sum 1\ns_count 1\ns_sum 2\ns_count 2\n",
            ),
            r#"[{"name":"x","type":"untyped","samples":[{"labels":{"a":"1"},"value":1},{"labels":{"a":"1"},"value":2}]},
                {"name":"h","type":"histogram","samples":[
                  {"buckets":[{"le":1,"count":1},{"le":"+Inf","count":1}],"sum":1,"count":1},
                  {"buckets":[{"le":1,"count":2},{"le":"+Inf","count":2}],"sum":2,"count":2}]},
                {"name":"s","type":"summary","samples":[
                  {"quantiles":[],"sum":1,"count":1},{"quantiles":[],"sum":2,"count":2}]}]"#,
            &[],
        );
    }

    #[test]
    fn text_series_lines_may_be_apart_but_openmetrics_ones_may_not() {
        let body = concat!(
            "# TYPE h histogram\n",
            "h_bucket{a=\"1\",le=\"+Inf\"} 1\n",
            "h_bucket{a=\"2\",le=\"+Inf\"} 2\n",
            "h_sum{a=\"1\"} 1\n",
            "h_sum{a=\"2\"} 2\n",
            "h_count{a=\"1\"} 1\n",
            "h_count{a=\"2\"} 2\n",
        );
        text(
            body,
            r#"[{"name":"h","type":"histogram","samples":[
                {"labels":{"a":"1"},"buckets":[{"le":"+Inf","count":1}],"sum":1,"count":1},
                {"labels":{"a":"2"},"buckets":[{"le":"+Inf","count":2}],"sum":2,"count":2}]}]"#,
            &[],
        );
        // Refused lines do not count as lines in between: the a="2" lines stay together, and
        // a="1" is left with its bucket (sum and count are optional, together).
        om(
            body,
            r#"[{"name":"h","type":"histogram","samples":[
                {"labels":{"a":"1"},"buckets":[{"le":"+Inf","count":1}]},
                {"labels":{"a":"2"},"buckets":[{"le":"+Inf","count":2}],"sum":2,"count":2}]}]"#,
            &[
                "line 4: series {a=\"1\"} of \"h\" is interleaved with another series (not allowed in OpenMetrics)",
                "line 6: series {a=\"1\"} of \"h\" is interleaved with another series (not allowed in OpenMetrics)",
            ],
        );
    }

    #[test]
    fn a_family_whose_every_sample_was_refused_is_left_out_but_an_empty_one_is_kept() {
        text(
            "# HELP bad h\n# TYPE bad gauge\nbad{le=\"1\"} 1\n# HELP empty h\n# TYPE empty gauge\n",
            r#"[{"name":"empty","type":"gauge","help":"h","samples":[]}]"#,
            &["line 3: label \"le\" is only allowed on histogram buckets"],
        );
    }

    #[test]
    fn prometheus_client_created_companions_are_dropped_in_text() {
        text(
            concat!(
                "# HELP jobs_total Jobs\n# TYPE jobs_total counter\njobs_total 3.0\n",
                "# HELP jobs_created Jobs\n# TYPE jobs_created gauge\njobs_created 1.7e+09\n",
                "# HELP lat histogram\n# TYPE lat histogram\n",
                "lat_bucket{le=\"+Inf\"} 1.0\nlat_count 1.0\nlat_sum 0.5\n",
                "# HELP lat_created x\n# TYPE lat_created gauge\nlat_created 1.7e+09\n",
                "other_created 5\n",
            ),
            r#"[{"name":"jobs_total","type":"counter","help":"Jobs","samples":[{"value":3}]},
                {"name":"lat","type":"histogram","help":"histogram","samples":[
                  {"buckets":[{"le":"+Inf","count":1}],"sum":0.5,"count":1}]},
                {"name":"other_created","type":"untyped","samples":[{"value":5}]}]"#,
            &[],
        );
    }

    #[test]
    fn the_last_text_line_must_end_with_a_newline() {
        text(
            "a 1\na 2",
            r#"[{"name":"a","type":"untyped","samples":[{"value":1}]}]"#,
            &["line 2: the last line does not end with a newline (cut short?)"],
        );
    }

    #[test]
    fn crlf_line_ends_are_refused_with_a_hint() {
        assert_eq!(
            text_errors("a 1\r\n"),
            ["line 1: invalid value \"1\\r\" (CRLF line ends are not allowed)"]
        );
    }

    #[test]
    fn lines_that_are_not_utf8_are_errors_of_their_own() {
        let out = parse_bytes(b"a 1\nb{x=\"\xff\"} 1\nc 1\n");
        assert_eq!(
            out.errors,
            [ParseError {
                line: 2,
                message: "not valid UTF-8".into()
            }]
        );
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn errors_beyond_the_limit_are_counted_not_listed() {
        let text = "1x 1\n".repeat(MAX_ERRORS + 5);
        let out = parse(&text);
        assert_eq!(out.errors.len(), MAX_ERRORS + 1);
        assert_eq!(
            out.errors.last().unwrap().to_string(),
            format!("line {}: 5 more errors not listed", MAX_ERRORS + 1)
        );
    }

    #[test]
    fn display_names_the_line() {
        let e = ParseError {
            line: 12,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "line 12: bad");
    }

    #[test]
    fn messages_cut_long_names() {
        let name = "n".repeat(200);
        let errs = text_errors(&format!("{name}{{a=\"1\",a=\"2\"}} 1\n"));
        assert_eq!(
            errs,
            [format!(
                "line 1: duplicate label name \"a\" in \"{}…\"",
                "n".repeat(64)
            )]
        );
    }
}

mod openmetrics {
    use super::*;

    #[test]
    fn a_complete_openmetrics_exposition() {
        om(
            concat!(
                "# TYPE io_seconds counter\n",
                "# UNIT io_seconds seconds\n",
                "# HELP io_seconds Time \\\"spent\\\".\n",
                "io_seconds_total{dev=\"a\"} 1.5 1700000000.5 # {trace_id=\"x\"} 0.2 1700000000.1\n",
                "io_seconds_created{dev=\"a\"} 1600000000 1700000000.5\n",
                "# TYPE up gauge\n",
                "up{} 1\n",
                "# TYPE mystery unknown\n",
                "mystery 3\n",
                "# TYPE lat histogram\n",
                "lat_bucket{le=\"0.5\"} 1 # {} 0.3\n",
                "lat_bucket{le=\"+Inf\"} 2\n",
                "lat_count 2\n",
                "lat_sum 1.25\n",
                "lat_created 1600000000\n",
                "# TYPE rpc summary\n",
                "rpc{quantile=\"0.9\"} 0.2\n",
                "rpc_sum 5\n",
                "rpc_count 9\n",
                "plain 1\n",
            ),
            r#"[{"name":"io_seconds_total","type":"counter","help":"Time \"spent\".","unit":"seconds",
                 "samples":[{"labels":{"dev":"a"},"value":1.5,"timestamp":1700000000.5,
                   "created":1600000000,
                   "exemplar":{"labels":{"trace_id":"x"},"value":0.2,"timestamp":1700000000.1}}]},
                {"name":"up","type":"gauge","samples":[{"value":1}]},
                {"name":"mystery","type":"untyped","samples":[{"value":3}]},
                {"name":"lat","type":"histogram","samples":[
                  {"buckets":[{"le":0.5,"count":1,"exemplar":{"value":0.3}},{"le":"+Inf","count":2}],
                   "sum":1.25,"count":2,"created":1600000000}]},
                {"name":"rpc","type":"summary","samples":[
                  {"quantiles":[{"quantile":0.9,"value":0.2}],"sum":5,"count":9}]},
                {"name":"plain","type":"untyped","samples":[{"value":1}]}]"#,
            &[],
        );
    }

    #[test]
    fn eof_decides_the_format_and_ends_the_exposition() {
        check(
            "a 1\n# EOF",
            TextFormat::OpenMetrics,
            r#"[{"name":"a","type":"untyped","samples":[{"value":1}]}]"#,
            &[],
        );
        check(
            "a 1\n# EOF\nb 1\n# EOF\n",
            TextFormat::OpenMetrics,
            r#"[{"name":"a","type":"untyped","samples":[{"value":1}]}]"#,
            &["line 3: content after \"# EOF\""],
        );
        check(
            "a 1\n# EOF\n\n",
            TextFormat::OpenMetrics,
            r#"[{"name":"a","type":"untyped","samples":[{"value":1}]}]"#,
            &["line 3: content after \"# EOF\""],
        );
        // Without an exact `# EOF` it is text 0.0.4, where OpenMetrics-only lines are errors.
        text(
            "# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF \n",
            r#"[{"name":"a","type":"gauge","samples":[{"value":1}]}]"#,
            &[
                "line 2: # UNIT is OpenMetrics only (an OpenMetrics exposition must end with \"# EOF\")",
                "line 4: malformed \"# EOF\": OpenMetrics needs exactly \"# EOF\" as its last line",
            ],
        );
    }

    #[test]
    fn openmetrics_allows_no_blank_lines_comments_or_loose_blanks() {
        assert_eq!(
            om_errors("a 1\n\n# comment\n#TYPE a gauge\n a 2\na{x=\"1\",} 3\na{x=\"1\"}4\n# EOF x\n"),
            [
                "line 2: blank line (not allowed in OpenMetrics)",
                "line 3: only # HELP, # TYPE, # UNIT and # EOF lines may start with # in OpenMetrics",
                "line 4: only # HELP, # TYPE, # UNIT and # EOF lines may start with # in OpenMetrics",
                "line 5: expected a metric name at \" a 2\"",
                "line 6: trailing comma in a label set (not allowed in OpenMetrics)",
                "line 7: expected a space before the value of \"a\"",
                "line 8: malformed \"# EOF\" line",
            ]
        );
    }

    #[test]
    fn counters_have_total_samples_and_created_times() {
        om(
            concat!(
                "# TYPE c counter\n",
                "c_total{a=\"1\"} 1\nc_created{a=\"1\"} 2\n",
                "c_total{a=\"2\"} 3\n",
                "c 3\n",
                "# TYPE d counter\nd_created 5\n",
            ),
            r#"[{"name":"c_total","type":"counter","samples":[
                  {"labels":{"a":"1"},"value":1,"created":2},{"labels":{"a":"2"},"value":3}]}]"#,
            &[
                "line 5: counter \"c\": samples are named \"c_total\"",
                "line 7: counter \"d\" series {}: \"d_created\" without \"d_total\"",
            ],
        );
        // Without TYPE, `_total` is just a name (an unknown family).
        om(
            "c_total 1\n",
            r#"[{"name":"c_total","type":"untyped","samples":[{"value":1}]}]"#,
            &[],
        );
    }

    #[test]
    fn units_must_be_a_suffix_of_the_family_name_once() {
        om(
            concat!(
                "# TYPE a_bytes gauge\n# UNIT a_bytes bytes\n# UNIT a_bytes bytes\n",
                "# TYPE b gauge\n# UNIT b seconds\n",
                "# TYPE cbytes gauge\n# UNIT cbytes bytes\n",
                "# TYPE d_seconds gauge\n# UNIT d_seconds \n",
                "# TYPE e gauge\n# UNIT e s-s\n",
            ),
            r#"[{"name":"a_bytes","type":"gauge","unit":"bytes","samples":[]},
                {"name":"b","type":"gauge","samples":[]},
                {"name":"cbytes","type":"gauge","samples":[]},
                {"name":"d_seconds","type":"gauge","samples":[]},
                {"name":"e","type":"gauge","samples":[]}]"#,
            &[
                "line 3: second # UNIT for \"a_bytes\"",
                "line 5: unit \"seconds\" is not a suffix of \"b\" (the name must end in _seconds)",
                "line 7: unit \"bytes\" is not a suffix of \"cbytes\" (the name must end in _bytes)",
                "line 11: invalid unit \"s-s\"",
            ],
        );
    }

    #[test]
    fn info_is_named_info_and_its_value_is_left_to_validation() {
        om(
            concat!(
                "# TYPE build info\n# HELP build Build.\n",
                "build_info{version=\"1.2\"} 1\nbuild_info{version=\"1.3\"} 2\nbuild 1\n",
                "# TYPE other_seconds info\n# UNIT other_seconds seconds\n",
            ),
            r#"[{"name":"build_info","type":"info","help":"Build.","samples":[
                  {"labels":{"version":"1.2"},"value":1},{"labels":{"version":"1.3"},"value":2}]},
                {"name":"other_seconds_info","type":"info","samples":[]}]"#,
            &[
                "line 5: info \"build\": samples are named \"build_info\"",
                "line 7: type info takes no unit",
            ],
        );
    }

    #[test]
    fn stateset_samples_are_kept_for_validation_to_check() {
        om(
            concat!(
                "# TYPE state stateset\n",
                "state{state=\"a\"} 1\nstate{state=\"b\"} 0 # {} 1\n",
            ),
            r#"[{"name":"state","type":"stateset","samples":[{"labels":{"state":"a"},"value":1}]}]"#,
            &["line 3: exemplars are only allowed on counter _total and histogram _bucket samples"],
        );
    }

    #[test]
    fn gaugehistograms_group_like_histograms_with_gsum_and_gcount() {
        om(
            concat!(
                "# TYPE q gaugehistogram\n",
                "q_bucket{le=\"1\"} 2 # {id=\"j\"} 0.5\nq_bucket{le=\"+Inf\"} 3\nq_gcount 3\nq_gsum 4\n",
                "q_bucket{a=\"x\",le=\"+Inf\"} 1\nq_gsum{a=\"x\"} 1\n",
                "q_sum{a=\"y\"} 1\nq_created 1\n",
                "after 1\n",
            ),
            r#"[{"name":"q","type":"gaugehistogram","samples":[
                  {"buckets":[{"le":1,"count":2,"exemplar":{"labels":{"id":"j"},"value":0.5}},
                    {"le":"+Inf","count":3}],"sum":4,"count":3}]},
                {"name":"q_sum","type":"untyped","samples":[{"labels":{"a":"y"},"value":1}]},
                {"name":"q_created","type":"untyped","samples":[{"value":1}]},
                {"name":"after","type":"untyped","samples":[{"value":1}]}]"#,
            &["line 6: gaugehistogram \"q\" series {a=\"x\"}: \"q_gsum\" without \"q_gcount\" (OpenMetrics wants both or neither)"],
        );
    }

    #[test]
    fn openmetrics_histograms_need_their_inf_bucket_and_sum_and_count_together() {
        assert_eq!(
            om_errors(concat!(
                "# TYPE h histogram\n",
                "h_bucket{a=\"1\",le=\"1\"} 0\nh_count{a=\"1\"} 0\nh_sum{a=\"1\"} 0\n",
                "h_bucket{a=\"2\",le=\"+Inf\"} 0\nh_sum{a=\"2\"} 0\n",
                "h_bucket{a=\"3\",le=\"+Inf\"} 0\nh_count{a=\"3\"} 0\n",
                "h_bucket{a=\"4\",le=\"+Inf\"} 0\n",
            )),
            [
                "line 2: histogram \"h\" series {a=\"1\"}: no \"h_bucket{le=\\\"+Inf\\\"}\" line (OpenMetrics requires the +Inf bucket)",
                "line 5: histogram \"h\" series {a=\"2\"}: \"h_sum\" without \"h_count\" (OpenMetrics wants both or neither)",
                "line 7: histogram \"h\" series {a=\"3\"}: \"h_count\" without \"h_sum\" (OpenMetrics wants both or neither)",
            ]
        );
        // Text 0.0.4 has neither rule: the +Inf bucket comes from the count, and _sum and
        // _count are each optional.
        text(
            "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_count 0\nh_sum 0\n",
            r#"[{"name":"h","type":"histogram","samples":[
                {"buckets":[{"le":1,"count":0}],"sum":0,"count":0}]}]"#,
            &[],
        );
    }

    #[test]
    fn le_of_infinity_must_be_written_plus_inf_but_other_bounds_need_not_be_canonical() {
        om(
            concat!(
                "# TYPE h histogram\n",
                "h_bucket{le=\"1\"} 0\nh_bucket{le=\"1.1e-4\"} 0\nh_bucket{le=\"inf\"} 1\n",
                "h_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
            ),
            r#"[{"name":"h","type":"histogram","samples":[
                {"buckets":[{"le":1,"count":0},{"le":0.00011,"count":0},{"le":"+Inf","count":1}],
                 "sum":1,"count":1}]}]"#,
            &["line 4: le=\"inf\" must be written \"+Inf\""],
        );
    }

    #[test]
    fn exemplars_only_on_counter_totals_and_buckets() {
        let long = "v".repeat(128);
        assert_eq!(
            om_errors(concat!(
                "# TYPE g gauge\ng 1 # {} 1\n",
                "# TYPE c counter\n",
                "c_total 1 # {a=\"1\"}\nc_total 1 #{} 1\nc_total 1 # {} x\n",
                "c_total 1 # {} 1 2 3\nc_created 1 # {} 1\n",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1 # {} 1\nh_sum 1\n",
            )),
            [
                "line 2: exemplars are only allowed on counter _total and histogram _bucket samples",
                "line 4: exemplar without a value",
                "line 5: malformed exemplar (expected \" # {\")",
                "line 6: invalid exemplar value \"x\"",
                "line 7: text after the exemplar",
                "line 8: exemplars are only allowed on counter _total and histogram _bucket samples",
                "line 10: histogram \"h\" series {}: \"h_sum\" without \"h_count\" (OpenMetrics wants both or neither)",
                "line 11: exemplars are only allowed on counter _total and histogram _bucket samples",
            ]
        );
        // The 128-character limit is validation's (the same for a JSON plugin's exemplar):
        // the parser passes a long exemplar on.
        let out = parse(&format!(
            "# TYPE c counter\nc_total 1 # {{a=\"{long}\"}} 1\n# EOF\n"
        ));
        assert_eq!(out.errors, []);
        assert!(out.families[0].samples[0].exemplar.is_some());
    }

    #[test]
    fn metadata_for_an_earlier_family_is_refused() {
        om(
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# HELP a late\n",
            r#"[{"name":"a","type":"gauge","samples":[{"value":1}]},
                {"name":"b","type":"gauge","samples":[{"value":1}]}]"#,
            &["line 5: \"a\" belongs to family \"a\", whose lines ended at line 2: a family's lines must be contiguous"],
        );
    }

    #[test]
    fn an_empty_input_is_valid_text_and_openmetrics_needs_its_eof() {
        // The content decides the format: nothing at all is an empty text 0.0.4 exposition.
        text("", "[]", &[]);
        // OpenMetrics without its `# EOF` reads as text, whose rules then say what is wrong.
        assert_eq!(
            text_errors("# TYPE a info\na_info 1\n"),
            ["line 1: unknown metric type \"info\" (an OpenMetrics type: OpenMetrics expositions end with \"# EOF\")"]
        );
        // `# EOF` alone is an empty OpenMetrics exposition.
        check("# EOF\n", TextFormat::OpenMetrics, "[]", &[]);
    }

    #[test]
    fn a_series_point_per_timestamp_groups_its_lines() {
        om(
            concat!(
                "# TYPE h histogram\n",
                "h_bucket{le=\"+Inf\"} 1 10\nh_count 1 10\nh_sum 2 10\nh_created 5 10\n",
                "h_bucket{le=\"+Inf\"} 3 11\nh_count 3 11\nh_sum 4 11\nh_created 5 11\n",
                "# TYPE c counter\nc_total 1 10\nc_created 5 11\n",
            ),
            r#"[{"name":"h","type":"histogram","samples":[
                  {"buckets":[{"le":"+Inf","count":1}],"sum":2,"count":1,"created":5,"timestamp":10},
                  {"buckets":[{"le":"+Inf","count":3}],"sum":4,"count":3,"created":5,"timestamp":11}]},
                {"name":"c_total","type":"counter","samples":[{"value":1,"timestamp":10}]}]"#,
            &["line 12: counter \"c\" series {}: \"c_created\" without \"c_total\""],
        );
    }

    #[test]
    fn openmetrics_value_rules_reach_validation_and_count_under_their_own_kinds() {
        let body = concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"-1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n",
            "# TYPE s summary\ns{quantile=\"0.5\"} -1\ns_count 1\ns_sum NaN\n",
            "# TYPE g gauge\ng 1 5\ng 2 4\n",
            "# TYPE c counter\n",
            "c_total 1 # {a=\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"} 1\n",
            "# TYPE i info\ni_info 2\n",
            "# TYPE st stateset\nst{st=\"x\"} 3\n",
            "# EOF\n",
        );
        let out = parse(body);
        assert_eq!(out.errors, []);
        let mut drops = crate::exposition::validate::Drops::default();
        let opts = crate::exposition::validate::ValidateOptions::default();
        let fams = crate::exposition::validate::validate(out.families, &opts, &mut drops);
        assert_eq!(
            drops.counts().map(|(k, n)| format!("{k}={n}")),
            [
                "invalid_metric=0",
                "duplicate_series=0",
                // The sum beside le="-1", the summary's NaN sum and negative quantile, the
                // info and stateset values.
                "forbidden_value=5",
                "timestamp_order=1",
                "invalid_exemplar=1",
            ]
        );
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["h", "s", "g", "c_total"]);
    }
}

/// Random families, as a plugin might send them, for the property tests: every type, with
/// timestamps, created times and exemplars now and then.
mod generate {
    use plugin_protocol::{Bucket, Exemplar, Family, Labels, MetricType, Quantile, Sample, Value};
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Characters that stress escaping and the line syntax, plus any character at all.
    pub fn nasty_char() -> impl Strategy<Value = char> {
        prop_oneof![
            6 => proptest::char::range('a', 'z'),
            1 => Just('\\'),
            1 => Just('"'),
            1 => Just('\n'),
            1 => Just(' '),
            1 => Just('\t'),
            1 => Just('\r'),
            1 => Just('\0'),
            1 => Just('{'),
            1 => Just('}'),
            1 => Just(','),
            1 => Just('='),
            1 => Just('#'),
            1 => Just('é'),
            1 => Just('😀'),
            1 => any::<char>(),
        ]
    }

    pub fn nasty_string(max: usize) -> impl Strategy<Value = String> {
        vec(nasty_char(), 0..max).prop_map(|v| v.into_iter().collect())
    }

    /// Help text. Text 0.0.4 parsers (Go's, Python's and ours) drop blanks that lead it, so
    /// it starts with something else.
    fn help() -> impl Strategy<Value = String> {
        nasty_string(16).prop_map(|h| {
            if h.starts_with([' ', '\t']) {
                format!("h{h}")
            } else {
                h
            }
        })
    }

    fn label_name() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_]{0,5}".prop_filter("reserved or generated", |n| {
            !n.starts_with("__") && n != "le" && n != "quantile"
        })
    }

    fn labels() -> impl Strategy<Value = Labels> {
        vec((label_name(), nasty_string(8)), 0..3).prop_map(Labels)
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            (-1000i64..1000).prop_map(|i| i as f64),
            (-1e6..1e6f64),
        ]
    }

    /// A time in seconds, mostly absent; whole milliseconds, as text 0.0.4 can write them.
    fn time() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            3 => Just(None),
            1 => (-1_000_000_000_000i64..4_000_000_000_000).prop_map(|ms| Some(ms as f64 / 1000.0)),
        ]
    }

    /// An exemplar, mostly absent.
    fn exemplar() -> impl Strategy<Value = Option<Box<Exemplar>>> {
        prop_oneof![
            3 => Just(None),
            1 => (labels(), value(), time()).prop_map(|(labels, v, timestamp)| Some(Box::new(
                Exemplar { labels, value: Value(v), timestamp }
            ))),
        ]
    }

    /// A sample of `kind` in family `name`; its values may break the rules (validation then
    /// drops what it must, and the round trip compares what it kept).
    fn sample(kind: MetricType, name: String) -> BoxedStrategy<Sample> {
        let sum = prop_oneof![3 => (0.0..1e9f64).prop_map(Some), 1 => value().prop_map(Some), 1 => Just(None)];
        let extras = (time(), time(), exemplar());
        match kind {
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let le =
                    prop_oneof![3 => 0.0..1e6f64, 1 => -1e6..1e6f64, 1 => Just(f64::NEG_INFINITY)];
                (
                    labels(),
                    vec((le, 0u32..5, exemplar()), 0..5),
                    0u32..3,
                    sum,
                    any::<bool>(),
                    extras,
                )
                    .prop_map(
                        move |(labels, mut raw, extra, sum, explicit_inf, (ts, created, _))| {
                            raw.sort_by(|a, b| a.0.total_cmp(&b.0));
                            raw.dedup_by(|a, b| a.0 == b.0);
                            let mut total = 0.0;
                            let mut buckets: Vec<Bucket> = raw
                                .into_iter()
                                .map(|(le, n, exemplar)| {
                                    total += f64::from(n);
                                    Bucket {
                                        exemplar,
                                        ..Bucket::new(le, total)
                                    }
                                })
                                .collect();
                            let count = total + f64::from(extra);
                            if explicit_inf {
                                buckets.push(Bucket::new(f64::INFINITY, count));
                            }
                            Sample {
                                labels,
                                buckets: Some(buckets),
                                sum: sum.map(Value),
                                count: Some(Value(count)),
                                timestamp: ts,
                                created: created.filter(|_| kind == MetricType::Histogram),
                                ..Sample::default()
                            }
                        },
                    )
                    .boxed()
            }
            MetricType::Summary => {
                let q_value = prop_oneof![3 => 0.0..1e6f64, 1 => Just(f64::NAN), 1 => value()];
                (
                    labels(),
                    vec((0.0..=1.0f64, q_value), 0..4),
                    proptest::option::of(0u32..100),
                    sum,
                    extras,
                )
                    .prop_map(|(labels, mut qs, count, sum, (ts, created, _))| {
                        qs.sort_by(|a, b| a.0.total_cmp(&b.0));
                        qs.dedup_by(|a, b| a.0 == b.0);
                        Sample {
                            labels,
                            quantiles: Some(
                                qs.into_iter()
                                    .map(|(q, v)| Quantile {
                                        quantile: Value(q),
                                        value: Value(v),
                                    })
                                    .collect(),
                            ),
                            sum: sum.map(Value),
                            count: count.map(|c| Value(f64::from(c))),
                            timestamp: ts,
                            created,
                            ..Sample::default()
                        }
                    })
                    .boxed()
            }
            MetricType::StateSet => (labels(), any::<bool>(), "[a-z]{1,3}", time())
                .prop_map(move |(mut labels, holds, state, ts)| {
                    labels.0.retain(|(n, _)| *n != name);
                    labels.0.push((name.clone(), state));
                    Sample {
                        labels,
                        value: Some(Value(f64::from(u8::from(holds)))),
                        timestamp: ts,
                        ..Sample::default()
                    }
                })
                .boxed(),
            MetricType::Info => (labels(), time())
                .prop_map(|(labels, ts)| Sample {
                    labels,
                    value: Some(Value(1.0)),
                    timestamp: ts,
                    ..Sample::default()
                })
                .boxed(),
            _ => (labels(), value(), extras)
                .prop_map(move |(labels, v, (ts, created, exemplar))| {
                    let counter = kind == MetricType::Counter;
                    Sample {
                        labels,
                        value: Some(Value(v)),
                        timestamp: ts,
                        created: created.filter(|_| counter),
                        exemplar: exemplar.filter(|_| counter),
                        ..Sample::default()
                    }
                })
                .boxed(),
        }
    }

    fn family() -> impl Strategy<Value = Family> {
        let kinds = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Untyped,
            MetricType::GaugeHistogram,
            MetricType::Info,
            MetricType::StateSet,
        ];
        (
            proptest::sample::select(kinds.to_vec()),
            "[a-zA-Z_][a-zA-Z0-9_:]{0,8}",
            help(),
            proptest::option::of(proptest::sample::select(vec!["seconds", "bytes"])),
            any::<bool>(),
        )
            .prop_flat_map(|(kind, base, help, unit, total)| {
                let unit =
                    unit.filter(|_| !matches!(kind, MetricType::Info | MetricType::StateSet));
                let mut name = match unit {
                    Some(u) => format!("{base}_{u}"),
                    None => base,
                };
                if kind == MetricType::Counter && total {
                    name.push_str("_total");
                }
                if kind == MetricType::Info {
                    name.push_str("_info");
                }
                let samples = vec(sample(kind, name.clone()), 0..4);
                (
                    Just(name),
                    Just(kind),
                    Just(help),
                    Just(unit.map(str::to_string)),
                    samples,
                )
            })
            .prop_map(|(name, kind, help, unit, samples)| Family {
                name,
                kind,
                help,
                unit,
                samples,
            })
    }

    pub fn families() -> impl Strategy<Value = Vec<Family>> {
        vec(family(), 0..6)
    }
}

/// Our encoder's output, parsed, validated and encoded again, is what it was, but for what
/// text 0.0.4 cannot say.
mod round_trip {
    use super::*;
    use crate::exposition::model::{self, SampleValue};
    use crate::exposition::render::render;
    use crate::exposition::testing::exposition;
    use crate::exposition::validate::{counter_stem, validate, Drops, ValidateOptions};
    use crate::exposition::Format;
    use plugin_protocol::MetricType;
    use proptest::prelude::*;

    fn validated(families: Vec<proto::Family>) -> (Vec<model::Family>, Drops) {
        let mut drops = Drops::default();
        let fams = validate(families, &ValidateOptions::default(), &mut drops);
        (fams, drops)
    }

    /// -0 is written `0`.
    fn unsign_zeros(fam: &mut model::Family) {
        let z = |v: &mut f64| {
            if *v == 0.0 {
                *v = 0.0;
            }
        };
        for s in &mut fam.samples {
            match &mut s.value {
                SampleValue::Scalar(v) => z(v),
                SampleValue::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    buckets.iter_mut().for_each(|(le, c)| {
                        z(le);
                        z(c)
                    });
                    sum.iter_mut().for_each(z);
                    z(count);
                }
                SampleValue::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    quantiles.iter_mut().for_each(|(q, v)| {
                        z(q);
                        z(v)
                    });
                    sum.iter_mut().for_each(z);
                    count.iter_mut().for_each(z);
                }
            }
            if let Some(extra) = &mut s.extra {
                let exemplars = extra.bucket_exemplars.iter_mut().map(|(_, e)| e);
                for e in extra.exemplar.iter_mut().chain(exemplars) {
                    z(&mut e.value);
                }
            }
        }
    }

    /// What parsing `format` gives back of `fam`: in OpenMetrics all of it, but counters
    /// without `_total`, which are unknown there (without created times or exemplars); in
    /// text no units, created times or exemplars, info and stateset as gauges, and a gauge
    /// histogram as a histogram of its buckets plus gauges `_gcount` and `_gsum`.
    pub fn expected(mut fam: model::Family, format: Format) -> Vec<model::Family> {
        unsign_zeros(&mut fam);
        let plain = |s: &mut model::Sample| s.extra = None;
        if format == Format::OpenMetrics {
            if fam.kind == MetricType::Counter && counter_stem(&fam.name).is_none() {
                fam.kind = MetricType::Untyped;
                fam.samples.iter_mut().for_each(plain);
            }
            return vec![fam];
        }
        fam.unit = None;
        fam.samples.iter_mut().for_each(plain);
        let mut gauges = Vec::new();
        match fam.kind {
            MetricType::Info | MetricType::StateSet => fam.kind = MetricType::Gauge,
            MetricType::GaugeHistogram => {
                fam.kind = MetricType::Histogram;
                let mut parts = [Vec::new(), Vec::new()];
                for s in &mut fam.samples {
                    let SampleValue::Histogram { sum, count, .. } = &mut s.value else {
                        continue;
                    };
                    if let Some(sum) = sum.take() {
                        for (part, v) in parts.iter_mut().zip([*count, sum]) {
                            let mut g =
                                model::Sample::new(s.labels.clone(), SampleValue::Scalar(v));
                            g.timestamp = s.timestamp;
                            part.push(g);
                        }
                    }
                }
                for (part, suffix) in parts.into_iter().zip(["_gcount", "_gsum"]) {
                    if !part.is_empty() {
                        gauges.push(model::Family {
                            name: format!("{}{suffix}", fam.name),
                            kind: MetricType::Gauge,
                            help: fam.help.clone(),
                            unit: None,
                            samples: part,
                        });
                    }
                }
            }
            _ => {}
        }
        std::iter::once(fam).chain(gauges).collect()
    }

    fn round_trip(families: Vec<proto::Family>, format: Format) -> Result<(), TestCaseError> {
        let (model, _) = validated(families);
        let body = exposition(&render(model.clone(), None, false), format);
        let out = parse(&body);
        prop_assert!(out.errors.is_empty(), "{:?} in\n{}", out.errors, body);
        prop_assert_eq!(super::super::super::Format::from(out.format), format);
        let (mut back, drops) = validated(out.families);
        prop_assert_eq!(drops, Drops::default(), "body:\n{}", body);
        let mut want: Vec<model::Family> = model
            .into_iter()
            .flat_map(|f| expected(f, format))
            .collect();
        // The merge writes families in name order, a gauge histogram's text parts together.
        want.sort_by(|a, b| a.name.cmp(&b.name));
        back.sort_by(|a, b| a.name.cmp(&b.name));
        // Debug prints every f64 exactly and NaN as NaN, which makes NaN equal to itself.
        prop_assert_eq!(format!("{back:?}"), format!("{want:?}"), "body:\n{}", body);
        if format == Format::OpenMetrics {
            let again = exposition(&render(back, None, false), format);
            prop_assert_eq!(again, body);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn text_round_trips(families in generate::families()) {
            round_trip(families, Format::Text)?;
        }

        #[test]
        fn openmetrics_round_trips(families in generate::families()) {
            round_trip(families, Format::OpenMetrics)?;
        }
    }

    /// OpenMetrics as clients write it: every type, timestamps, created times, exemplars.
    const OPENMETRICS_INPUT: &str = concat!(
        "# TYPE jobs counter\n# HELP jobs Jobs done.\n",
        "jobs_total{q=\"a\"} 3 1700000000.5 # {trace_id=\"abc\"} 1 1700000000.25\n",
        "jobs_created{q=\"a\"} 1600000000 1700000000.5\n",
        "jobs_total{q=\"b\"} 0\n",
        "# TYPE queue_age_seconds gaugehistogram\n# UNIT queue_age_seconds seconds\n# HELP queue_age_seconds Ages.\n",
        "queue_age_seconds_bucket{q=\"a\",le=\"1.0\"} 2 # {id=\"j1\"} 0.5\n",
        "queue_age_seconds_bucket{q=\"a\",le=\"+Inf\"} 3\n",
        "queue_age_seconds_gsum{q=\"a\"} 4.5\nqueue_age_seconds_gcount{q=\"a\"} 3\n",
        "queue_age_seconds_bucket{q=\"b\",le=\"-1.0\"} 1 1700000000\n",
        "queue_age_seconds_bucket{q=\"b\",le=\"+Inf\"} 1 1700000000\n",
        "queue_age_seconds_gsum{q=\"b\"} -2 1700000000\nqueue_age_seconds_gcount{q=\"b\"} 1 1700000000\n",
        "# TYPE build info\n# HELP build Build.\nbuild_info{version=\"1.2\"} 1\n",
        "# TYPE mode stateset\n# HELP mode Mode.\nmode{mode=\"up\"} 1\nmode{mode=\"down\"} 0\n",
        "# TYPE lat_seconds histogram\n# HELP lat_seconds Latency.\n",
        "lat_seconds_bucket{le=\"0.5\"} 1\nlat_seconds_bucket{le=\"+Inf\"} 2\n",
        "lat_seconds_count 2\nlat_seconds_sum 0.75\nlat_seconds_created 1600000000.5\n",
        "lat_seconds_bucket{path=\"/x\",le=\"-0.5\"} 1\nlat_seconds_bucket{path=\"/x\",le=\"+Inf\"} 1\n",
        "# TYPE rpc_seconds summary\n# HELP rpc_seconds RPC.\n",
        "rpc_seconds{quantile=\"0.5\"} 0.1\nrpc_seconds_count 4\nrpc_seconds_created 1600000000\n",
        "# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n# HELP temp_celsius T.\ntemp_celsius 21.5 1700000000.123\n",
        "# TYPE thing unknown\n# HELP thing Thing.\nthing{a=\"1\"} 1\n",
        "# EOF\n",
    );

    #[test]
    fn openmetrics_input_round_trips_through_both_formats_and_the_reference_parsers() {
        let out = parse(OPENMETRICS_INPUT);
        assert_eq!(out.errors, []);
        let (model, drops) = validated(out.families);
        assert_eq!(drops, Drops::default());
        let kinds: Vec<(&str, MetricType)> =
            model.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("jobs_total", MetricType::Counter),
                ("queue_age_seconds", MetricType::GaugeHistogram),
                ("build_info", MetricType::Info),
                ("mode", MetricType::StateSet),
                ("lat_seconds", MetricType::Histogram),
                ("rpc_seconds", MetricType::Summary),
                ("temp_celsius", MetricType::Gauge),
                ("thing", MetricType::Untyped),
            ]
        );
        let rendered = render(model.clone(), None, false);
        for format in [Format::OpenMetrics, Format::Text] {
            let body = exposition(&rendered, format);
            let again = parse(&body);
            assert_eq!(again.errors, [], "{body}");
            let (mut back, drops) = validated(again.families);
            assert_eq!(drops, Drops::default(), "{body}");
            let mut want: Vec<model::Family> = model
                .iter()
                .cloned()
                .flat_map(|f| expected(f, format))
                .collect();
            want.sort_by(|a, b| a.name.cmp(&b.name));
            back.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(format!("{back:?}"), format!("{want:?}"), "{body}");
        }
        let text_body = exposition(&rendered, Format::Text);
        crate::exposition::testing::promtool_check(&text_body, false);
        assert_eq!(
            crate::exposition::testing::python_parse(&text_body, Format::Text),
            [
                "build_info gauge - 1",
                "jobs counter - 2",
                "lat_seconds histogram - 6",
                "mode gauge - 2",
                "queue_age_seconds histogram - 4",
                "queue_age_seconds_gcount gauge - 2",
                "queue_age_seconds_gsum gauge - 2",
                "rpc_seconds summary - 2",
                "temp_celsius gauge - 1",
                // Python's text parser calls untyped unknown.
                "thing unknown - 1",
            ]
        );
        let om_body = exposition(&rendered, Format::OpenMetrics);
        assert_eq!(
            crate::exposition::testing::python_parse(&om_body, Format::OpenMetrics),
            [
                "build info - 1",
                "jobs counter - 3",
                "lat_seconds histogram - 7",
                "mode stateset - 2",
                "queue_age_seconds gaugehistogram seconds 8",
                "rpc_seconds summary - 3",
                "temp_celsius gauge celsius 1",
                "thing unknown - 1",
            ]
        );
    }

    #[test]
    fn the_golden_fixture_round_trips_in_both_formats() {
        let fams = crate::exposition::testing::rendered(
            crate::exposition::testing::FIXTURE_JSON,
            Some(("plugin", "disk")),
            false,
        );
        for (format, golden) in [
            (Format::Text, crate::exposition::testing::GOLDEN_TEXT),
            (Format::OpenMetrics, crate::exposition::testing::GOLDEN_OM),
        ] {
            let out = parse(golden);
            assert_eq!(out.errors, [], "{format:?}");
            let (back, drops) = validated(out.families);
            assert_eq!(drops, Drops::default());
            assert_eq!(exposition(&render(back, None, false), format), golden);
            assert_eq!(exposition(&fams, format), golden);
        }
    }
}

/// No input makes the parser panic, break its own invariants, or take more than linear time.
mod fuzz {
    use super::*;
    use crate::exposition::render::render;
    use crate::exposition::testing::{exposition, GOLDEN_OM, GOLDEN_TEXT};
    use crate::exposition::validate::{validate, Drops, ValidateOptions};
    use crate::exposition::Format;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// What must hold for any input: errors point into the text and are capped and ordered,
    /// and what the parser returns goes through validation and rendering.
    fn invariants(bytes: &[u8], out: &ParseOutput) -> Result<(), TestCaseError> {
        let lines = bytes.split(|&b| b == b'\n').count();
        prop_assert!(out.errors.len() <= MAX_ERRORS + 1);
        prop_assert!(out.errors.iter().all(|e| e.line >= 1 && e.line <= lines));
        let listed = &out.errors[..out.errors.len().min(MAX_ERRORS)];
        prop_assert!(listed.windows(2).all(|w| w[0].line <= w[1].line));
        let extra = Some(("plugin", "fuzz"));
        let mut drops = Drops::default();
        let fams = validate(
            out.families.clone(),
            &ValidateOptions::with_extra_label(extra),
            &mut drops,
        );
        let rendered = render(fams, extra, true);
        // Whatever survived renders to text that parses back clean.
        let text = exposition(&rendered, Format::Text);
        let again = parse(&text);
        prop_assert!(again.errors.is_empty(), "{:?}\n{}", again.errors, text);
        exposition(&rendered, Format::OpenMetrics);
        Ok(())
    }

    /// Applies `edits` (position, operation, character) to `text`.
    fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for &(pos, op, ch) in edits {
            let at = if chars.is_empty() {
                0
            } else {
                pos % chars.len()
            };
            match op {
                0 => chars.insert(at, ch),
                1 if !chars.is_empty() => {
                    chars.remove(at);
                }
                2 if !chars.is_empty() => chars[at] = ch,
                _ => {
                    // Duplicate the line around `at`, a classic way to split a family.
                    let start = chars[..at]
                        .iter()
                        .rposition(|&c| c == '\n')
                        .map_or(0, |p| p + 1);
                    let end = chars[at..]
                        .iter()
                        .position(|&c| c == '\n')
                        .map_or(chars.len(), |p| at + p + 1);
                    let line: Vec<char> = chars[start..end].to_vec();
                    let dest = pos.wrapping_mul(31) % (chars.len() + 1);
                    let dest = chars[..dest]
                        .iter()
                        .rposition(|&c| c == '\n')
                        .map_or(0, |p| p + 1);
                    chars.splice(dest..dest, line);
                }
            }
        }
        chars.into_iter().collect()
    }

    fn edits() -> impl Strategy<Value = Vec<(usize, u8, char)>> {
        vec((any::<usize>(), 0u8..4, generate::nasty_char()), 1..8)
    }

    const BASES: [&str; 4] = [
        GOLDEN_TEXT,
        GOLDEN_OM,
        "# TYPE h histogram\nh_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} 2\nh_sum{a=\"1\"} 3\nh_count{a=\"1\"} 2\n",
        "# TYPE c counter\n# UNIT c seconds\nc_total 1 2 # {t=\"x\"} 1\nc_created 3\n# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# EOF\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn text_from_the_format_alphabet(s in "[a-z_{}=\",# \\n\\\\.0-9+eEINnaf\t:-]{0,300}") {
            let out = parse(&s);
            invariants(s.as_bytes(), &out)?;
        }

        #[test]
        fn any_string(s in any::<String>()) {
            let out = parse(&s);
            invariants(s.as_bytes(), &out)?;
        }

        #[test]
        fn any_bytes(b in vec(any::<u8>(), 0..400)) {
            let out = parse_bytes(&b);
            invariants(&b, &out)?;
        }

        #[test]
        fn mutated_fixtures(base in 0..BASES.len(), edits in edits()) {
            let text = mutate(BASES[base], &edits);
            let out = parse(&text);
            invariants(text.as_bytes(), &out)?;
        }
    }

    proptest! {
        // Each case validates and renders twice: fewer cases keep it near five seconds.
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn mutated_encoder_output(
            families in generate::families(),
            om in any::<bool>(),
            edits in edits(),
        ) {
            let mut drops = Drops::default();
            let fams = validate(families, &ValidateOptions::default(), &mut drops);
            let format = if om { Format::OpenMetrics } else { Format::Text };
            let text = mutate(&exposition(&render(fams, None, false), format), &edits);
            let out = parse(&text);
            invariants(text.as_bytes(), &out)?;
        }
    }

    /// Inputs built to hit every per-line cost at its worst: many labels on one line, one
    /// long label value full of escapes, one histogram series with many buckets, many series,
    /// many families, many errors, many split-family lines. Quadratic work on any of them
    /// would take minutes; linear work takes milliseconds.
    #[test]
    fn hostile_inputs_take_linear_time() {
        let n = 50_000;
        let labels: Vec<String> = (0..n).map(|i| format!("l{i}=\"v\"")).collect();
        let cases: Vec<(&str, String)> = vec![
            ("many labels", format!("x{{{}}} 1\n", labels.join(","))),
            (
                "long escaped value",
                format!("x{{a=\"{}\"}} 1\n", "\\\\\\\"\\n".repeat(n)),
            ),
            (
                "many buckets",
                format!(
                    "# TYPE h histogram\n{}h_sum 1\nh_count 1\n",
                    (0..n)
                        .map(|i| format!("h_bucket{{le=\"{i}\"}} {i}\n"))
                        .collect::<String>()
                ),
            ),
            (
                "many series",
                format!(
                    "# TYPE h histogram\n{}",
                    (0..n)
                        .map(|i| format!("h_sum{{a=\"{i}\"}} 1\nh_count{{a=\"{i}\"}} 1\n"))
                        .collect::<String>()
                ),
            ),
            (
                "many families",
                (0..n).map(|i| format!("f{i} 1\n")).collect(),
            ),
            ("many errors", "1x\n".repeat(n)),
            ("split family", "a 1\nb 1\n".repeat(n)),
            (
                "repeated series",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n".repeat(n / 4),
            ),
            ("blank openmetrics", format!("{}# EOF\n", "\n".repeat(n))),
        ];
        for (what, text) in cases {
            let start = Instant::now();
            let out = parse(&text);
            let took = start.elapsed();
            assert!(
                took < Duration::from_secs(3),
                "{what}: {took:?} for {} bytes",
                text.len()
            );
            assert!(out.errors.len() <= MAX_ERRORS + 1, "{what}");
        }
    }
}
