"""Benchmark concern uploads with 1, 5 and 10 MB attachments through gunicorn.

    .venv/bin/python bench/attachments.py [--backends sqlite,postgresql] [--rounds 3]

For each database: starts Speak Up under gunicorn with one worker and one thread (so
the worker's memory is that of one upload at a time), then sends new concerns each
carrying one file — plain text, and a JPEG of camera-like noise (which hardly
compresses) — of about 1, 5 and 10 MB. Prints the median time of the POST (upload,
spool, clean, seal, store, receipt page) and the worker's peak resident memory during
it (VmHWM, reset before each upload through /proc/PID/clear_refs), next to its
resident memory before.

With `--cleaning`: per file type (JPEG, PNG, PDF with photos, DOCX with photos, XLSX,
text, and the three bombs of issue 18), the time and memory of cleaning a 10 MB file
before issue 18 (the in-process cleaning of git 31aace2, loaded from git) and after it
(the cleaning process): wall seconds, the peak resident memory added to the calling
process (the web worker's share), and the cleaning process's own peak. Each figure
comes from a fresh Python process.

Figures only: this is not a test and asserts nothing about speed or size.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# As in bench/concerns.py: bench/ first on the path would shadow the `concerns` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from bench._common import Gunicorn, start_gunicorn  # noqa: E402
from bench.concerns import SECRET, new_database, prepare  # noqa: E402

MB = 1024 * 1024
SIZES = (1, 5, 10)
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def text_file(megabytes: int) -> bytes:
    line = b"Monday 9:40, ward 7: it was said again in front of everyone.\n"
    return (line * (megabytes * MB // len(line) + 1))[: megabytes * MB]


def jpeg_file(megabytes: int) -> bytes:
    """Noise as a JPEG of about `megabytes` (about 1.6 bytes a pixel at quality 98)."""
    side = int((megabytes * MB / 1.6) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=98)
    return out.getvalue()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _worker(server: Gunicorn) -> int:
    master = server.process.pid
    return int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])


def upload(base: str, name: str, content: bytes) -> float:
    """Send one concern with one file like a browser (form, then POST); seconds of the POST."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(base + "/concerns/new", timeout=60) as response:
        token = TOKEN.search(response.read().decode()).group(1)
    boundary = "----bench" + secrets.token_hex(8)
    body = io.BytesIO()
    for field, value in (("csrf_token", token), ("category", "1"),
                         ("what_happened", "The photos and notes are attached."),
                         ("what_wanted", "")):
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'
                   f"{value}\r\n".encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
               f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
    body.write(content + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        base + "/concerns/new", data=body.getvalue(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    started = time.perf_counter()
    with opener.open(request, timeout=300) as response:
        page = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200 or b"attachment-1" not in page:
        raise RuntimeError(f"upload refused: {response.status}")
    return elapsed


def bench_backend(backend: str, rounds: int, sizes: tuple[int, ...] = SIZES) -> None:
    print(f"\n=== {backend} ===")
    print(f"{'file':<16} {'bytes':>10} {'POST p50':>10} {'RSS before':>11} "
          f"{'peak RSS':>10} {'peak - before':>14}")
    with tempfile.TemporaryDirectory(prefix="speakup-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = new_database(backend, workdir)
        try:
            prepare(url, workdir)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
            env.update(SPEAKUP_DATABASE_URL=url, SPEAKUP_SECRET_KEY=SECRET,
                       SPEAKUP_INSTANCE_PATH=str(workdir / "instance"),
                       SPEAKUP_SECURE_COOKIES="false", SPEAKUP_CONCERNS_PER_MINUTE="1000000",
                       GUNICORN_CMD_ARGS="--workers 1 --threads 1 --timeout 300")
            server = start_gunicorn("speakup.app:create_app()", env, workdir)
            try:
                upload(server.url, "warm-up.txt", b"warm up\n")
                worker = _worker(server)
                for kind, make in (("text", text_file), ("JPEG", jpeg_file)):
                    for megabytes in sizes:
                        content = make(megabytes)
                        times, peaks, befores = [], [], []
                        for _ in range(rounds):
                            befores.append(_status(worker, "VmRSS"))
                            Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset VmHWM
                            times.append(upload(server.url, f"file.{kind.lower()}", content))
                            peaks.append(_status(worker, "VmHWM"))
                        before, peak = max(befores), max(peaks)
                        print(f"{kind + f' {megabytes} MB':<16} {len(content):>10} "
                              f"{1000 * statistics.median(times):>8.0f}ms "
                              f"{before / MB:>9.1f}MB {peak / MB:>8.1f}MB "
                              f"{(peak - before) / MB:>12.1f}MB")
            finally:
                server.stop()
        finally:
            drop()


# ------------------------------------------------------- cleaning: before and after

BEFORE_COMMIT = "31aace2"  # the last commit before issue 18's cleaning


def _noise_jpeg(side: int, quality: int = 95) -> bytes:
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def png_file(megabytes: int) -> bytes:
    side = int((megabytes * MB / 3) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def pdf_file(megabytes: int) -> bytes:
    """Pages each drawing a noisy 1 MB photo, and a line of text."""
    import pikepdf

    pdf = pikepdf.new()
    for number in range(megabytes * 4 // 3):
        jpeg = pikepdf.Stream(pdf, _noise_jpeg(800))
        jpeg.Type, jpeg.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        jpeg.Width = jpeg.Height = 800
        jpeg.BitsPerComponent, jpeg.ColorSpace = 8, pikepdf.Name.DeviceRGB
        jpeg.Filter = pikepdf.Name.DCTDecode
        page = pdf.add_blank_page(page_size=(600, 800))
        page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=jpeg))
        page.obj.Contents = pdf.make_stream(
            f"q 500 0 0 500 50 250 cm /Im0 Do Q BT ET % page {number}".encode())
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _office(parts: dict[str, bytes | str]) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def docx_file(megabytes: int) -> bytes:
    from tests.concerns.hostile_files import OXML, REL, W, _rels, _types

    media = {f"word/media/image{n}.jpeg": _noise_jpeg(800) for n in range(megabytes * 4 // 3)}
    text = "".join(f"<w:p><w:r><w:t>Paragraph {n}: it was said again.</w:t></w:r></w:p>"
                   for n in range(5000))
    return _office({
        "[Content_Types].xml": _types({"word/document.xml": OXML +
                                       "wordprocessingml.document.main+xml"}),
        "_rels/.rels": _rels((REL + "officeDocument", "word/document.xml", "")),
        "word/document.xml": f'<w:document xmlns:w="{W}"><w:body>{text}</w:body></w:document>',
        "word/_rels/document.xml.rels": _rels(*[(REL + "image", name[5:], "") for name in media]),
        **media,
    })


def xlsx_file(megabytes: int) -> bytes:
    from tests.concerns.hostile_files import OXML, REL, _rels, _types

    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rows, size, number = [], 0, 0
    while size < megabytes * MB * 2.3:  # random numbers compress about 2.3 times
        number += 1
        row = f'<row r="{number}">' + "".join(
            f'<c r="{col}{number}"><v>{int.from_bytes(os.urandom(5), "big")}</v></c>'
            for col in "ABCDEFGH") + "</row>"
        rows.append(row)
        size += len(row)
    return _office({
        "[Content_Types].xml": _types({
            "xl/workbook.xml": OXML + "spreadsheetml.sheet.main+xml",
            "xl/worksheets/sheet1.xml": OXML + "spreadsheetml.worksheet+xml"}),
        "_rels/.rels": _rels((REL + "officeDocument", "xl/workbook.xml", "")),
        "xl/workbook.xml": f'<workbook xmlns="{ns}" xmlns:r="http://schemas.openxmlformats.org/'
                           'officeDocument/2006/relationships"><sheets><sheet name="Data" '
                           'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": _rels((REL + "worksheet", "worksheets/sheet1.xml", "")),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{ns}"><sheetData>{"".join(rows)}'
                                    "</sheetData></worksheet>",
    })


def _cleaning_files() -> list[tuple[str, str, bytes]]:
    from tests.concerns.hostile_files import docx_bomb, pdf_bomb, png_bomb

    return [
        ("JPEG 10 MB", "photo.jpg", jpeg_file(10)), ("PNG 10 MB", "photo.png", png_file(10)),
        ("PDF 10 MB", "scan.pdf", pdf_file(10)), ("DOCX 10 MB", "notes.docx", docx_file(10)),
        ("XLSX 10 MB", "rota.xlsx", xlsx_file(10)), ("text 10 MB", "notes.txt", text_file(10)),
        ("PNG bomb", "bomb.png", png_bomb()), ("DOCX bomb", "bomb.docx", docx_bomb()),
        ("PDF bomb", "bomb.pdf", pdf_bomb()),
    ]


def _old_attachments():  # type: ignore[no-untyped-def]
    """The cleaning module as it was before issue 18, loaded from git."""
    import importlib.util
    import subprocess

    source = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:concerns/attachments.py"],
                            cwd=REPO, capture_output=True, check=True).stdout
    spec = importlib.util.spec_from_loader("old_attachments", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["old_attachments"] = module  # dataclasses look their module up
    exec(compile(source, "old_attachments.py", "exec"), module.__dict__)  # noqa: S102
    return module


def measure(version: str, path: str) -> None:
    """In a fresh process: clean one file, print seconds and peak memory as one line."""
    import json

    module = _old_attachments() if version == "before" else __import__(
        "concerns.attachments", fromlist=["clean"])
    data = Path(path).read_bytes()
    from concerns import spool

    source = spool.spooled()  # as the worker holds an upload: in the encrypted spool
    source.write(data)
    source.seek(0)
    del data
    own = Path("/proc/self/status")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    baseline = _status(os.getpid(), "VmRSS")
    started = time.perf_counter()
    outcome, child = "cleaned", 0.0
    kind = module._kind(source.read(16))
    source.seek(0)
    try:
        if version == "after" and kind != "text":
            from concerns import cleaning

            out = spool.spooled()
            try:
                result = cleaning.clean(kind, source, out, max_input=module.MAX_INPUT_BYTES)
                outcome, child = f"cleaned, {out.tell() / MB:.1f} MB", result.peak_kib / 1024
            except cleaning.CleaningFailedError:
                outcome = "refused"
            out.close()
        else:
            with module.clean(source, Path(path).name) as cleaned:
                outcome = f"cleaned, {cleaned.size / MB:.1f} MB"
    except module.AttachmentRefusedError:
        outcome = "refused"
    seconds = time.perf_counter() - started
    assert own.exists()
    peak = (_status(os.getpid(), "VmHWM") - baseline) / MB
    print(json.dumps({"seconds": seconds, "own_mb": peak, "child_mb": child,
                      "outcome": outcome}))


def _megabytes(value: float) -> str:
    """A peak in MB, or "-" when the cleaning process refused the file (no figure back)."""
    return f"{value:.0f}" if value else "-"


def bench_cleaning() -> None:
    import json
    import subprocess

    print("\n=== cleaning one file: before issue 18 (in the worker) and after (in the "
          "cleaning process) ===")
    print(f"{'file':<12} {'bytes':>10} | {'before s':>8} {'+worker MB':>10} {'outcome':<18}"
          f"| {'after s':>7} {'+worker MB':>10} {'cleaner MB':>10} {'outcome':<18}")
    with tempfile.TemporaryDirectory(prefix="speakup-bench-") as tmp:
        for label, name, content in _cleaning_files():
            path = Path(tmp) / name
            path.write_bytes(content)
            row = []
            for version in ("before", "after"):
                done = subprocess.run(
                    [sys.executable, __file__, "--measure", version, str(path)],
                    capture_output=True, text=True, check=False, timeout=600)
                try:
                    row.append(json.loads(done.stdout.strip().splitlines()[-1]))
                except (IndexError, json.JSONDecodeError):
                    row.append({"seconds": float("nan"), "own_mb": float("nan"),
                                "child_mb": 0.0, "outcome": f"died ({done.returncode})"})
            before, after = row
            print(f"{label:<12} {len(content):>10} | {before['seconds']:>8.2f} "
                  f"{before['own_mb']:>10.0f} {before['outcome']:<18}| "
                  f"{after['seconds']:>7.2f} {after['own_mb']:>10.0f} "
                  f"{_megabytes(after['child_mb']):>10} {after['outcome']:<18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cleaning", action="store_true",
                        help="only the before/after table of cleaning one file per type")
    parser.add_argument("--measure", nargs=2, metavar=("VERSION", "PATH"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true",
                        help="one 1 MB upload per kind, to check the bench runs")
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    if args.cleaning:
        bench_cleaning()
        return
    print(f"Speak Up attachments benchmark: {os.cpu_count()} CPUs, gunicorn 1 worker x 1 "
          f"thread, {args.rounds} uploads per row (time: median; memory: the largest peak)")
    for backend in args.backends.split(","):
        if args.smoke:
            bench_backend(backend.strip(), 1, sizes=(1,))
        else:
            bench_backend(backend.strip(), args.rounds)


if __name__ == "__main__":
    main()
