"""The pure safety rules of aisetl.wire (issue 14): header injection, request targets, file kinds,
confinement, redaction."""

from __future__ import annotations

import stat

import pytest

from aisetl._exceptions import ProtocolError
from aisetl.wire import compose_direct_put_url, parse_control_message, parse_pipeline, read_settings
from aisetl.wire.safety import (
    check_outbound_value,
    control_character,
    encode_target,
    file_kind_problem,
    host_header,
    is_within,
    redact,
    secrets_of,
    target_secret,
    token_allowed,
)

TARGET = "http://t1:9/v1/etl/_object/E/s3cr3t"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("http://n2:1", None),
        ("http://n2:1/a%0D%0Ab", None),  # escaped: harmless on the wire
        ("http://n2:1\r\nX-Evil: 1", "\r"),
        ("http://n2:1\nX", "\n"),
        ("a\x00b", "\x00"),
        ("a\tb", "\t"),
        ("a\x7fb", "\x7f"),
        ("a\x85b", "\x85"),
        ("ñ and spaces", None),
    ],
)
def test_control_character(value: str, found: str | None) -> None:
    assert control_character(value) == found


def test_check_outbound_value_refuses_with_400_naming_what() -> None:
    with pytest.raises(ProtocolError, match="pipeline") as info:
        check_outbound_value("x\r\ny", "pipeline header entry")
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "header",
    [
        "http://n2:1\r\nX-Evil: 1",
        "http://n2:1,http://n3:1\r\nX-Evil: 1",
        "http://n2:1,http://n3:1/o\nHost: evil",
        "http://n2:1\x00",
        "http://n2:1/a\x01b,http://n3:1",
    ],
)
def test_parse_pipeline_refuses_control_characters_with_400(header: str) -> None:
    with pytest.raises(ProtocolError, match="control character") as info:
        parse_pipeline(header)
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("http://t:2/ais%2F@%23%2Fdst%2Fo x", "http://t:2/v1/etl/_object/E/s3cr3t/ais%2F@%23%2Fdst%2Fo%20x"),
        ("http://t:2/bkt/ñ", "http://t:2/v1/etl/_object/E/s3cr3t/bkt/%C3%B1"),
        ("http://t:2/o?uuid=a b", "http://t:2/v1/etl/_object/E/s3cr3t/o?uuid=a%20b"),
        ("http://[::1]:2", "http://[::1]:2/bkt/o%20x"),
    ],
)
def test_compose_direct_put_url_percent_encodes_into_a_valid_request_target(first: str, expected: str) -> None:
    assert compose_direct_put_url(first, TARGET, "bkt/o x", "") == expected


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/a b", "", "/a%20b"),
        ("/a%20b", "", "/a%20b"),
        ("/ñ", "k=ñ", "/%C3%B1?k=%C3%B1"),
        ("", "", "/"),
        ("/a\r\nb", "", "/a%0D%0Ab"),
        ("/ok", "a=1&b=2", "/ok?a=1&b=2"),
    ],
)
def test_encode_target(path: str, query: str, expected: str) -> None:
    assert encode_target(path, query) == expected


@pytest.mark.parametrize(
    ("host", "port", "default", "expected"),
    [
        ("::1", 8080, 80, "[::1]:8080"),
        ("::1", 80, 80, "[::1]"),
        ("n2", 8080, 80, "n2:8080"),
        ("n2", 443, 443, "n2"),
        ("10.0.0.7", 31544, 80, "10.0.0.7:31544"),
    ],
)
def test_host_header(host: str, port: int, default: int, expected: str) -> None:
    assert host_header(host, port, default) == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (stat.S_IFREG | 0o644, None),
        (stat.S_IFDIR | 0o755, "a directory"),
        (stat.S_IFIFO | 0o644, "a FIFO"),
        (stat.S_IFCHR | 0o666, "a character device"),
        (stat.S_IFBLK | 0o660, "a block device"),
        (stat.S_IFSOCK | 0o755, "a socket"),
    ],
)
def test_file_kind_problem(mode: int, expected: str | None) -> None:
    assert file_kind_problem(mode) == expected


@pytest.mark.parametrize(
    ("root", "path", "inside"),
    [
        ("/mnt/ais", "/mnt/ais/@ais/b/%ob/o", True),
        ("/mnt/ais/", "/mnt/ais/o", True),
        ("/mnt/ais", "/mnt/ais", True),
        ("/mnt/ais", "/mnt/aisx/o", False),
        ("/mnt/ais", "/etc/passwd", False),
        ("/mnt/ais", "/mnt/ais/../../etc/passwd", False),
        ("/", "/anything", True),
    ],
)
def test_is_within(root: str, path: str, inside: bool) -> None:
    assert is_within(root, path) is inside


def test_target_secret_and_secrets() -> None:
    assert target_secret(TARGET) == "s3cr3t"
    assert target_secret(TARGET + "/") == "s3cr3t"
    assert secrets_of(TARGET, "tok-123456") == ("s3cr3t", "tok-123456")
    assert secrets_of("http://t1:9/v1/etl/_object/E/ab", None) == ()  # too short to redact safely


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "direct put to 'http://t:2/v1/etl/_object/E/s3cr3t/o' failed",
            "direct put to 'http://t:2/v1/etl/_object/E/***/o' failed",
        ),
        ("Bearer tok/12 34", "Bearer ***"),
        ("escaped tok%2F12%2034 too", "escaped *** too"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, ("s3cr3t", "tok/12 34")) == expected


@pytest.mark.parametrize(
    ("host", "port", "allowed", "expected"),
    [
        ("n2", 80, None, True),
        ("n2", 80, ("n2", "n3"), True),
        ("N2", 1, ("n2",), True),
        ("evil", 80, ("n2",), False),
        ("t1", 9, ("n2",), True),  # the AIS target itself always gets it
        ("T1", 9, ("n2",), True),
        ("t1", 10, ("n2",), False),  # another port of the target's host is another server
        ("::1", 80, ("::1",), True),
    ],
)
def test_token_allowed(host: str, port: int, allowed: tuple[str, ...] | None, expected: bool) -> None:
    assert token_allowed(host, port, allowed, ("t1", 9)) is expected


def test_settings_repr_shows_neither_secret_nor_token() -> None:
    settings = read_settings({"AIS_TARGET_URL": TARGET, "AIS_AUTHN_TOKEN": "tok-123456"})
    assert "s3cr3t" not in repr(settings) and "tok-123456" not in repr(settings)


def test_settings_confinement_is_off_by_default_and_read_from_the_environment() -> None:
    assert read_settings({"AIS_TARGET_URL": TARGET}).fqn_root is None
    assert read_settings({"AIS_TARGET_URL": TARGET}).token_hosts is None
    s = read_settings({"AIS_TARGET_URL": TARGET, "AISETL_FQN_ROOT": "/mnt", "AISETL_TOKEN_HOSTS": "N2, [::1]"})
    assert (s.fqn_root, s.token_hosts) == ("/mnt", ("n2", "::1"))


def test_a_deeply_nested_control_message_is_a_400_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nested too deeply") as info:
        parse_control_message("[" * 100_000 + "]" * 100_000)
    assert info.value.status_code == 400
