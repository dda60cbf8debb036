"""The Xsi XML codec: bytes in, documents out, and nothing but documents or ProtocolError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.callcenter import codec
from kiosk.errors import ProtocolError

XSI = codec.XSI


def test_elements_matched_by_namespace_not_prefix():
    # Event payloads use xsi: for the BroadWorks namespace and xsi1: for XMLSchema-instance.
    body = (b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<xsi:HotelingGuest xmlns:xsi="http://schema.broadsoft.com/xsi" '
            b'xmlns:xsi1="http://www.w3.org/2001/XMLSchema-instance">'
            b'<xsi:active>true</xsi:active><xsi:hostUserId xsi1:nil="true"/>'
            b'<xsi:associationLimitHours>8</xsi:associationLimitHours>'
            b'</xsi:HotelingGuest>')
    assert codec.parse_fields(body, "HotelingGuest", codec.GUEST_SPEC) == {
        "active": True, "host_user_id": codec.NIL, "association_limit_hours": 8}


def test_element_in_another_namespace_is_ignored():
    body = (b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi" xmlns:o="urn:other">'
            b'<o:active>false</o:active><active>true</active><futureThing>x</futureThing>'
            b'</HotelingGuest>')
    assert codec.decode_hoteling_guest(body).active is True


def test_iso_8859_1_bytes_decode_by_declaration():
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?>'
            '<Profile xmlns="http://schema.broadsoft.com/xsi"><details>'
            '<userId>zoe@demo.example</userId><firstName>Zoë</firstName>'
            '<lastName>Müller</lastName></details></Profile>').encode("iso-8859-1")
    profile = codec.decode_profile(body)
    assert (profile.first_name, profile.last_name) == ("Zoë", "Müller")
    assert profile.display_name == "Zoë Müller"


def test_str_input_is_refused():
    with pytest.raises(TypeError):
        codec.decode_profile("<Profile/>")  # type: ignore[arg-type]


def test_associate_body_in_schema_order():
    body = codec.associate_body("desk12@corp.example.au", limit_hours=10)
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"><active>true</active>'
        b"<enableAssociationLimit>true</enableAssociationLimit>"
        b"<associationLimitHours>10</associationLimitHours>"
        b"<hostUserId>desk12@corp.example.au</hostUserId></HotelingGuest>")


def test_clear_body_writes_nil():
    fields = codec.parse_fields(codec.clear_association_body(), "HotelingGuest", codec.GUEST_SPEC)
    assert fields == {"host_user_id": codec.NIL}
    assert b'nil="true"' in codec.clear_association_body()


def test_acd_body_carries_only_state_and_code():
    body = codec.acd_state_body("Unavailable", unavailable_code="10")
    assert codec.parse_fields(body, "CallCenter", codec.CALLCENTER_SPEC) == {
        "agent_acd_state": "Unavailable", "agent_unavailable_code": "10"}
    with pytest.raises(ValueError):
        codec.acd_state_body("Asleep")


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<HotelingGuest/>", b'<Other xmlns="http://schema.broadsoft.com/xsi"/>',
    b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"><active>maybe</active>'
    b"</HotelingGuest>",
    b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"><associationLimitHours>ten'
    b"</associationLimitHours></HotelingGuest>",
    b'<?xml version="1.0" encoding="klingon"?><HotelingGuest/>',
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><HotelingGuest xmlns="http://schema.broadsoft.com/xsi"/>',
    b'<!DOCTYPE HotelingGuest SYSTEM "file:///etc/passwd">'
    b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"/>',
    b'<?xml version="1.0"?>\n<!DOCTYPE x>\n<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"/>',
    b'<HotelingGuest xmlns="http://schema.broadsoft.com/xsi"><active>true</active',
])
def test_malformed_bodies_raise_protocol_error(body):
    with pytest.raises(ProtocolError):
        codec.decode_hoteling_guest(body)


def test_error_info_decodes():
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?>'
            '<ErrorInfo xmlns="http://schema.broadsoft.com/xsi">'
            "<summary>[Error 4410] Le service n'est pas attribué</summary>"
            "<summaryEnglish>[Error 4410] Service not assigned</summaryEnglish>"
            "<errorCode>4410</errorCode></ErrorInfo>").encode("iso-8859-1")
    info = codec.decode_error_info(body)
    assert info.error_code == 4410
    assert info.summary == "[Error 4410] Le service n'est pas attribué"


DECODERS = [codec.decode_profile, codec.decode_hoteling_guest, codec.decode_hoteling_host,
            codec.decode_call_center, codec.decode_error_info, codec.decode_unavailable_codes,
            codec.decode_available_hosts]


@given(st.binary(max_size=400), st.sampled_from(DECODERS))
def test_any_bytes_give_a_document_or_protocol_error(body, decode):
    with contextlib.suppress(ProtocolError):
        decode(body)


xml_element_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r",
                           min_codepoint=0x20).filter(lambda c: c not in "\ufffe\uffff"),
    max_size=30,
).map(str.strip)  # values are tokens: the codec trims what servers pad them with
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
hours = st.integers(1, 999)

guests = st.builds(codec.HotelingGuest, active=maybe(st.booleans()),
                   enable_association_limit=maybe(st.booleans()),
                   association_limit_hours=maybe(hours), host_user_id=maybe(xml_element_text),
                   host_last_name=maybe(xml_element_text), host_first_name=maybe(xml_element_text),
                   host_association_date_time=maybe(xml_element_text),
                   host_enforces_association_limit=maybe(st.booleans()),
                   host_association_limit_hours=maybe(hours))
hosts = st.builds(codec.HotelingHost, active=maybe(st.booleans()),
                  association_limit_hours=maybe(hours), access_level=maybe(xml_element_text),
                  guest_first_name=maybe(xml_element_text), guest_last_name=maybe(xml_element_text),
                  guest_extension=maybe(xml_element_text))
queues = st.builds(codec.Queue, service_user_id=maybe(xml_element_text),
                   available=maybe(st.booleans()), skill_level=maybe(st.integers(1, 20)))
call_centers = st.builds(codec.CallCenter, agent_acd_state=maybe(st.sampled_from(codec.ACD_STATES)),
                         agent_unavailable_code=maybe(xml_element_text),
                         queues=st.lists(queues, max_size=3).map(tuple))
profiles = st.builds(codec.Profile, user_id=maybe(xml_element_text),
                     first_name=maybe(xml_element_text), last_name=maybe(xml_element_text),
                     number=maybe(xml_element_text), extension=maybe(xml_element_text))
errors = st.builds(codec.ErrorInfo, summary=maybe(xml_element_text),
                   summary_english=maybe(xml_element_text),
                   error_code=maybe(st.integers(0, 99999)))
encodings = st.sampled_from(["UTF-8", "ISO-8859-1"])


@given(guests, encodings)
def test_hoteling_guest_round_trips(doc, encoding):
    assert codec.decode_hoteling_guest(codec.encode_hoteling_guest(doc, encoding=encoding)) == doc


@given(hosts, encodings)
def test_hoteling_host_round_trips(doc, encoding):
    assert codec.decode_hoteling_host(codec.encode_hoteling_host(doc, encoding=encoding)) == doc


@given(call_centers, encodings)
def test_call_center_round_trips(doc, encoding):
    assert codec.decode_call_center(codec.encode_call_center(doc, encoding=encoding)) == doc


@given(profiles, encodings)
def test_profile_round_trips(doc, encoding):
    assert codec.decode_profile(codec.encode_profile(doc, encoding=encoding)) == doc


@given(errors, encodings)
def test_error_info_round_trips(doc, encoding):
    assert codec.decode_error_info(codec.encode_error_info(doc, encoding=encoding)) == doc


@given(st.lists(xml_element_text.filter(lambda s: s == s.strip()), max_size=4).map(tuple))
def test_available_hosts_round_trip(ids):
    doc = codec.AvailableHotelingHosts(ids)
    assert codec.decode_available_hosts(codec.encode_available_hosts(doc)) == doc


@pytest.mark.parametrize("body", [
    '<?xml version="1.0" encoding="UTF-16"?><HotelingGuest '
    'xmlns="http://schema.broadsoft.com/xsi"/>'.encode("utf-16"),
    b'<?xml version="1.0" encoding="cp500"?><HotelingGuest/>',
    b"\x00\x00\x00<",
])
def test_encodings_a_dtd_could_hide_in_are_refused(body):
    with pytest.raises(ProtocolError):
        codec.decode_hoteling_guest(body)


def test_utf8_bom_is_accepted():
    body = b"\xef\xbb\xbf" + codec.encode_hoteling_guest(codec.HotelingGuest(active=True))
    assert codec.decode_hoteling_guest(body).active is True
