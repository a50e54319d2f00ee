"""Still-image metadata: ICC profile, EXIF (orientation applied, tag reset, size updated), PNG text."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, PngImagePlugin

from paragonsr2.imageio import open_image, write_image

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation=6):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make
    exif.get_ifd(0x8769)[0xA002] = 6  # PixelXDimension
    exif.get_ifd(0x8769)[0xA003] = 4
    return exif.tobytes()


@pytest.mark.parametrize(("src_ext", "dst_ext"), [(".jpg", ".jpg"), (".png", ".png"), (".jpg", ".webp"),
                                                  (".png", ".tif"), (".jpg", ".png")])
def test_icc_and_exif_are_kept_with_the_orientation_applied(tmp_path, src_ext, dst_ext):
    src = tmp_path / f"in{src_ext}"
    Image.fromarray(np.arange(72, dtype=np.uint8).reshape(4, 6, 3)).save(src, icc_profile=ICC, exif=_exif())
    image, info = open_image(src)
    assert image.shape[-2:] == (6, 4)  # orientation 6: shown rotated, read upright
    out = write_image(tmp_path / f"out{dst_ext}", torch.rand(1, 3, 12, 8), meta=info.meta)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == ICC
        exif = im.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"
        assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (8, 12)


def test_png_text_and_16_bit_png_metadata(tmp_path):
    src = tmp_path / "in.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("parameters", "a prompt")
    text.add_itxt("Comment", "naïve")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src, pnginfo=text, icc_profile=ICC, exif=_exif(1))
    _, info = open_image(src)
    assert dict(info.meta.text) == {"parameters": "a prompt", "Comment": "naïve"}
    for bits in (8, 16):
        out = write_image(tmp_path / f"out{bits}.png", torch.rand(1, 3, 8, 8), bits=bits, meta=info.meta)
        with Image.open(out) as im:
            im.load()
            assert im.text == {"parameters": "a prompt", "Comment": "naïve"}
            assert im.info["icc_profile"] == ICC and im.getexif()[0x010F] == "TestCam"
    image, info16 = open_image(tmp_path / "out16.png")  # the chunks we wrote leave a valid 16-bit PNG
    assert info16.bits == 16 and image.shape == (1, 3, 8, 8)
    assert (info16.meta.icc, info16.meta.text) == (info.meta.icc, info.meta.text)


def test_no_metadata_writes_none(tmp_path):
    _, info = open_image(_plain(tmp_path))
    out = write_image(tmp_path / "out.jpg", torch.rand(1, 3, 4, 4), meta=info.meta)
    with Image.open(out) as im:
        assert "icc_profile" not in im.info and len(im.getexif()) == 0


def _plain(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    return tmp_path / "plain.png"
