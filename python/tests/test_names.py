"""Byte names as index names: one to one, within the index's limits."""

import pytest

from lease_client.names import NAME_BYTES_MAX, decode_name, encode_name

UUID_NAME = b"cinder-0b9a1c4e-5d2f-4a8e-9c71-3f6e2d1b7a90-delete_volume"


@pytest.mark.parametrize(
    "name,index_name",
    [
        (UUID_NAME, UUID_NAME.decode()),
        ("häßlich".encode(), "häßlich"),
        (b"x" * NAME_BYTES_MAX, "x" * NAME_BYTES_MAX),
        (b"", "~b64:"),
        (b"\xff\xfe", "~b64:__4="),
        (b"a\0b", "~b64:YQBi"),
        (b"~home", "~b64:fmhvbWU="),
    ],
)
def test_names_encode_as_documented(name: bytes, index_name: str) -> None:
    assert encode_name(name) == index_name
    assert decode_name(index_name) == name


def test_every_index_name_is_within_the_limits() -> None:
    names = [b"\xff" * n for n in (1, 761, 762, 763, 5000)] + [b"y" * (NAME_BYTES_MAX + 1)]
    for name in names:
        encoded = encode_name(name)
        assert 1 <= len(encoded.encode("utf-8")) <= NAME_BYTES_MAX
        assert "\0" not in encoded
    assert encode_name(b"\xff" * 762).startswith("~b64:")
    assert encode_name(b"\xff" * 763).startswith("~sha256:")


def test_distinct_names_stay_distinct() -> None:
    names = [b"a", b"~b64:YQ==", b"\xff" * 763, b"\xff" * 764, b"y" * 1025, b"y" * 1026, b""]
    encoded = [encode_name(name) for name in names]
    assert len(set(encoded)) == len(names)
    assert decode_name(encode_name(b"\xff" * 763)) is None


def test_names_are_bytes() -> None:
    with pytest.raises(TypeError):
        encode_name("text")  # type: ignore[arg-type]
