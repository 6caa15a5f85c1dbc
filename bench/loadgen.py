"""A small HTTP load generator that behaves like a browser filling in one form.

Each simulated client keeps one keep-alive connection and its own cookies, GETs the
form page, takes the CSRF token out of it, then POSTs the form (multipart, like a
browser, or URL-encoded) and checks the answer. Clients run as threads spread over a
few processes, so the generator's own Python work does not serialise on one GIL.

Used by bench/concerns.py and the surveys benchmark:

    result = run_load(LoadSpec(base_url=..., form_path="/concerns/new",
                               post_path="/concerns/new", fields=my_fields,
                               expect=b'id="receipt"'), clients=16, submissions=800)
    print(result.summary())
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import statistics
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

TOKEN = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
Fields = Callable[[int], dict[str, str]]  # submission number -> form fields (no token)


@dataclass(frozen=True)
class LoadSpec:
    base_url: str  # http://127.0.0.1:PORT
    form_path: str
    post_path: str
    fields: Fields
    expect: bytes  # must occur in a successful POST's body
    multipart: bool = True
    token_pattern: re.Pattern[bytes] = TOKEN


@dataclass
class LoadResult:
    clients: int
    submissions: int = 0  # successful form submissions
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    post_latencies: list[float] = field(default_factory=list)  # seconds, POST only
    round_trips: list[float] = field(default_factory=list)  # seconds, GET form + POST
    wall_seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.submissions / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        p = self.percentile
        return (
            f"{self.clients:>3} clients  {self.submissions:>5} ok  {self.errors:>3} errors  "
            f"{self.throughput:7.1f} submissions/s  "
            f"POST p50 {1000 * p(self.post_latencies, .5):6.1f} ms  "
            f"p99 {1000 * p(self.post_latencies, .99):6.1f} ms  (form+POST p50 "
            f"{1000 * p(self.round_trips, .5):6.1f} ms)"
        )


class _Client:
    """One person's browser: a keep-alive connection and a cookie jar."""

    def __init__(self, spec: LoadSpec) -> None:
        parsed = urllib.parse.urlsplit(spec.base_url)
        self.spec = spec
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes]:
        headers = {"Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the server closed: reconnect, and retry a GET
                # once, as browsers do (never a POST: it may have been stored already).
                # A connection left half-used must not be reused either way.
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2 or method != "GET":
                    raise
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "expires=thu, 01 jan 1970" in header.lower() or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return response.status, data

    def submit(self, number: int) -> tuple[int, bytes, float, float]:
        started = time.perf_counter()
        status, page = self.request("GET", self.spec.form_path)
        match = self.spec.token_pattern.search(page)
        if status != 200 or not match:
            return status, page, 0.0, time.perf_counter() - started
        fields = {"csrf_token": match.group(1).decode(), **self.spec.fields(number)}
        body, content_type = _encode(fields, self.spec.multipart)
        posted = time.perf_counter()
        status, page = self.request("POST", self.spec.post_path, body, content_type)
        done = time.perf_counter()
        return status, page, done - posted, done - started


def _encode(fields: dict[str, str], multipart: bool) -> tuple[bytes, str]:
    if not multipart:
        return urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode() + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}")


def _worker(spec: LoadSpec, numbers: list[list[int]], start_at: float) -> LoadResult:
    """Run one process's share of clients (one thread each) and merge their results."""
    result = LoadResult(clients=len(numbers))
    lock = threading.Lock()

    def run(mine: list[int]) -> None:
        client = _Client(spec)
        for number in mine:
            try:
                status, page, post_s, total_s = client.submit(number)
                ok = status == 200 and spec.expect in page
                problem = "" if ok else f"HTTP {status}: {page[:200]!r}"
            except Exception as exc:  # noqa: BLE001 - every failure is a counted error
                status, ok, post_s, total_s, problem = 0, False, 0.0, 0.0, repr(exc)
            with lock:
                result.statuses[status] += 1
                if ok:
                    result.submissions += 1
                    result.post_latencies.append(post_s)
                    result.round_trips.append(total_s)
                else:
                    result.errors += 1
                    if len(result.error_samples) < 3:
                        result.error_samples.append(problem)

    threads = [threading.Thread(target=run, args=(mine,)) for mine in numbers]
    time.sleep(max(0.0, start_at - time.time()))  # every process starts together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def _child(queue: multiprocessing.Queue, spec: LoadSpec, numbers: list[list[int]],
           start_at: float) -> None:
    queue.put(_worker(spec, numbers, start_at))


def run_load(spec: LoadSpec, *, clients: int, submissions: int, processes: int = 2,
             first_number: int = 0) -> LoadResult:
    """Submit `submissions` forms with `clients` concurrent clients; time it all."""
    numbers = list(range(first_number, first_number + submissions))
    per_client = [numbers[i::clients] for i in range(clients)]
    processes = max(1, min(processes, clients))
    shares = [per_client[i::processes] for i in range(processes)]
    # fork: children inherit `spec` (its `fields` may be a lambda); only results travel.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.5
    started = time.perf_counter() + (start_at - time.time())
    children = [ctx.Process(target=_child, args=(queue, spec, share, start_at))
                for share in shares]
    for child in children:
        child.start()
    parts = [queue.get() for _ in children]
    wall = time.perf_counter() - started
    for child in children:
        child.join()
    merged = LoadResult(clients=clients, wall_seconds=wall)
    for part in parts:
        merged.submissions += part.submissions
        merged.errors += part.errors
        merged.statuses.update(part.statuses)
        merged.post_latencies += part.post_latencies
        merged.round_trips += part.round_trips
        merged.error_samples += part.error_samples[: 3 - len(merged.error_samples)]
    return merged


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values) if values else float("nan")
