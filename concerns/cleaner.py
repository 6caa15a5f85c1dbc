"""The cleaning process: `python -m concerns.cleaner KIND MAX_INPUT_BYTES`.

Untrusted files are opened here, never in the web worker (concerns/cleaning.py starts
one of these per file). Before it reads a byte of the file this process limits itself:

- address space (`RLIMIT_AS`) and CPU seconds (`RLIMIT_CPU`): a bomb that slips past
  the ceilings below ends this process, not the worker;
- file size 0 (`RLIMIT_FSIZE`): it cannot write any file, so the reporter's file never
  reaches the disk in plain text from here (the promise of concerns/spool.py);
- no new processes (`RLIMIT_NPROC` 0, which the kernel does not apply to root: run
  the service as an ordinary user) and no descriptors beyond a few (`RLIMIT_NOFILE`);
- `socket.socket` replaced by a function that refuses: nothing here uses the network.
  This stops Python code only; code that took over the process natively could still
  make a socket. A network namespace or seccomp filter would stop that too, and needs
  privileges this service does not have: where it runs under systemd,
  `RestrictAddressFamilies=AF_UNIX` on the unit does it for the whole service.

The file comes in on stdin and the cleaned copy goes out on stdout, both pipes: a
4-byte length, a JSON header (the content type, extension and what was done, or why it
was refused), then the cleaned bytes. The parent also kills it after a wall-clock
timeout and reads at most a fixed number of bytes back.
"""

from __future__ import annotations

import json
import resource
import signal
import socket
import struct
import sys

from concerns import image_clean, office_clean, pdf_clean
from concerns.errors import N_

MEMORY_BYTES = 1024 * 1024 * 1024
CPU_SECONDS = 30

_IMAGE_TYPES = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"),
                "WEBP": ("image/webp", ".webp")}


def _limit_self() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # a write to a file ends the process
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))

    def no_network(*_args: object, **_kwargs: object) -> socket.socket:
        raise OSError("the cleaning process has no network")

    socket.socket = no_network  # type: ignore[assignment, misc]


def clean(kind: str, data: bytes) -> tuple[dict[str, object], bytes]:
    """Clean `data` of `kind` (image, pdf, office); return (header, cleaned bytes)."""
    if kind == "image":
        image = image_clean.clean_image(data)
        content_type, extension = _IMAGE_TYPES.get(image.format, _IMAGE_TYPES["JPEG"])
        done = [N_("re-encoded from its pixels alone")]
        if image.had_exif:
            done.append(N_("camera and location data (EXIF, including GPS) removed"))
        if image.had_xmp:
            done.append(N_("XMP and IPTC data removed"))
        return {"type": content_type, "ext": extension, "done": done}, image.data
    if kind == "pdf":
        cleaned, done = pdf_clean.clean_pdf(data)
        return {"type": "application/pdf", "ext": ".pdf", "done": done}, cleaned
    if kind == "office":
        cleaned, content_type, extension, done = office_clean.clean_office(data)
        return {"type": content_type, "ext": extension, "done": done}, cleaned
    raise ValueError(f"unknown kind {kind!r}")


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM: counted from its own start, unlike
    getrusage, which keeps the parent's size at the fork)."""
    with open("/proc/self/status", "rb") as status:  # noqa: PTH123 - still allowed: reading
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    kind, max_input = sys.argv[1], int(sys.argv[2])
    _limit_self()
    data = sys.stdin.buffer.read(max_input + 1)
    if len(data) > max_input:
        header: dict[str, object] = {"refused": N_("it is larger than the limit")}
        body = b""
    else:
        try:
            header, body = clean(kind, data)
        except (image_clean.ImageRefusedError, pdf_clean.PdfRefusedError,
                office_clean.OfficeRefusedError) as exc:
            header, body = {"refused": str(exc)}, b""
        except MemoryError:
            header, body = {"refused": N_("cleaning it needs more memory than allowed")}, b""
        except Exception:  # noqa: BLE001 - any other failure: a file we cannot read
            header, body = {"refused": N_("it cannot be read")}, b""
    del data
    head = json.dumps({**header, "size": len(body), "peak_kib": _peak_kib()}).encode()
    out = sys.stdout.buffer
    out.write(struct.pack(">I", len(head)) + head)
    out.write(body)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
