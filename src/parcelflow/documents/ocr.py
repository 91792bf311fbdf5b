"""Page images and Tesseract OCR: one single-threaded ``tesseract`` process per page.

Images (TIFF incl. multi-page and 1-bit CCITT G4, PNG, JPEG) are opened with Pillow.
Every frame's size is read from its header and checked against a pixel limit *before*
its pixels are decoded (decompression-bomb guard), and very large pages are reduced to a
size Tesseract reads well.

Why a ``tesseract`` subprocess with ``OMP_THREAD_LIMIT=1``: Debian's Tesseract is built
with OpenMP and by default spreads one page over every core; measured on the project's
2-core runner that is ~5x slower per page than one thread (the threads mostly spin), and
the engine already runs one OCR process per core through its process pool.

Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``) is process-wide state; this module
leaves it alone, silences its *warning* only around its own calls (our limit has already
been applied) and turns its *error* into ``PermanentError(code="decompression_bomb")``.
"""

from __future__ import annotations

import io
import math
import os
import struct
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from parcelflow.documents.sniff import DocType, sniff
from parcelflow.errors import ConfigError, PermanentError, TransientError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_TYPES",
    "OCR_MAX_PIXELS",
    "OCR_TIMEOUT_S",
    "TESSERACT",
    "PageImage",
    "check_pixels",
    "encode_for_tesseract",
    "image_pages",
    "ocr_image",
    "reduction_factor",
    "tesseract_command",
    "tesseract_env",
]

DEFAULT_MAX_PIXELS = 160_000_000
"""Largest page (width x height) we agree to decode.

Real land records are big: ``scans/deeds/doc_000000_book_007_page_321.tif`` is a record
book spread of 13,728 x 10,381 = 142.5 Mpx (G4, 300 dpi), and an Arch E sheet (36x48 in)
at 300 dpi is 155.5 Mpx. Pillow's default would warn at 89.5 Mpx and refuse at 179 Mpx;
160 Mpx admits those pages yet stays below Pillow's refusal, so this limit (with our code
and message) is the one that fires. Cost: Pillow unpacks 1-bit and gray pages to 1 byte
per pixel, so the largest accepted scan needs ~160 MB per worker while it is reduced.
"""

OCR_MAX_PIXELS = 40_000_000
"""Pages above this are reduced (by an integer box filter) before OCR.

Tesseract reads best with capitals ~20-40 px tall. Letter/legal scans at 300 dpi are
8-11 Mpx and a 17x22 in sheet is 34 Mpx, so ordinary pages pass untouched; the 142-Mpx
spread above is halved to 35.6 Mpx, where its body type still has ~35-px capitals. OCR
time grows with pixel count, so nothing is gained by feeding more.
"""

OCR_TIMEOUT_S = 180.0
"""Per page. A dense 300-dpi page takes 1-10 s single-threaded here; 180 s means stuck."""

TESSERACT = "tesseract"
"""The Tesseract executable, looked up on ``PATH``."""

IMAGE_TYPES: Mapping[DocType, str] = {
    DocType.TIFF: "TIFF",
    DocType.PNG: "PNG",
    DocType.JPEG: "JPEG",
}
"""Image document types and the only Pillow plugin allowed to open each."""

# A resolution tag outside this range is a placeholder (72/96 from screen tools, 1 from
# broken writers) rather than a scan resolution; Tesseract then estimates from text size.
_MIN_TRUSTED_DPI = 70
_MAX_TRUSTED_DPI = 2400

# Pillow has no single root for "this file is malformed": decoders raise OSError (incl.
# UnidentifiedImageError), header parsers SyntaxError/ValueError/struct.error, and
# frame tables EOFError/IndexError/KeyError.
_PILLOW_DATA_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    IndexError,
    KeyError,
)

_MISSING_TESSERACT = (
    "tesseract executable {binary!r} not found; install it with "
    "`apt-get install tesseract-ocr` (Debian/Ubuntu) or put it on PATH"
)


@dataclass(frozen=True, slots=True)
class PageImage:
    """One page of an image document, ready for OCR.

    Attributes:
        image: mode ``1`` or ``L``, at most the OCR pixel target.
        dpi: resolution of ``image`` (after any reduction), or None when unknown.
        source_size: (width, height) of the frame as stored in the file.
    """

    image: Image.Image
    dpi: int | None
    source_size: tuple[int, int]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for the routing record."""
        return {
            "source_width": self.source_size[0],
            "source_height": self.source_size[1],
            "width": self.image.width,
            "height": self.image.height,
            "dpi": self.dpi,
        }


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse a page whose declared size exceeds ``max_pixels``.

    Raises:
        PermanentError: ``decompression_bomb``.
    """
    pixels = width * height
    if pixels > max_pixels:
        raise PermanentError(
            f"image page {width}x{height} = {pixels:,} pixels exceeds the limit of "
            f"{max_pixels:,} (possible decompression bomb)",
            code="decompression_bomb",
        )


def reduction_factor(width: int, height: int, target_pixels: int = OCR_MAX_PIXELS) -> int:
    """The smallest integer factor that brings a page to at most ``target_pixels``."""
    pixels = width * height
    if pixels <= target_pixels:
        return 1
    factor = math.ceil(math.sqrt(pixels / target_pixels))
    # Image.reduce rounds each side up, which can push the product back over the target.
    while math.ceil(width / factor) * math.ceil(height / factor) > target_pixels:
        factor += 1
    return factor


def image_pages(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    target_pixels: int = OCR_MAX_PIXELS,
) -> Iterator[PageImage]:
    """Yield the pages of a TIFF, PNG or JPEG, one decoded frame at a time.

    Only a TIFF can have several pages; PNG animation frames and the previews an MPO
    JPEG carries are not pages, so only their first image is read.

    Raises:
        PermanentError: ``decompression_bomb`` (checked per frame before decoding),
            ``corrupt`` (truncated or malformed), ``unsupported_type`` (not an image).
    """
    kind = sniff(data)
    if kind not in IMAGE_TYPES:
        raise PermanentError(f"not a TIFF, PNG or JPEG image ({kind})", code="unsupported_type")
    image = _open(data, IMAGE_TYPES[kind])
    try:
        for _ in _frames(image, kind):
            yield _decode_frame(image, kind, max_pixels, target_pixels)
    finally:
        image.close()


def ocr_image(
    image: Image.Image,
    *,
    dpi: int | None,
    lang: str = "eng",
    timeout: float = OCR_TIMEOUT_S,
    binary: str = TESSERACT,
) -> str:
    """Recognise the text of one page image with a single-threaded ``tesseract``.

    Args:
        image: the page (any mode; sent through a pipe, no temporary file).
        dpi: its resolution, or None to let Tesseract estimate it from the text.
        lang: Tesseract language(s), e.g. ``"eng"`` or ``"eng+spa"``.
        timeout: seconds before the process is killed.
        binary: the executable to run.

    Returns:
        The recognised text, without Tesseract's trailing form feed.

    Raises:
        ConfigError: tesseract or its language data is not installed.
        TransientError: timeout, or the process was killed by a signal (e.g. OOM).
        PermanentError: ``ocr_failed`` when Tesseract rejects the image.
    """
    command = tesseract_command(binary, lang=lang, dpi=dpi)
    stdout = _run_tesseract(command, encode_for_tesseract(image), timeout=timeout, binary=binary)
    return stdout.decode("utf-8", errors="replace").rstrip("\f \n")


def tesseract_command(binary: str, *, lang: str, dpi: int | None) -> list[str]:
    """The argument list: image on stdin, text on stdout."""
    command = [binary, "stdin", "stdout", "-l", lang]
    if dpi is not None:
        # Authoritative even for PDF renders; without it Tesseract guesses from glyph sizes.
        command += ["--dpi", str(dpi)]
    return command


def tesseract_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child environment: the parent's, with OpenMP pinned to one thread."""
    env = dict(os.environ if base is None else base)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def encode_for_tesseract(image: Image.Image) -> bytes:
    """Encode a page losslessly and small: G4 TIFF for bilevel, fast PNG otherwise.

    Size matters more than encoding speed here: Tesseract reads ``stdin`` through a C++
    stream about one character at a time, measured at ~25 ns/byte, so an 8-MB PGM of a
    gray Letter page costs it 0.2 s of CPU (~30% of that page's OCR) while the same page
    as a 0.4-MB PNG (42 ms to encode) costs nothing measurable.
    """
    buffer = io.BytesIO()
    if image.mode == "1":
        image.save(buffer, format="TIFF", compression="group4")
    else:
        gray = image if image.mode == "L" else image.convert("L")
        gray.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@contextmanager
def _pillow_guard() -> Iterator[None]:
    """Translate Pillow's failures; silence its bomb *warning* (our limit already ran).

    ``warnings.catch_warnings`` swaps process-wide filters, so it is held only around
    Pillow calls, never across a ``yield`` to the caller; OCR runs in pool processes.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError as exc:
            raise PermanentError(
                f"image refused by Pillow's pixel ceiling: {exc}", code="decompression_bomb"
            ) from exc
        except _PILLOW_DATA_ERRORS as exc:
            raise PermanentError(f"corrupt or truncated image: {exc}", code="corrupt") from exc


def _open(data: bytes, pillow_format: str) -> Image.Image:
    with _pillow_guard():
        # Only the plugin for the sniffed type may parse the bytes.
        return Image.open(io.BytesIO(data), formats=[pillow_format])


def _frames(image: Image.Image, kind: DocType) -> Iterator[None]:
    """Position ``image`` on each page in turn (headers only; nothing is decoded)."""
    yield
    if kind is not DocType.TIFF:
        return
    index = 1
    while _seek(image, index):
        yield
        index += 1


def _seek(image: Image.Image, index: int) -> bool:
    with _pillow_guard():
        try:
            image.seek(index)
        except EOFError:
            return False  # past the last frame
    return True


def _decode_frame(
    image: Image.Image, kind: DocType, max_pixels: int, target_pixels: int
) -> PageImage:
    source_size = image.size
    check_pixels(*source_size, max_pixels)  # header size only: nothing decoded yet
    dpi = _trusted_dpi(image.info)
    with _pillow_guard():
        if kind is DocType.JPEG:
            image = _decode_jpeg(image, target_pixels)
        page = _ocr_ready(image, target_pixels)
    # max() of the sides: EXIF rotation may have swapped width and height.
    scale = max(page.size) / max(source_size)
    return PageImage(page, _scaled_dpi(dpi, scale), source_size)


def _decode_jpeg(image: Image.Image, target_pixels: int) -> Image.Image:
    # JPEG can decode at 1/2, 1/4 or 1/8 scale (DCT scaling): a huge photo never needs
    # its full-size pixels in memory.
    factor = reduction_factor(*image.size, target_pixels)
    if factor > 1:
        image.draft("L", (image.width // factor, image.height // factor))
    # Phone photos are stored sideways with an EXIF orientation tag.
    return ImageOps.exif_transpose(image)


def _ocr_ready(image: Image.Image, target_pixels: int) -> Image.Image:
    """A mode ``1``/``L`` copy of ``image``, reduced when above ``target_pixels``."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = _on_white(image)
    factor = reduction_factor(image.width, image.height, target_pixels)
    if image.mode == "1" and factor == 1:
        return image.copy()  # keep G4 scans bilevel: cheapest to encode and to OCR
    gray = image.convert("L")
    # Box-filtered gray keeps thin strokes that nearest-neighbour 1-bit scaling drops.
    return gray.reduce(factor) if factor > 1 else gray


def _on_white(image: Image.Image) -> Image.Image:
    # Transparent pixels would otherwise turn black when the alpha band is dropped.
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba)


def _trusted_dpi(info: Mapping[Any, Any]) -> int | None:
    value = info.get("dpi")
    try:
        dpi = round(float(value[0])) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if dpi is None or not _MIN_TRUSTED_DPI <= dpi <= _MAX_TRUSTED_DPI:
        return None
    return dpi


def _scaled_dpi(dpi: int | None, scale: float) -> int | None:
    return None if dpi is None else max(1, round(dpi * scale))


def _run_tesseract(command: list[str], stdin: bytes, *, timeout: float, binary: str) -> bytes:
    try:
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=tesseract_env(),
            check=False,
        )
    except FileNotFoundError as exc:
        raise ConfigError(
            _MISSING_TESSERACT.format(binary=binary), code="tesseract_missing"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        # subprocess.run has already killed and reaped the child.
        raise TransientError(
            f"tesseract timed out after {timeout:g} s", code="ocr_timeout"
        ) from exc
    if result.returncode != 0:
        raise _tesseract_failure(result.returncode, result.stderr, command)
    return result.stdout


def _tesseract_failure(returncode: int, stderr: bytes, command: list[str]) -> Exception:
    message = stderr.decode("utf-8", errors="replace").strip()
    last_line = message.splitlines()[-1] if message else f"exit status {returncode}"
    if returncode < 0:
        return TransientError(f"tesseract killed by signal {-returncode}", code="ocr_killed")
    if "Failed loading language" in message or "Error opening data file" in message:
        lang = command[command.index("-l") + 1]
        return ConfigError(
            f"tesseract language data {lang!r} is not installed; install it with "
            f"`apt-get install tesseract-ocr-{lang.split('+')[0]}`",
            code="tesseract_language",
        )
    return PermanentError(f"tesseract failed: {last_line}", code="ocr_failed")
