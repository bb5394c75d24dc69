"""Provenance facts on files built here: C2PA signed with a throwaway certificate, generator traces."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from archive.model import Flag, FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, Subject, word_count
from detectors.provenance import AiSignatureDetector, C2paDetector, MetadataTracesDetector

AI_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAMERA_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def jpeg(size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, (120, 30, 200))
    img.save(buf, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def throwaway_signer(tmp_path: Path) -> tuple[bytes, bytes, Path]:
    """A CA and a leaf certificate made here; returns (chain PEM, key PEM, CA file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Throwaway"),
            ]
        )

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def base(subject: str, issuer: x509.Name, pub: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
        )

    ku = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        base("Throwaway CA", name("Throwaway CA"), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **ku), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        base("Throwaway signer", ca.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return leaf.public_bytes(pem) + ca.public_bytes(pem), key_pem, ca_file


def signed_jpeg(tmp_path: Path, source_type: str) -> tuple[bytes, Path]:
    import c2pa

    chain, key, ca_file = throwaway_signer(tmp_path)
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, key, None))
    action = {"action": "c2pa.created", "digitalSourceType": source_type}
    manifest = {
        "claim_generator_info": [{"name": "wb-test", "version": "1"}],
        "title": "t",
        "format": "image/jpeg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }
    out = io.BytesIO()
    c2pa.Builder.from_json(manifest).sign(signer, "image/jpeg", io.BytesIO(jpeg()), out)
    return out.getvalue(), ca_file


def facts(flags: list[Flag]) -> dict[str, Flag]:
    return {str(f.details["fact"]): f for f in flags}


def assert_explained(flags: list[Flag]) -> None:
    for f in flags:
        assert f.explanation and word_count(f.explanation) <= MAX_EXPLANATION_WORDS, f


def test_c2pa_signed_in_test_reads_valid_untrusted_and_declares_ai(tmp_path: Path) -> None:
    data, _ca = signed_jpeg(tmp_path, AI_TYPE)
    flags = C2paDetector().detect(Subject(data))
    got = facts(flags)
    assert got["presence"].details["present"] is True
    assert got["signature"].details["state"] == "Valid"
    assert got["signature"].details["failure_codes"] == ["signingCredential.untrusted"]
    assert got["signature"].label == FlagLabel.INFORMATION
    assert got["source_type"].details["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert got["source_type"].label == FlagLabel.INDICATOR
    assert "c2pa.created" in got["source_type"].details["actions"]
    assert_explained(flags)


def test_c2pa_one_flipped_byte_reads_invalid(tmp_path: Path) -> None:
    data, _ca = signed_jpeg(tmp_path, CAMERA_TYPE)
    bad = bytearray(data)
    bad[-10] ^= 0xFF  # inside the image data, which the manifest's hash covers
    got = facts(C2paDetector().detect(Subject(bytes(bad))))
    assert got["signature"].details["state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in got["signature"].details["failure_codes"]
    assert got["signature"].label == FlagLabel.INDICATOR
    assert got["source_type"].label == FlagLabel.INFORMATION


def test_c2pa_trust_list_from_settings_makes_it_trusted(tmp_path: Path) -> None:
    data, ca_file = signed_jpeg(tmp_path, CAMERA_TYPE)
    subject = Subject(data, {"c2pa": {"trust_anchors": str(ca_file)}})
    got = facts(C2paDetector().detect(subject))
    assert got["signature"].details["state"] == "Trusted"
    assert got["signature"].details["failure_codes"] == []


def test_c2pa_absence_is_neutral_information() -> None:
    flags = C2paDetector().detect(Subject(jpeg()))
    assert len(flags) == 1
    assert flags[0].label == FlagLabel.INFORMATION
    assert flags[0].details == {"fact": "presence", "present": False}
    assert "says nothing" in flags[0].explanation
    assert flags[0].score is None


def png_with_text(chunks: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_generator_png_text_chunks_are_an_indicator() -> None:
    data = png_with_text({"parameters": "a cat\nSteps: 20, Sampler: Euler a, Seed: 1", "workflow": "{}"})
    (flag,) = AiSignatureDetector().detect(Subject(data))
    assert flag.label == FlagLabel.INDICATOR
    assert any("parameters, workflow" in t for t in flag.details["traces"])
    assert any("Steps/Sampler/Seed" in t for t in flag.details["traces"])
    assert_explained([flag])


def test_xmp_digital_source_type_and_creator_tool_are_found() -> None:
    xmp = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        f'Iptc4xmpExt:DigitalSourceType="{AI_TYPE}" xmp:CreatorTool="Midjourney v6"/></rdf:RDF></x:xmpmeta>'
    )
    data = png_with_text({"XML:com.adobe.xmp": xmp})
    (flag,) = AiSignatureDetector().detect(Subject(data))
    assert "IPTC DigitalSourceType trainedAlgorithmicMedia" in flag.details["traces"]
    assert any("CreatorTool names a generator" in t for t in flag.details["traces"])


def test_plain_image_has_no_generator_signature() -> None:
    (flag,) = AiSignatureDetector().detect(Subject(png_with_text({"Title": "holiday"})))
    assert flag.label == FlagLabel.NO_INDICATION
    assert "does not show" in flag.explanation


def exif(software: str | None = None, original: str | None = None, modified: str | None = None) -> Image.Exif:
    e = Image.Exif()
    e[0x010F] = "Canon"
    if software:
        e[0x0131] = software
    if modified:
        e[0x0132] = modified
    if original:
        e.get_ifd(0x8769)[0x9003] = original
    return e


def test_editing_software_is_a_trace() -> None:
    (flag,) = MetadataTracesDetector().detect(Subject(jpeg(exif=exif(software="Adobe Photoshop 25.0"))))
    assert flag.label == FlagLabel.INDICATOR
    assert any("Photoshop" in t for t in flag.details["edit_traces"])
    assert_explained([flag])


@pytest.mark.parametrize(
    ("original", "modified", "expected"),
    [
        ("2020:01:01 10:00:00", "2020:03:01 10:00:00", "after it was taken"),
        ("2020:03:01 10:00:00", "2020:01:01 10:00:00", "precedes the recorded capture"),
    ],
)
def test_contradictory_timestamps_are_traces(original: str, modified: str, expected: str) -> None:
    (flag,) = MetadataTracesDetector().detect(Subject(jpeg(exif=exif(original=original, modified=modified))))
    assert any(expected in t for t in flag.details["edit_traces"])


def test_same_day_timestamps_and_camera_only_exif_give_no_indication() -> None:
    e = exif(original="2020:01:01 10:00:00", modified="2020:01:01 10:00:05")
    (flag,) = MetadataTracesDetector().detect(Subject(jpeg(exif=e)))
    assert flag.label == FlagLabel.NO_INDICATION
    assert flag.details["edit_traces"] == []


def test_trailing_zip_after_the_image_end_is_reported() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hidden.txt", "x" * 100)
    data = jpeg() + buf.getvalue()
    (flag,) = MetadataTracesDetector().detect(Subject(data))
    assert flag.label == FlagLabel.INFORMATION
    (trace,) = flag.details["other_traces"]
    assert trace.startswith(f"{len(buf.getvalue())} bytes after the end") and "archive" in trace
