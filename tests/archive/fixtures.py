"""Files made in the tests: photos with EXIF time and GPS, zips with hostile members."""

from __future__ import annotations

import io
import zipfile
from fractions import Fraction
from pathlib import Path

from PIL import ExifTags, Image


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 100)
    return Fraction(degrees), Fraction(minutes), Fraction(seconds, 100)


def jpeg_with_exif(
    path: Path,
    when: str = "2022:03:01 10:15:30",
    lat: float = 49.9935,
    lon: float = 36.2304,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
) -> Path:
    img = Image.new("RGB", size, (seed * 40 % 256, 120, 200))
    for x in range(0, size[0], 7):
        img.putpixel((x, (x * 3 + seed) % size[1]), (255, 255, 0))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "T-1"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = when
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
    img.save(path, "JPEG", exif=exif, quality=90)
    return path


def png_bytes(size: tuple[int, int] = (16, 16), color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def zip_with(path: Path, members: list[tuple[str, bytes]], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2022, 3, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path
