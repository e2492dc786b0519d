"""The pure wire contract (aisetl/_protocol.py) against docs/ais-etl-protocol.md.

Section and checklist numbers in test ids and comments refer to that document.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import pytest

from aisetl._exceptions import ConfigError, ETLError, ProtocolError
from aisetl.wire import (
    ControlMessage,
    DirectPutOutcome,
    backoff_delay,
    compose_direct_put_url,
    decode_fqn,
    encode_control_message,
    interpret_reply,
    object_query,
    parse_bool,
    parse_control_message,
    parse_pipeline,
    parse_query,
    read_settings,
    retry_budget,
    upstream_object_url,
)

# AIS_TARGET_URL as AIS builds it: <intra-data URL>/v1/etl/_object/<etl-name>/<secret> (7.1).
TARGET = "http://t1:9/v1/etl/_object/E/S"
TLS_TARGET = "https://t1:9/v1/etl/_object/E/S"

# Object names that need escaping somewhere on the way (1.3).
AWKWARD_PATHS = [
    pytest.param("bkt/o bj", id="space"),
    pytest.param("bkt/o#frag", id="hash"),
    pytest.param("bkt/o?q=1", id="question-mark"),
    pytest.param("bkt/100%", id="percent"),
    pytest.param("bkt/%41%2F", id="percent-escape-lookalike"),
    pytest.param("bkt/a,b;c", id="comma-semicolon"),
    pytest.param("bkt/user@host", id="at"),
    pytest.param("bkt/a+b&c=d:e$f", id="plus-amp-eq-colon-dollar"),
    pytest.param("bkt/path with ñ/obj", id="non-ascii"),
    pytest.param("ais/@#/bkt/dir/o.jpg", id="global-namespace-uname"),
]


# --- parse_bool (7.1) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("1", id="one"),
        pytest.param("t", id="t"),
        pytest.param("T", id="T"),
        pytest.param("true", id="true"),
        pytest.param("True", id="True"),
        pytest.param("TRUE", id="TRUE"),
        pytest.param("y", id="y"),
        pytest.param("Y", id="Y"),
        pytest.param("yes", id="yes"),
        pytest.param("YeS", id="YeS"),
        pytest.param("on", id="on"),
        pytest.param("ON", id="ON"),
        pytest.param("  true  ", id="padded-true"),
        pytest.param("\tyes\n", id="tab-newline-yes"),
    ],
)
def test_parse_bool_accepts_the_truthy_words_in_any_case_and_padding(raw: str) -> None:
    assert parse_bool(raw) is True


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="whitespace"),
        pytest.param("0", id="zero"),
        pytest.param("f", id="f"),
        pytest.param("false", id="false"),
        pytest.param("no", id="no"),
        pytest.param("off", id="off"),
        pytest.param("2", id="two"),
        pytest.param("tru", id="tru"),
        pytest.param("yes please", id="yes-please"),
        pytest.param("enabled", id="enabled"),
    ],
)
def test_parse_bool_is_false_for_everything_else(raw: str | None) -> None:
    assert parse_bool(raw) is False


# --- read_settings (7.1) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="missing"),
        pytest.param({"AIS_TARGET_URL": ""}, id="empty"),
        pytest.param({"AIS_TARGET_URL": "   "}, id="whitespace"),
    ],
)
def test_read_settings_without_target_url_is_a_config_error_naming_it(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AIS_TARGET_URL") as exc_info:
        read_settings(environ)
    # Checklist 51: the SDK raises EnvironmentError, i.e. OSError.
    assert isinstance(exc_info.value, OSError)
    assert isinstance(exc_info.value, EnvironmentError)
    assert isinstance(exc_info.value, ETLError)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://t1:9/v1/etl/_object/E/S", id="ftp"),
        pytest.param("t1:9/v1/etl/_object/E/S", id="no-scheme"),
        pytest.param("/v1/etl/_object/E/S", id="path-only"),
        pytest.param("http://", id="no-host"),
        pytest.param("not a url", id="words"),
    ],
)
def test_read_settings_rejects_a_target_url_that_is_not_http(url: str) -> None:
    with pytest.raises(ConfigError, match="AIS_TARGET_URL"):
        read_settings({"AIS_TARGET_URL": url})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(TARGET, TARGET, id="as-ais-sends-it"),
        pytest.param(TARGET + "/", TARGET, id="trailing-slash"),
        pytest.param(TARGET + "//", TARGET, id="trailing-slashes"),
        pytest.param(f"  {TARGET}/ ", TARGET, id="padded"),
        pytest.param(TLS_TARGET, TLS_TARGET, id="https"),
    ],
)
def test_read_settings_normalises_the_target_url(url: str, expected: str) -> None:
    assert read_settings({"AIS_TARGET_URL": url}).target_url == expected


def test_read_settings_defaults_match_the_doc() -> None:
    settings = read_settings({"AIS_TARGET_URL": TARGET})
    assert settings.direct_fqn is False
    assert settings.direct_put is False
    assert settings.direct_put_retries == 3
    assert settings.direct_put_chunk_size == 1048576
    assert settings.max_conn == 256
    assert settings.max_keepalive_conn == 128
    assert settings.keepalive_expiry == 30
    assert settings.skip_verify is False
    assert settings.client_ca is None
    assert settings.client_cert is None
    assert settings.authn_token is None
    assert settings.outbound_headers == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, False, id="unset"),
        pytest.param("", False, id="empty"),
        pytest.param("true", True, id="true"),
        pytest.param(" Yes ", True, id="padded-yes"),
        pytest.param("1", True, id="one"),
        pytest.param("false", False, id="false"),
        pytest.param("nope", False, id="other-word"),
    ],
)
def test_read_settings_etl_direct_fqn_is_a_parse_bool(value: str | None, expected: bool) -> None:
    environ = {"AIS_TARGET_URL": TARGET}
    if value is not None:
        environ["ETL_DIRECT_FQN"] = value
    assert read_settings(environ).direct_fqn is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, 3, id="unset-default-3"),
        pytest.param("", 3, id="empty-default-3"),
        pytest.param("0", 0, id="zero"),
        pytest.param("5", 5, id="five"),
        pytest.param(" 7 ", 7, id="padded"),
    ],
)
def test_read_settings_direct_put_retries(value: str | None, expected: int) -> None:
    environ = {"AIS_TARGET_URL": TARGET}
    if value is not None:
        environ["AIS_DIRECT_PUT_RETRIES"] = value
    assert read_settings(environ).direct_put_retries == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("AIS_DIRECT_PUT_RETRIES", "x", id="retries-not-int"),
        pytest.param("AIS_DIRECT_PUT_RETRIES", "1.5", id="retries-float"),
        pytest.param("AIS_DIRECT_PUT_RETRIES", "-1", id="retries-negative"),
        pytest.param("AIS_DIRECT_PUT_CHUNK_SIZE", "big", id="chunk-not-int"),
        pytest.param("AIS_DIRECT_PUT_CHUNK_SIZE", "0", id="chunk-zero"),
        pytest.param("MAX_CONN", "many", id="max-conn-not-int"),
        pytest.param("MAX_CONN", "0", id="max-conn-zero"),
        pytest.param("MAX_KEEPALIVE_CONN", "-1", id="keepalive-conn-negative"),
        pytest.param("KEEPALIVE_EXPIRY", "soon", id="keepalive-expiry-not-int"),
        pytest.param("KEEPALIVE_EXPIRY", "-5", id="keepalive-expiry-negative"),
    ],
)
def test_read_settings_bad_number_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        read_settings({"AIS_TARGET_URL": TARGET, name: value})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, (256, 128, 30.0), id="defaults"),
        pytest.param({"MAX_CONN": "10"}, (10, 128, 30.0), id="max-conn"),
        pytest.param({"MAX_KEEPALIVE_CONN": "0"}, (256, 0, 30.0), id="no-keepalive-conn"),
        pytest.param({"KEEPALIVE_EXPIRY": "5"}, (256, 128, 5.0), id="keepalive-expiry"),
        pytest.param({"KEEPALIVE_EXPIRY": "0"}, (256, 128, 0.0), id="keepalive-expiry-zero"),
    ],
)
def test_read_settings_connection_pool_limits(environ: dict[str, str], expected: tuple[int, int, float]) -> None:
    settings = read_settings({"AIS_TARGET_URL": TARGET, **environ})
    assert (settings.max_conn, settings.max_keepalive_conn, settings.keepalive_expiry) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, False, id="neither"),
        pytest.param({"AIS_SKIP_VERIFY_CRT": "true"}, True, id="canonical-true"),
        pytest.param({"AIS_SKIP_VERIFY_CRT": "false"}, False, id="canonical-false"),
        pytest.param({"AIS_SKIP_VERIFY": "true"}, True, id="legacy-fallback-true"),
        pytest.param({"AIS_SKIP_VERIFY": "false"}, False, id="legacy-fallback-false"),
        pytest.param({"AIS_SKIP_VERIFY_CRT": "true", "AIS_SKIP_VERIFY": "false"}, True, id="canonical-wins-true"),
        pytest.param({"AIS_SKIP_VERIFY_CRT": "false", "AIS_SKIP_VERIFY": "true"}, False, id="canonical-wins-false"),
    ],
)
def test_read_settings_skip_verify_prefers_the_canonical_name(environ: dict[str, str], expected: bool) -> None:
    assert read_settings({"AIS_TARGET_URL": TARGET, **environ}).skip_verify is expected


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"AIS_CRT": "/c.pem"}, id="cert-without-key"),
        pytest.param({"AIS_CRT_KEY": "/k.pem"}, id="key-without-cert"),
        pytest.param({"AIS_CRT": "/c.pem", "AIS_CRT_KEY": "  "}, id="cert-with-blank-key"),
    ],
)
def test_read_settings_mtls_needs_both_cert_and_key(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AIS_CRT"):
        read_settings({"AIS_TARGET_URL": TARGET, **environ})


def test_read_settings_mtls_and_ca() -> None:
    settings = read_settings(
        {"AIS_TARGET_URL": TARGET, "AIS_CRT": "/c.pem", "AIS_CRT_KEY": "/k.pem", "AIS_CLIENT_CA": "/ca.pem"}
    )
    assert settings.client_cert == ("/c.pem", "/k.pem")
    assert settings.client_ca == "/ca.pem"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, {}, id="unset"),
        pytest.param({"AIS_AUTHN_TOKEN": ""}, {}, id="empty"),
        pytest.param({"AIS_AUTHN_TOKEN": "T"}, {"authorization": "Bearer T"}, id="token"),
    ],
)
def test_read_settings_authn_token_becomes_a_bearer_header(environ: dict[str, str], expected: dict[str, str]) -> None:
    assert read_settings({"AIS_TARGET_URL": TARGET, **environ}).outbound_headers == expected


# --- parse_query (2.2, 4) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(b"", ("", ""), id="empty"),
        pytest.param(b"other=1", ("", ""), id="neither-present"),
        pytest.param(b"etl_args=%20a%20b%20", ("a b", ""), id="etl-args-stripped-checklist-9"),
        pytest.param(b"etl_args=a+b", ("a b", ""), id="plus-is-space-in-etl-args"),
        pytest.param(b"etl_args=", ("", ""), id="etl-args-blank"),
        pytest.param(b"etl_args=a%2Bb", ("a+b", ""), id="escaped-plus-in-etl-args"),
        pytest.param(b"etl_args=%C3%B1", ("ñ", ""), id="utf8-etl-args"),
        pytest.param(
            b"etl_args=%7B%22resize%22%3A%20%22256x256%22%7D",
            ('{"resize": "256x256"}', ""),
            id="json-etl-args-checklist-29",
        ),
        pytest.param(b"etl_fqn=%252Fa%2Bb", ("", "%2Fa+b"), id="fqn-keeps-inner-escaping-checklist-14"),
        pytest.param(
            b"etl_fqn=%252Ftmp%252F%40ais%252Fb%252F%2525ob%252Fo",
            ("", "%2Ftmp%2F@ais%2Fb%2F%25ob%2Fo"),
            id="realistic-fqn-checklist-13",
        ),
        pytest.param(b"etl_fqn=%20%252Fx%20", ("", "%2Fx"), id="fqn-stripped"),
        pytest.param(b"etl_args=x&etl_fqn=%252Fy", ("x", "%2Fy"), id="both"),
        pytest.param(b"etl_fqn=%252Fy&latest-ver=true&etl_args=x", ("x", "%2Fy"), id="both-among-others"),
        pytest.param(b"etl_args=a&etl_args=b", ("b", ""), id="repeated-key-last-wins"),
        pytest.param(b"fqn=%252Fy", ("", ""), id="fqn-is-not-etl-fqn"),
    ],
)
def test_parse_query(query: bytes, expected: tuple[str, str]) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    "etl_args",
    [
        pytest.param('{"resize":"256x256"}', id="json"),
        pytest.param('{"a": [1, 2], "b": "x&y=z+w"}', id="json-with-query-chars"),
        pytest.param("a=b&c=d", id="query-lookalike"),
        pytest.param("100% ñ", id="percent-non-ascii"),
    ],
)
def test_parse_query_etl_args_survive_url_encoding(etl_args: str) -> None:
    assert parse_query(urlencode({"etl_args": etl_args}).encode()) == (etl_args, "")


# --- decode_fqn (4) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fqn", "expected"),
    [
        # The doc's verified examples.
        pytest.param("/local/x.bin", "/local/x.bin", id="plain-absolute"),
        pytest.param("test@some%fqn", "/test@some%fqn", id="invalid-escape-left-alone"),
        pytest.param("%2Fais%2Fmp%2Fo%2520x+y", "/ais/mp/o%20x+y", id="decoded-exactly-once-plus-kept"),
        pytest.param("../../etc/passwd", "/etc/passwd", id="dotdot-clamped-at-root"),
        pytest.param("a/./b//c", "/a/b/c", id="dot-and-double-slash-collapsed"),
        # Checklist 13-15.
        pytest.param("%2Ftmp%2F@ais%2Fb%2F%25ob%2Fo", "/tmp/@ais/b/%ob/o", id="realistic-fqn-with-percent-ob"),
        pytest.param("%2Fa+b", "/a+b", id="plus-stays-plus"),
        pytest.param("../../etc/x", "/etc/x", id="dotdot-checklist-15"),
        pytest.param("%2Fais%2Fmp1%2F@ais%2Fbkt%2F%25ob%2Fdir%2Fo.jpg", "/ais/mp1/@ais/bkt/%ob/dir/o.jpg", id="sec4"),
        pytest.param("//a/b", "/a/b", id="leading-double-slash"),
        pytest.param("%2F%2Fa%2Fb", "/a/b", id="escaped-leading-double-slash"),
        pytest.param("///a", "/a", id="leading-triple-slash"),
        pytest.param("/a/b/", "/a/b", id="trailing-slash"),
        pytest.param("/a/../../b", "/b", id="inner-dotdot"),
        pytest.param("%2F..%2F..%2Fetc", "/etc", id="escaped-dotdot"),
        pytest.param("%2Fdir%2Fo%C3%B1", "/dir/oñ", id="utf8"),
    ],
)
def test_decode_fqn(fqn: str, expected: str) -> None:
    assert decode_fqn(fqn) == expected


@pytest.mark.parametrize(
    "fqn",
    [
        pytest.param("%00", id="escaped-nul-alone"),
        pytest.param("%2Fa%00b", id="escaped-nul-inside"),
        pytest.param("/a\x00b", id="raw-nul"),
    ],
)
def test_decode_fqn_rejects_a_nul_byte_with_400(fqn: str) -> None:
    with pytest.raises(ProtocolError, match="NUL") as exc_info:
        decode_fqn(fqn)
    assert exc_info.value.status_code == 400


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(b"etl_fqn=%252Ftmp%252F%40ais%252Fb%252F%2525ob%252Fo", "/tmp/@ais/b/%ob/o", id="checklist-13"),
        pytest.param(b"etl_fqn=%252Fa%2Bb", "/a+b", id="checklist-14"),
        pytest.param(
            b"etl_fqn=%252Fais%252Fmp1%252F%40ais%252Fbkt%252F%2525ob%252Fdir%252Fo.jpg",
            "/ais/mp1/@ais/bkt/%ob/dir/o.jpg",
            id="sec4-wire-example",
        ),
        pytest.param(b"etl_fqn=..%252F..%252Fetc%252Fx", "/etc/x", id="checklist-15"),
    ],
)
def test_fqn_from_the_wire_decodes_to_the_file_path(wire: bytes, expected: str) -> None:
    _, fqn = parse_query(wire)
    assert decode_fqn(fqn) == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ais/mp1/@ais/bkt/%ob/dir/o.jpg", id="realistic"),
        pytest.param("/ais/mp1/@ais/bkt/%ob/a b+c&d=e?f#g", id="awkward"),
        pytest.param("/ais/mp1/@ais/#ns/bkt/%ob/oñ%41", id="namespace-non-ascii"),
    ],
)
def test_fqn_escaped_as_ais_does_round_trips(path: str) -> None:
    # AIS: url.PathEscape(FQN), then query encoding (4). quote(safe="@") escapes a superset of PathEscape.
    wire = urlencode({"etl_fqn": quote(path, safe="@")}).encode()
    _, fqn = parse_query(wire)
    assert decode_fqn(fqn) == path


# --- upstream_object_url (1.3, checklist 5 and 8) ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("ais/@#/bkt/o", TARGET + "/ais%2F@%23%2Fbkt%2Fo", id="checklist-5"),
        pytest.param("ais/@#/bkt/dir/o.jpg", TARGET + "/ais%2F@%23%2Fbkt%2Fdir%2Fo.jpg", id="sec-1.3"),
        pytest.param(
            "ais/@ns/b/path with ñ/obj",
            TARGET + "/" + quote("ais/@ns/b/path with ñ/obj", safe="@"),
            id="checklist-8-space-non-ascii",
        ),
        pytest.param(
            "ais/@ns/b/path with ñ/obj", TARGET + "/ais%2F@ns%2Fb%2Fpath%20with%20%C3%B1%2Fobj", id="checklist-8-bytes"
        ),
    ],
)
def test_upstream_object_url(path: str, expected: str) -> None:
    assert upstream_object_url(TARGET, path) == expected


@pytest.mark.parametrize("path", AWKWARD_PATHS)
def test_upstream_object_url_decodes_back_to_the_uname(path: str) -> None:
    url = upstream_object_url(TARGET, path)
    prefix = TARGET + "/"
    assert url.startswith(prefix)
    escaped = url[len(prefix) :]
    # `#`, `?` and `%` must be escaped or the target would not see the whole uname (1.3).
    assert "#" not in escaped
    assert "?" not in escaped
    parts = urlsplit(url)
    assert (parts.query, parts.fragment) == ("", "")
    assert unquote(escaped) == path


# --- parse_pipeline (3.2, checklist 18-25) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, ("", ""), id="absent"),
        pytest.param("", ("", ""), id="empty-checklist-23"),
        pytest.param("   ", ("", ""), id="whitespace-only-checklist-22"),
        pytest.param(" \t ", ("", ""), id="tab-whitespace"),
        pytest.param("http://n2:1", ("http://n2:1", ""), id="single-entry-checklist-24"),
        pytest.param("  http://n2:1  ", ("http://n2:1", ""), id="single-entry-padded"),
        pytest.param("a, b ,c", ("a", "b ,c"), id="remaining-trimmed-only-at-ends"),
        pytest.param(
            "http://n2:1, http://n3:1 ,http://t:2/x",
            ("http://n2:1", "http://n3:1 ,http://t:2/x"),
            id="checklist-25",
        ),
        pytest.param("http://E2,http://E3,http://T2/x", ("http://E2", "http://E3,http://T2/x"), id="sec-3.7-chain"),
        pytest.param("a,b", ("a", "b"), id="two"),
    ],
)
def test_parse_pipeline(value: str | None, expected: tuple[str, str]) -> None:
    assert parse_pipeline(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(",http://a", id="leading-comma-checklist-18"),
        pytest.param("http://a,", id="trailing-comma-checklist-19"),
        pytest.param("http://a,,http://b", id="double-comma-checklist-20"),
        pytest.param(",,,", id="commas-only-checklist-21"),
        pytest.param(" , ", id="blank-entries-checklist-21"),
        pytest.param(",a", id="sec-3.2-leading"),
        pytest.param("a,", id="sec-3.2-trailing"),
        pytest.param("a,,b", id="sec-3.2-double"),
        pytest.param("a,  ,b", id="sec-3.2-blank-middle"),
        pytest.param(",,x,,", id="checklist-59"),
        pytest.param("a,b,", id="trailing-after-two"),
        pytest.param("a,b,\t", id="tab-entry"),
    ],
)
def test_parse_pipeline_rejects_any_empty_entry_with_400(value: str) -> None:
    with pytest.raises(ProtocolError, match="Invalid pipeline") as exc_info:
        parse_pipeline(value)
    assert exc_info.value.status_code == 400
    assert "empty entry" in str(exc_info.value)


# --- compose_direct_put_url (3.3, checklist 24, 26-29) ----------------------------------------------


@pytest.mark.parametrize(
    ("first", "target", "path", "etl_args", "expected"),
    [
        pytest.param("http://n2:1", TARGET, "bkt/obj", "", "http://n2:1/bkt/obj", id="next-stage-checklist-24"),
        pytest.param(
            "http://10.0.0.7:31544", TARGET, "bkt/obj.jpg", "", "http://10.0.0.7:31544/bkt/obj.jpg", id="sec-3.3-stage"
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            TARGET,
            "bkt/o",
            "",
            "http://t:2/v1/etl/_object/E/S/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            id="destination-target-checklist-26",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo",
            TARGET,
            "bkt/o",
            "",
            "http://t:2/v1/etl/_object/E/S/ais%2F@%23%2Fdst%2Fo",
            id="destination-target-no-query",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            "http://t1:9",
            "bkt/o",
            "",
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            id="target-url-without-path",
        ),
        pytest.param(
            "http://n2:1", TARGET, "bkt/obj", "a b", "http://n2:1/bkt/obj?etl_args=a+b", id="next-stage-with-etl-args"
        ),
        pytest.param(
            "http://n2:1", TLS_TARGET, "bkt/obj", "", "http://n2:1/bkt/obj", id="next-stage-keeps-http-under-https"
        ),
        pytest.param(
            "https://n2:1", TARGET, "bkt/obj", "", "https://n2:1/bkt/obj", id="next-stage-keeps-https-under-http"
        ),
        pytest.param("//n2:1", TLS_TARGET, "bkt/obj", "", "https://n2:1/bkt/obj", id="schemeless-takes-target-https"),
        pytest.param("//n2:1", TARGET, "bkt/obj", "", "http://n2:1/bkt/obj", id="schemeless-takes-target-http"),
        pytest.param(
            "//t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            TLS_TARGET,
            "bkt/o",
            "",
            "https://t:2/v1/etl/_object/E/S/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            id="schemeless-destination-takes-target-scheme",
        ),
    ],
)
def test_compose_direct_put_url(first: str, target: str, path: str, etl_args: str, expected: str) -> None:
    assert compose_direct_put_url(first, target, path, etl_args) == expected


@pytest.mark.parametrize(
    ("first", "etl_args", "expected_query"),
    [
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            "jpeg",
            [("uuid", "X"), ("owt", "4"), ("etl_args", "jpeg")],
            id="appended-checklist-27",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&etl_args=old&owt=4",
            "jpeg",
            [("uuid", "X"), ("owt", "4"), ("etl_args", "jpeg")],
            id="replaced-checklist-28",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?etl_args=old&uuid=X&etl_args=older&owt=4",
            "new",
            [("uuid", "X"), ("owt", "4"), ("etl_args", "new")],
            id="every-old-one-replaced",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            '{"resize":"256x256"}',
            [("uuid", "X"), ("owt", "4"), ("etl_args", '{"resize":"256x256"}')],
            id="json-checklist-29",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4",
            "a&b=c+d ñ%",
            [("uuid", "X"), ("owt", "4"), ("etl_args", "a&b=c+d ñ%")],
            id="query-chars",
        ),
        pytest.param(
            "http://n2:1",
            '{"resize":"256x256"}',
            [("etl_args", '{"resize":"256x256"}')],
            id="next-stage-json",
        ),
        pytest.param(
            "http://t:2/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4&etl_args=old",
            "",
            [("uuid", "X"), ("owt", "4"), ("etl_args", "old")],
            id="no-etl-args-keeps-query",
        ),
    ],
)
def test_compose_direct_put_url_query(first: str, etl_args: str, expected_query: list[tuple[str, str]]) -> None:
    url = compose_direct_put_url(first, TARGET, "bkt/o", etl_args)
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert sorted(query) == sorted(expected_query)
    assert [value for key, value in query if key == "etl_args"] == [
        value for key, value in expected_query if key == "etl_args"
    ]


def test_compose_direct_put_url_keeps_the_destination_uname_byte_for_byte_with_etl_args() -> None:
    url = compose_direct_put_url("http://t:2/ais%2F@%23%2Fdst%2Fo%20x?uuid=X&owt=4", TARGET, "bkt/o", "jpeg")
    assert url.startswith("http://t:2/v1/etl/_object/E/S/ais%2F@%23%2Fdst%2Fo%20x?")


@pytest.mark.parametrize("path", AWKWARD_PATHS)
def test_compose_direct_put_url_next_stage_path_decodes_to_the_object_path(path: str) -> None:
    url = compose_direct_put_url("http://n2:1", TARGET, path, "x y")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.fragment) == ("http", "n2:1", "")
    # The next stage's framework percent-decodes the path and drops the leading slash (1.3).
    assert unquote(parts.path) == "/" + path
    assert parse_qsl(parts.query) == [("etl_args", "x y")]


@pytest.mark.parametrize(
    "first",
    [
        pytest.param("not a url", id="words"),
        pytest.param("http://h:notaport", id="bad-port"),
        pytest.param("http://h:99999", id="port-out-of-range"),
        pytest.param("ftp://h:1", id="ftp"),
        pytest.param("localhost:8000", id="host-port-without-slashes"),
        pytest.param("http://", id="no-host"),
        pytest.param("/ais%2F@%23%2Fdst%2Fo", id="path-only"),
        pytest.param("http://[::1", id="unclosed-ipv6"),
    ],
)
def test_compose_direct_put_url_rejects_an_unusable_url_with_500(first: str) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        compose_direct_put_url(first, TARGET, "bkt/o", "")
    assert exc_info.value.status_code == 500
    assert repr(first) in str(exc_info.value)


# --- interpret_reply (3.5, checklist 31-37) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "length_header", "bytes_sent", "expected"),
    [
        pytest.param(204, b"", "77", 5, (204, b"", 77), id="delivered-relays-length-checklist-33"),
        pytest.param(204, b"", None, 5, (204, b"", 0), id="delivered-no-header-checklist-34"),
        pytest.param(204, b"", "", 5, (204, b"", 0), id="delivered-empty-header"),
        pytest.param(204, b"", "abc", 5, (204, b"", 0), id="delivered-non-numeric-header"),
        pytest.param(204, b"", " 12 ", 5, (204, b"", 12), id="delivered-padded-header"),
        pytest.param(204, b"", "-3", 5, (204, b"", 0), id="delivered-negative-header"),
        pytest.param(200, b"", None, 5, (204, b"", 5), id="stored-by-target-checklist-31"),
        pytest.param(200, b"", "99", 5, (204, b"", 5), id="stored-by-target-own-count-wins"),
        pytest.param(200, b"", None, 0, (204, b"", 0), id="stored-zero-bytes-checklist-32"),
        pytest.param(200, b"NEXT", None, 5, (200, b"NEXT", 0), id="content-relayed-checklist-35"),
        pytest.param(500, b"error message", None, 5, (500, b"error message", 0), id="error-relayed-checklist-36"),
        pytest.param(507, b"insufficient", "7", 5, (507, b"insufficient", 0), id="507-relayed-checklist-37"),
        pytest.param(404, b"", None, 5, (404, b"", 0), id="404-empty-relayed"),
        pytest.param(503, b"busy", None, 5, (503, b"busy", 0), id="503-relayed"),
    ],
)
def test_interpret_reply(
    status: int, body: bytes, length_header: str | None, bytes_sent: int, expected: tuple[int, bytes, int]
) -> None:
    outcome = interpret_reply(status, body, length_header, bytes_sent)
    assert (outcome.status, outcome.body, outcome.length) == expected
    assert outcome.delivered is (expected[0] == 204)


@pytest.mark.parametrize(
    ("status", "body", "length_header", "bytes_sent", "expected_headers"),
    [
        pytest.param(204, b"", "77", 0, [(b"ais-direct-put-length", b"77")], id="checklist-33"),
        pytest.param(204, b"", None, 0, [], id="checklist-34"),
        pytest.param(200, b"", None, 5, [(b"ais-direct-put-length", b"5")], id="checklist-31"),
        pytest.param(200, b"", None, 0, [], id="checklist-32"),
        pytest.param(200, b"NEXT", None, 5, [], id="checklist-35"),
        pytest.param(500, b"error message", None, 5, [], id="checklist-36"),
    ],
)
def test_interpret_reply_response_headers(
    status: int, body: bytes, length_header: str | None, bytes_sent: int, expected_headers: list[tuple[bytes, bytes]]
) -> None:
    assert interpret_reply(status, body, length_header, bytes_sent).response_headers() == expected_headers


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(DirectPutOutcome(204, b"", 77), [(b"ais-direct-put-length", b"77")], id="length"),
        pytest.param(DirectPutOutcome(204, b"", 1 << 40), [(b"ais-direct-put-length", b"1099511627776")], id="big"),
        pytest.param(DirectPutOutcome(204, b"", 0), [], id="zero-omitted"),
        pytest.param(DirectPutOutcome(200, b"x", 0), [], id="content"),
    ],
)
def test_direct_put_outcome_response_headers(outcome: DirectPutOutcome, expected: list[tuple[bytes, bytes]]) -> None:
    assert outcome.response_headers() == expected


# --- backoff and retry budget (3.6, checklist 39-41, 46) --------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(0, 1, id="0"),
        pytest.param(1, 2, id="1"),
        pytest.param(2, 4, id="2"),
        pytest.param(3, 8, id="3"),
        pytest.param(4, 16, id="4"),
        pytest.param(5, 30, id="5-capped"),
        pytest.param(6, 30, id="6-capped"),
        pytest.param(7, 30, id="7-capped"),
    ],
)
def test_backoff_delay(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt) == expected


def test_backoff_delay_never_exceeds_30_seconds() -> None:
    delays = [backoff_delay(attempt) for attempt in range(101)]
    assert max(delays) == 30
    assert all(0 < delay <= 30 for delay in delays)
    assert delays == sorted(delays)


@pytest.mark.parametrize(
    ("retries", "replayable", "expected"),
    [
        pytest.param(3, True, 3, id="replayable-default"),
        pytest.param(3, False, 0, id="one-shot-body"),
        pytest.param(0, True, 0, id="zero-retries"),
        pytest.param(0, False, 0, id="zero-retries-one-shot"),
        pytest.param(10, True, 10, id="ten"),
    ],
)
def test_retry_budget(retries: int, replayable: bool, expected: int) -> None:
    assert retry_budget(retries, replayable) == expected


# --- parse_control_message (6.2) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b"{}", ControlMessage(), id="binary-empty-object"),
        pytest.param("{}", ControlMessage(), id="text-empty-object"),
        pytest.param(b" \n{ } \n", ControlMessage(), id="padded"),
        pytest.param(
            b'{"pipeline": "http://n2:1,http://t:2/x", "etl_args": "  a b ", "fqn": "%2Fa%2Fb", "path": "o.jpg"}',
            ControlMessage(pipeline="http://n2:1,http://t:2/x", etl_args="a b", fqn="%2Fa%2Fb", path="o.jpg"),
            id="binary-all-keys",
        ),
        pytest.param(
            '{"pipeline": "http://n2:1", "etl_args": "x", "fqn": "%2Fa", "path": "o"}',
            ControlMessage(pipeline="http://n2:1", etl_args="x", fqn="%2Fa", path="o"),
            id="text-all-keys",
        ),
        pytest.param(b'{"path": "o"}', ControlMessage(path="o"), id="only-path"),
        pytest.param(b'{"etl_args": " \\t x \\n"}', ControlMessage(etl_args="x"), id="etl-args-stripped"),
        pytest.param(b'{"fqn": " %2Fa "}', ControlMessage(fqn="%2Fa"), id="fqn-stripped"),
        pytest.param(b'{"fqn": null, "path": "o"}', ControlMessage(path="o"), id="null-is-omitted"),
        pytest.param(b'{"path": "o", "other": 5}', ControlMessage(path="o"), id="unknown-key-ignored"),
        pytest.param('{"path": "dir/oñ"}'.encode(), ControlMessage(path="dir/oñ"), id="utf8-bytes"),
        pytest.param('{"path": "dir/oñ"}', ControlMessage(path="dir/oñ"), id="non-ascii-text"),
        pytest.param(b'{"path": "dir/o\\u00f1"}', ControlMessage(path="dir/oñ"), id="json-escape"),
        pytest.param(
            b'{"etl_args": "{\\"resize\\":\\"256x256\\"}"}',
            ControlMessage(etl_args='{"resize":"256x256"}'),
            id="json-etl-args",
        ),
    ],
)
def test_parse_control_message(payload: bytes | str, expected: ControlMessage) -> None:
    assert parse_control_message(payload) == expected


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"", "not JSON", id="empty"),
        pytest.param(b"abc", "not JSON", id="garbage"),
        pytest.param("abc", "not JSON", id="text-garbage"),
        pytest.param(b'{"path": "o"', "not JSON", id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", "not JSON", id="not-utf8"),
        pytest.param(b'{"path": "\xff"}', "not JSON", id="invalid-utf8-inside"),
        pytest.param(b"[]", "expected a JSON object, got list", id="list"),
        pytest.param(b'["path", "o"]', "expected a JSON object, got list", id="list-of-strings"),
        pytest.param(b'"path"', "expected a JSON object, got str", id="string"),
        pytest.param(b"42", "expected a JSON object, got int", id="number"),
        pytest.param(b"null", "expected a JSON object, got NoneType", id="null"),
        pytest.param(b'{"path": 1}', "'path' must be a string, got int", id="path-int"),
        pytest.param(b'{"fqn": ["a"]}', "'fqn' must be a string, got list", id="fqn-list"),
        pytest.param(b'{"pipeline": {}}', "'pipeline' must be a string, got dict", id="pipeline-dict"),
        pytest.param(b'{"etl_args": true}', "'etl_args' must be a string, got bool", id="etl-args-bool"),
    ],
)
def test_parse_control_message_rejects_bad_frames_with_400(payload: bytes | str, message: str) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        parse_control_message(payload)
    assert exc_info.value.status_code == 400
    assert str(exc_info.value).startswith("Invalid control message")
    assert message in str(exc_info.value)


@pytest.mark.parametrize(
    ("path", "fqn", "etl_args", "pipeline", "expected"),
    [
        pytest.param("b/o", None, "", "", {"path": "b/o"}, id="content-follows"),
        pytest.param(
            "b/o",
            "/mp/@ais/b/%ob/a b#c",
            "",
            "",
            {"path": "b/o", "fqn": "%2Fmp%2F@ais%2Fb%2F%25ob%2Fa%20b%23c"},
            id="fqn-escaped-once",
        ),
        pytest.param(
            "o", None, "x=1", "http://h:1", {"path": "o", "etl_args": "x=1", "pipeline": "http://h:1"}, id="all"
        ),
    ],
)
def test_control_messages_are_encoded_as_a_target_sends_them(path, fqn, etl_args, pipeline, expected):
    frame = encode_control_message(path, fqn, etl_args, pipeline)
    assert json.loads(frame) == expected
    parsed = parse_control_message(frame)
    assert (parsed.path, parsed.etl_args, parsed.pipeline) == (path, etl_args, pipeline)
    assert (decode_fqn(parsed.fqn) if parsed.fqn else None) == fqn


@pytest.mark.parametrize(
    ("etl_args", "fqn", "expected"),
    [
        pytest.param("", None, {}, id="nothing"),
        pytest.param("a b", None, {"etl_args": "a b"}, id="args"),
        pytest.param("", "/x/a?b", {"etl_fqn": "%2Fx%2Fa%3Fb"}, id="fqn"),
    ],
)
def test_object_query_is_what_a_target_sends(etl_args, fqn, expected):
    assert object_query(etl_args, fqn) == expected
