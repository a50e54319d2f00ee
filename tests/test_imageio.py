"""imageio: modes kept (gray, gray+alpha, 16 bits), size limits from the header, JPEG alpha warning."""
import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from paragonsr2.errors import ParagonError
from paragonsr2.imageio import ImageTooLargeError, _png16_bytes, open_image, probe_image, read_image, write_image


def _u16(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 65535).astype(np.uint16)


def _header_only_png(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_gray_alpha_stays_gray_alpha(tmp_path):
    arr = (np.random.default_rng(0).random((9, 7, 2)) * 255).astype(np.uint8)
    Image.fromarray(arr, "LA").save(tmp_path / "la.png")
    image, info = open_image(tmp_path / "la.png")
    assert image.shape == (1, 4, 9, 7) and info.gray and info.alpha and info.bits == 8
    assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 0], image[:, 2])
    write_image(tmp_path / "out.png", image, gray=True)
    back = Image.open(tmp_path / "out.png")
    assert back.mode == "LA" and np.array_equal(np.asarray(back), arr)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_gray_roundtrip_is_exact(tmp_path, suffix):
    arr = _u16((11, 13))
    Image.fromarray(arr).save(tmp_path / f"g{suffix}")
    image, info = open_image(tmp_path / f"g{suffix}")
    assert info.bits == 16 and info.gray and image.shape == (1, 1, 11, 13)
    write_image(tmp_path / f"out{suffix}", image, bits=16, gray=True)
    back = Image.open(tmp_path / f"out{suffix}")
    assert back.mode.startswith("I;16") and np.array_equal(np.asarray(back), arr)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_color_png_roundtrip_is_exact(tmp_path, channels):
    pytest.importorskip("torchvision")
    arr = _u16((6, 5, channels), seed=channels)
    (tmp_path / "c.png").write_bytes(_png16_bytes(arr))
    # Pillow reads our encoder's file (8 bits: the high bytes), so the file is a valid PNG
    pil_mode = {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "c.png").convert(pil_mode)), (arr >> 8).astype(np.uint8))
    image, info = open_image(tmp_path / "c.png")
    assert info.bits == 16 and image.shape[1] == (4 if channels == 2 else channels) and info.gray == (channels == 2)
    write_image(tmp_path / "out.png", image, bits=16, gray=info.gray)
    assert (tmp_path / "out.png").read_bytes()[24:26] == bytes([16, {2: 4, 3: 2, 4: 6}[channels]])  # depth, type
    image2, info2 = open_image(tmp_path / "out.png")
    assert info2.bits == 16 and torch.equal(image, image2)
    expected = np.concatenate([arr[..., :1].repeat(3, axis=2), arr[..., 1:]], axis=2) if channels == 2 else arr
    assert np.array_equal((image[0].permute(1, 2, 0).numpy() * 65535).round(), expected)  # all 16 bits kept


def test_size_limit_from_the_header(tmp_path):
    bomb = _header_only_png(tmp_path / "bomb.png", 12000, 12000)  # 144 MP claimed, ~100 bytes on disk
    with pytest.raises(ImageTooLargeError, match=r"bomb.png: 12000x12000 = 144.0 MP .* 100 MP.*--max-pixels"):
        probe_image(bomb, max_pixels=100_000_000)
    huge = _header_only_png(tmp_path / "huge.png", 20000, 12000)  # over Pillow's own (process-wide) limit too
    with pytest.raises(ImageTooLargeError, match="huge.png: 240.0 MP is over Pillow's limit"):
        read_image(huge, max_pixels=None)  # no limit of ours: Pillow's still holds (we leave it alone)
    small = tmp_path / "small.png"
    Image.new("RGB", (10, 10)).save(small)
    assert probe_image(small, max_pixels=100).width == 10
    with pytest.raises(ImageTooLargeError, match="10x10"):
        read_image(small, max_pixels=99)


def test_jpeg_drops_alpha_with_a_warning(tmp_path, caplog):
    image = torch.rand(1, 4, 8, 8)
    with caplog.at_level(logging.WARNING, logger="paragonsr2"):
        write_image(tmp_path / "a.jpg", image)
    assert "JPEG has no alpha" in caplog.text and Image.open(tmp_path / "a.jpg").mode == "RGB"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="paragonsr2"):
        write_image(tmp_path / "b.jpg", image[:, :3])
    assert caplog.text == ""


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ParagonError, match="x.png: cannot read"):
        read_image(tmp_path / "x.png")
    with pytest.raises(ParagonError, match="none.png: no such file"):
        read_image(tmp_path / "none.png")
    with pytest.raises(ParagonError, match="unknown output format"):
        write_image(tmp_path / "a.xyz", torch.rand(1, 3, 4, 4))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_upright_image(tmp_path, orientation):
    from PIL import ImageOps

    arr = (np.random.default_rng(orientation).random((5, 7, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(tmp_path / "o.png", exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    image = read_image(tmp_path / "o.png")
    assert np.array_equal((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), upright)


def test_float_tiff_is_gray_in_unit_range(tmp_path):
    arr = np.random.default_rng(0).random((6, 5)).astype(np.float32) * 1.2 - 0.1
    Image.fromarray(arr, "F").save(tmp_path / "f.tif")
    image, info = open_image(tmp_path / "f.tif")
    assert info.gray and info.bits == 16 and image.shape == (1, 1, 6, 5)
    assert torch.equal(image[0, 0], torch.from_numpy(np.clip(arr, 0, 1)))


def test_jpeg_quality_read_from_the_header(tmp_path):
    arr = (np.random.default_rng(0).random((16, 24, 3)) * 255).astype(np.uint8)
    for quality in (1, 10, 49, 50, 60, 89, 90, 95, 100):
        Image.fromarray(arr).save(tmp_path / f"q{quality}.jpg", quality=quality)
        assert probe_image(tmp_path / f"q{quality}.jpg").jpeg_quality == quality
    Image.fromarray(arr[..., 0]).save(tmp_path / "gray.jpg", quality=70)
    assert probe_image(tmp_path / "gray.jpg").jpeg_quality == 70
    Image.fromarray(arr).save(tmp_path / "lossless.png")
    assert probe_image(tmp_path / "lossless.png").jpeg_quality is None
