"""OCR throughput: parcelflow versus plain ``tesseract``, on the same page images.

Arm A ("parcelflow"): ``read_document(page_bytes, ocr="always")`` in a process pool of
``--workers`` processes, as the engine runs it (pool warmed up before timing).
Arm B ("tesseract"): ``--workers`` single-threaded ``tesseract <file> stdout`` processes
run directly on the same files (``OMP_THREAD_LIMIT=1``: the fastest plain setup here).

Pages: the image-only scanned PDF rendered with pypdfium2 at 300 dpi, every frame of the
deed TIFFs (the 142-Mpx spread is left out: parcelflow halves it, so the work would
differ), then CUAD text-PDF pages rendered at 300 dpi. Arms alternate (A B B A ...) so
drift in machine load hits both; wall throughput is summed over all rounds. CPU seconds
per page are printed too: unlike wall time they do not move when other work shares the
machine.

Usage::

    python bench/ocr_speed.py [--pages 12] [--workers 2] [--rounds 4] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from PIL import Image

from parcelflow.documents.pdf import PdfFile
from parcelflow.documents.reader import read_document

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SCANNED_PDF = "scans/deeds/mn_stearns-SSLMKonica23091509280.pdf"
SKIPPED_TIFFS = {"doc_000000_book_007_page_321.tif"}  # reduced by parcelflow: not the same work
RENDER_SAMPLE = 20  # pages rendered for the render-time figure


@dataclass(frozen=True)
class ArmResult:
    """One timed run of one arm."""

    seconds: float
    cpu_seconds: float  # OCR processes plus, for parcelflow, its Python workers
    texts: list[str]


def main() -> int:
    args = parse_args()
    if shutil.which("tesseract") is None:
        print("tesseract not found: apt-get install tesseract-ocr", file=sys.stderr)
        return 2
    data_dir = args.data.resolve()
    if not data_dir.is_dir():
        print(f"shared data not found at {data_dir}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ocr_speed_") as scratch:
        pages, render_times = prepare_pages(data_dir, Path(scratch), args.pages)
        report_render(render_times)
        results = run_arms(pages, args.workers, args.rounds)
    report(results, len(pages), args.workers)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12, help="page images per arm and round")
    parser.add_argument("--workers", type=int, default=2, help="OCR processes per arm")
    parser.add_argument("--rounds", type=int, default=4, help="timed runs of each arm")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared/data folder")
    return parser.parse_args()


def prepare_pages(data_dir: Path, scratch: Path, count: int) -> tuple[list[Path], list[float]]:
    """Write ``count`` page images to ``scratch``; also time pypdfium2 page renders."""
    pages = [
        save_page(image, dpi, scratch / f"page{number:03d}")
        for number, (image, dpi) in enumerate(islice(page_images(data_dir), count))
    ]
    return pages, render_times(pdf_paths(data_dir), RENDER_SAMPLE)


def pdf_paths(data_dir: Path) -> list[Path]:
    """The scanned PDF first, then the CUAD text PDFs."""
    return [data_dir / SCANNED_PDF, *sorted((data_dir / "leases/cuad_subset/pdf").iterdir())]


def page_images(data_dir: Path) -> Iterator[tuple[Image.Image, int]]:
    paths = pdf_paths(data_dir)
    yield from rendered_pdf_pages(paths[:1])
    yield from tiff_frames(data_dir / "scans" / "deeds")
    yield from rendered_pdf_pages(paths[1:])


def rendered_pdf_pages(paths: list[Path]) -> Iterator[tuple[Image.Image, int]]:
    for path in paths:
        with PdfFile(path.read_bytes()) as pdf:
            for index in range(len(pdf)):
                page = pdf.render(index)
                yield page.image, page.dpi


def render_times(paths: list[Path], sample: int) -> list[float]:
    """Seconds per 300-dpi gray render, over the first ``sample`` pages of ``paths``."""
    times: list[float] = []
    for path in paths:
        with PdfFile(path.read_bytes()) as pdf:
            for index in range(min(len(pdf), sample - len(times))):
                started = time.perf_counter()
                pdf.render(index)
                times.append(time.perf_counter() - started)
        if len(times) >= sample:
            break
    return times


def tiff_frames(folder: Path) -> Iterator[tuple[Image.Image, int]]:
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() == ".pdf" or path.name in SKIPPED_TIFFS:
            continue
        with Image.open(path) as image:
            for index in range(getattr(image, "n_frames", 1)):
                image.seek(index)
                dpi = image.info.get("dpi", (300, 300))[0]
                yield image.copy(), round(dpi)


def save_page(image: Image.Image, dpi: int, stem: Path) -> Path:
    # Bilevel scans stay G4 TIFF (as scanned); rendered gray pages go to PNG.
    if image.mode == "1":
        path = stem.with_suffix(".tif")
        image.save(path, compression="group4", dpi=(dpi, dpi))
    else:
        path = stem.with_suffix(".png")
        image.save(path, dpi=(dpi, dpi))
    return path


def run_arms(pages: list[Path], workers: int, rounds: int) -> dict[str, list[ArmResult]]:
    """Run both arms ``rounds`` times each, in A B B A order."""
    results: dict[str, list[ArmResult]] = {"parcelflow": [], "tesseract": []}
    with ProcessPoolExecutor(workers) as pool, ThreadPoolExecutor(workers) as threads:
        list(pool.map(_warm_up, range(workers)))  # imports done before the clock starts
        for round_number in range(rounds):
            first_ours = round_number % 4 in (0, 3)
            for name in ("parcelflow", "tesseract") if first_ours else ("tesseract", "parcelflow"):
                run = (
                    run_parcelflow(pool, pages)
                    if name == "parcelflow"
                    else run_plain(threads, pages)
                )
                results[name].append(run)
                print(f"  round {round_number + 1} {name:<10} {run.seconds:6.1f} s")
    return results


def run_parcelflow(pool: Executor, pages: list[Path]) -> ArmResult:
    started = time.perf_counter()
    outcomes = list(pool.map(parcelflow_ocr, pages))
    seconds = time.perf_counter() - started
    return ArmResult(seconds, sum(cpu for _, cpu in outcomes), [text for text, _ in outcomes])


def run_plain(threads: Executor, pages: list[Path]) -> ArmResult:
    # The tesseract processes are this process's children: their CPU shows up here.
    cpu_before = children_cpu()
    started = time.perf_counter()
    texts = list(threads.map(plain_tesseract, pages))
    seconds = time.perf_counter() - started
    return ArmResult(seconds, children_cpu() - cpu_before, texts)


def parcelflow_ocr(path: Path) -> tuple[str, float]:
    """In a pool worker: read one page, and the CPU it cost (worker plus tesseract)."""
    before = own_cpu() + children_cpu()
    text = read_document(path.read_bytes(), ocr="always").text
    return text, own_cpu() + children_cpu() - before


def plain_tesseract(path: Path) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = ["tesseract", str(path), "stdout", "-l", "eng"]
    result = subprocess.run(command, capture_output=True, env=env, check=True)
    return result.stdout.decode("utf-8", errors="replace").rstrip("\f \n")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _warm_up(_: int) -> None:
    import parcelflow.documents.reader  # noqa: F401  (already imported under fork)


def report_render(render_times: list[float]) -> None:
    if render_times:
        mean_ms = 1000 * sum(render_times) / len(render_times)
        print(f"pypdfium2 render, 300 dpi gray: {mean_ms:.0f} ms/page ({len(render_times)} pages)")


def report(results: dict[str, list[ArmResult]], pages: int, workers: int) -> None:
    ours, plain = results["parcelflow"], results["tesseract"]
    ours_rate, plain_rate = rate(ours), rate(plain)
    ours_cpu, plain_cpu = cpu_per_page(ours), cpu_per_page(plain)
    same = sum(a == b for a, b in zip(ours[0].texts, plain[0].texts, strict=True))
    print(f"{pages} pages x {len(ours)} rounds per arm, {workers} processes per arm")
    print(f"parcelflow read_document(ocr='always'): {ours_rate:.2f} pages/s")
    print(f"plain tesseract, OMP_THREAD_LIMIT=1:     {plain_rate:.2f} pages/s")
    print(f"ratio parcelflow / tesseract (wall):     {ours_rate / plain_rate:.3f} (target >= 0.9)")
    print(f"CPU per page: parcelflow {ours_cpu:.2f} s, tesseract {plain_cpu:.2f} s")
    print(f"ratio tesseract / parcelflow (CPU):      {plain_cpu / ours_cpu:.3f}")
    print(f"identical text on {same}/{pages} pages")
    print(f"load average now: {os.getloadavg()[0]:.2f} (other work on the machine skews wall time)")


def rate(runs: list[ArmResult]) -> float:
    """Pages per second over all rounds (A B B A ordering cancels linear drift)."""
    return sum(len(run.texts) for run in runs) / sum(run.seconds for run in runs)


def cpu_per_page(runs: list[ArmResult]) -> float:
    return sum(run.cpu_seconds for run in runs) / sum(len(run.texts) for run in runs)


if __name__ == "__main__":
    sys.exit(main())
