"""dataProcessingOptions on real log lines, with Kinesis Agent's output field names and byte format."""
import json

import pytest

from pipelines.agent.processing import Unprocessable, build_converter, parse_processing_option

NOW = 1_700_000_000.123  # 2023-11-14T22:13:20.123Z


def convert(options, line: bytes) -> bytes:
    parsed = tuple(parse_processing_option(o, f"o[{i}]") for i, o in enumerate(options))
    return build_converter(parsed)(line, NOW)


def as_json(out: bytes):
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    return json.loads(out)


def test_singleline_strips_and_joins_without_spaces_like_kinesis_agent():
    out = convert([{"optionName": "SINGLELINE"}], b"Exception in thread main\n    at A.b(A.java:1)\n  at C\n")
    assert out == b"Exception in thread mainat A.b(A.java:1)at C\n"


def test_csvtojson_nulls_missing_columns_and_drops_extra_ones():
    options = [{"optionName": "CSVTOJSON", "customFieldNames": ["id", "name", "zip"]}]
    assert convert(options, b"1,alice,12345,extra\n") == b'{"id":"1","name":"alice","zip":"12345"}\n'
    assert as_json(convert(options, b"2,bob\n")) == {"id": "2", "name": "bob", "zip": None}


def test_csvtojson_delimiter_is_a_regex_like_javas_split():
    options = [{"optionName": "CSVTOJSON", "customFieldNames": ["a", "b", "c"], "delimiter": "\\t"}]
    assert as_json(convert(options, b"x\ty\tz\n")) == {"a": "x", "b": "y", "c": "z"}
    pipe = [{"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": "\\|"}]
    assert as_json(convert(pipe, "é|ü\n".encode())) == {"a": "é", "b": "ü"}


COMMON = b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
COMBINED = (b'192.168.1.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395 '
            b'"http://example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"\n')
ERROR = (b"[Wed Oct 11 14:32:52 2000] [error] [pid 12345] [client 127.0.0.1] "
         b"client denied by server configuration: /export/home/live/ap/htdocs/test\n")
SYSLOG = b"Mar  5 01:22:03 ip-10-0-0-1 sshd[1234]: Accepted publickey for ec2-user from 10.0.0.2\n"
RFC3339 = b"2023-11-14T22:13:20.123+00:00 web-1 nginx[88]: upstream timed out\n"


@pytest.mark.parametrize("log_format, line, expected", [
    ("COMMONAPACHELOG", COMMON, {"host": "127.0.0.1", "ident": None, "authuser": "frank",
                                 "datetime": "10/Oct/2000:13:55:36 -0700", "request": "GET /apache_pb.gif HTTP/1.0",
                                 "response": "200", "bytes": "2326"}),
    ("COMBINEDAPACHELOG", COMBINED, {"host": "192.168.1.20", "ident": None, "authuser": None,
                                     "datetime": "28/Jul/2006:10:27:10 -0300", "request": "GET /cgi-bin/try/ HTTP/1.0",
                                     "response": "200", "bytes": "3395", "referer": "http://example.com/start.html",
                                     "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"}),
    ("APACHEERRORLOG", ERROR, {"timestamp": "Wed Oct 11 14:32:52 2000", "module": None, "severity": "error",
                               "processid": "12345", "threadid": None, "client": "127.0.0.1",
                               "message": "client denied by server configuration: /export/home/live/ap/htdocs/test"}),
    ("SYSLOG", SYSLOG, {"timestamp": "Mar  5 01:22:03", "hostname": "ip-10-0-0-1", "program": "sshd",
                        "processid": "1234", "message": "Accepted publickey for ec2-user from 10.0.0.2"}),
    ("RFC3339SYSLOG", RFC3339, {"timestamp": "2023-11-14T22:13:20.123+00:00", "hostname": "web-1",
                                "program": "nginx", "processid": "88", "message": "upstream timed out"}),
])
def test_logtojson_formats(log_format, line, expected):
    out = as_json(convert([{"optionName": "LOGTOJSON", "logFormat": log_format}], line))
    assert out == expected
    assert list(out) == list(expected)  # Kinesis Agent's field order


def test_logtojson_custom_names_and_pattern_with_java_named_groups():
    renamed = convert([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
                        "customFieldNames": ["ts", "host", "prog", "pid", "msg"]}], SYSLOG)
    assert as_json(renamed)["prog"] == "sshd"
    custom = convert([{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG",
                       "matchPattern": "^(?<level>[A-Z]+) (\\d+)ms$", "customFieldNames": ["level", "ms"]}],
                     b"WARN 250ms\n")
    assert as_json(custom) == {"level": "WARN", "ms": "250"}


def test_a_line_that_does_not_match_is_unprocessable_without_quoting_it():
    with pytest.raises(Unprocessable) as info:
        convert([{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"}], b"secret-token=abc123 hello\n")
    assert "abc123" not in str(info.value) and "COMMONAPACHELOG" in str(info.value)


def test_addmetadata_after_logtojson():
    out = convert([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG"},
                   {"optionName": "ADDMETADATA", "timestamp": "true", "metadata": {"env": "prod", "n": {"a": 1}}}],
                  SYSLOG)
    record = as_json(out)
    assert record["ts"] == "2023-11-14T22:13:20.123Z"
    assert record["metadata"] == {"env": "prod", "n": {"a": 1}}
    assert list(record)[-2:] == ["ts", "metadata"]
    plain = as_json(convert([{"optionName": "ADDMETADATA", "timestamp": "false", "metadata": {"k": "v"}}],
                            b'{"a":1}\n'))
    assert plain == {"a": 1, "metadata": {"k": "v"}}


def test_addmetadata_needs_a_json_object():
    with pytest.raises(Unprocessable, match="JSON object"):
        convert([{"optionName": "ADDMETADATA", "metadata": {}}], b"plain text\n")


def test_no_options_means_bytes_as_read():
    assert build_converter(()) is None


@pytest.mark.parametrize("raw, message", [
    ({"optionName": "ADDBRACKETS"}, "o.optionName: ADDBRACKETS is not supported"),
    ({"optionName": "ADDMETADATA", "timestamp": "yes"}, "o.timestamp"),
    ({"optionName": "CSVTOJSON", "customFieldNames": "a,b"}, "o.customFieldNames: must be a list"),
    ({"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "(x)"}, "o.customFieldNames: required with"),
    ({"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "customFieldNames": ["a"]}, "o.customFieldNames: SYSLOG has 5"),
    ({"optionName": "CSVTOJSON", "customFieldNames": ["a"], "jsonFormat": "YAML"}, "o.jsonFormat"),
])
def test_option_errors(raw, message):
    with pytest.raises(ValueError) as info:
        parse_processing_option(raw, "o")
    assert str(info.value).startswith(message)
