"""An LLM teacher over an OpenAI-compatible chat endpoint (METHODS.md 1.2 teacher (b)).

    pool = TeacherPool([Endpoint("http://127.0.0.1:8000/v1", "my-model")], cache_dir="~/.cache/sparring/teacher")
    replies = pool.run([Request(0, messages, max_tokens=512)], desc="critiques")
    # -> one Reply per request, in order: .text (str) or .error (a short reason); pool.stats

What it does, and how:

- **Requests** go to ``POST {url}/chat/completions`` through the ``openai`` client (any
  OpenAI-compatible server: vLLM ``vllm serve``, ``transformers serve``, a hosted API).
  The API key comes from the environment variable the endpoint names (``api_key_env``,
  default ``SPARRING_TEACHER_API_KEY``; unset -> the placeholder ``EMPTY`` local servers
  accept); the key itself is never written to a card or the cache.
- **Concurrency** is bounded: at most ``concurrency`` requests in flight (a thread pool).
- **Retries**: connection errors, timeouts, 408/409/429 and 5xx are retried by the client
  with exponential backoff and jitter (0.5 s doubling to 8 s, honouring ``Retry-After``),
  ``retries`` times.
- **Cache**: every successful reply is stored under ``cache_dir`` by the sha256 of the
  request (url, model, messages, sampling parameters; never the key), written aside and
  renamed; a rerun of the same requests reads them back and sends nothing. Failures are not
  cached, so a rerun retries them.
- **Fail fast**: the first request that is not cached is sent alone. If it cannot connect,
  is refused (400/401/403/404/422, e.g. a wrong model name), or comes back malformed,
  ``run`` raises one ``ValueError`` naming the endpoint, before any other request (and so
  before any training). Later failures are counted per reason (``stats``) and returned as
  ``Reply.error``, never silently dropped (the recipes raise if nothing usable is left).
- **Untrusted replies**: the body is read up to ``MAX_REPLY_BYTES`` (a longer one is a
  failure), parsed with ``json.loads`` (never evaluated), and only
  ``choices[0].message.content`` is taken, as a string of at most ``MAX_REPLY_CHARS``
  characters with control characters other than newline and tab removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_KEY_ENV = "SPARRING_TEACHER_API_KEY"
MAX_REPLY_BYTES = 1_000_000
MAX_REPLY_CHARS = 16_384
FATAL_STATUS = (400, 401, 403, 404, 422)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CACHE_FORMAT = "sparring.teacher-cache/1"


def default_cache_dir() -> Path:
    """``$SPARRING_CACHE/teacher`` or ``~/.cache/sparring/teacher``."""
    root = os.environ.get("SPARRING_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sparring")
    return Path(root) / "teacher"


@dataclass(frozen=True)
class Endpoint:
    """One teacher: an OpenAI-compatible base URL (ending in ``/v1`` for most servers), the
    model name the server knows, and the environment variable holding its API key."""

    url: str
    model: str
    api_key_env: str = DEFAULT_KEY_ENV

    @classmethod
    def parse(cls, value: Any, where: str) -> "Endpoint":
        """From ``{"url": ..., "model": ..., "api_key_env": ...}``; ``ValueError`` naming ``where``."""
        if isinstance(value, Endpoint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f'{where}: each teacher must be {{"url": URL, "model": NAME}}, got {value!r}')
        unknown = sorted(set(value) - {"url", "model", "api_key_env"})
        if unknown:
            raise ValueError(f"{where}: unknown teacher field(s) {unknown}; allowed: ['api_key_env', 'model', 'url']")
        url, model = value.get("url"), value.get("model")
        key_env = value.get("api_key_env", DEFAULT_KEY_ENV)
        u = urlparse(url) if isinstance(url, str) else None
        if u is None or u.scheme not in ("http", "https") or not u.hostname or len(url) > 2000:
            raise ValueError(f"{where}.url: must be an http(s) URL such as http://127.0.0.1:8000/v1, got {url!r}")
        if not isinstance(model, str) or not model.strip() or len(model) > 1000:
            raise ValueError(f"{where}.model: must be the model name the server serves, got {model!r}")
        if not isinstance(key_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", key_env):
            raise ValueError(f"{where}.api_key_env: must be an environment variable name, got {key_env!r}")
        return cls(url.rstrip("/"), model, key_env)

    def card(self) -> dict[str, str]:
        return {"url": self.url, "model": self.model, "api_key_env": self.api_key_env}

    def name(self) -> str:
        return f"{self.model} at {self.url}"


def parse_endpoints(value: Any, where: str) -> tuple[Endpoint, ...]:
    """A list of teacher dicts (or one dict) as Endpoints; ``ValueError`` naming ``where``."""
    if value is None:
        return ()
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError(f'{where}: must be a list of {{"url": URL, "model": NAME}}, got {value!r}')
    return tuple(Endpoint.parse(v, f"{where}[{i}]") for i, v in enumerate(items))


@dataclass(frozen=True)
class Request:
    """One chat request to ``endpoint`` (an index into the pool's endpoints)."""

    endpoint: int
    messages: tuple[tuple[str, str], ...]  # (role, content)
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": r, "content": c} for r, c in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        if self.stop:
            body["stop"] = list(self.stop)
        return body


@dataclass
class Reply:
    text: str | None = None
    error: str | None = None
    cached: bool = False


@dataclass
class EndpointStats:
    """Per-endpoint counts: ``asked`` = ``cached`` + ``requests``; ``failed`` of the requests."""

    asked: int = 0
    cached: int = 0
    requests: int = 0
    failed: int = 0
    failures: Counter = field(default_factory=Counter)

    def card(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            "cached": self.cached,
            "requests": self.requests,
            "failed": self.failed,
            "failures": dict(sorted(self.failures.items())),
        }


def clean_text(text: str) -> str:
    """Bounded, newline-normalised text without control characters (tabs and newlines kept)."""
    text = text[:MAX_REPLY_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def read_reply(raw: bytes) -> str:
    """``choices[0].message.content`` of a chat-completion body; ``ValueError`` (a short
    reason) for anything else. Never evaluates the body."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("malformed: not JSON") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("malformed: no choices[0].message.content") from None
    if not isinstance(content, str):
        raise ValueError("malformed: content is not a string")
    return clean_text(content)


class TeacherError(Exception):
    """A request that failed; ``fatal`` when no further request to that endpoint can succeed."""

    def __init__(self, reason: str, detail: str, fatal: bool):
        super().__init__(detail)
        self.reason, self.detail, self.fatal = reason, detail, fatal


class TeacherPool:
    """Bounded, retried, cached chat requests to a list of endpoints (see the module doc)."""

    def __init__(
        self,
        endpoints: tuple[Endpoint, ...] | list[Endpoint],
        cache_dir: str | os.PathLike | None = None,
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 120.0,
        progress: bool | None = None,
    ):
        self.endpoints = tuple(endpoints)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.concurrency, self.retries, self.timeout, self.progress = concurrency, retries, timeout, progress
        self.stats = [EndpointStats() for _ in self.endpoints]
        self._clients: dict[int, Any] = {}

    # ---- cache -------------------------------------------------------------------------
    def key(self, req: Request) -> str:
        ep = self.endpoints[req.endpoint]
        blob = json.dumps({"url": ep.url, "body": req.body(ep.model)}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def cached(self, req: Request) -> str | None:
        try:
            data = json.loads(self._path(self.key(req)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        text = data.get("content") if isinstance(data, dict) and data.get("format") == CACHE_FORMAT else None
        return clean_text(text) if isinstance(text, str) else None

    def _store(self, req: Request, text: str) -> None:
        ep = self.endpoints[req.endpoint]
        path = self._path(self.key(req))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(req)}.tmp")
        record = {"format": CACHE_FORMAT, "url": ep.url, "request": req.body(ep.model), "content": text}
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    # ---- requests ----------------------------------------------------------------------
    def _client(self, i: int):
        if i not in self._clients:
            from openai import OpenAI

            ep = self.endpoints[i]
            self._clients[i] = OpenAI(
                base_url=ep.url,
                api_key=os.environ.get(ep.api_key_env) or "EMPTY",
                max_retries=self.retries,
                timeout=self.timeout,
            )
        return self._clients[i]

    def send(self, req: Request) -> str:
        """One request (the client retries transient errors); ``TeacherError`` on failure."""
        import openai

        ep = self.endpoints[req.endpoint]
        try:
            with self._client(req.endpoint).chat.completions.with_streaming_response.create(
                **req.body(ep.model)
            ) as resp:
                raw = bytearray()
                for chunk in resp.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_REPLY_BYTES:
                        raise TeacherError("too_long", f"reply longer than {MAX_REPLY_BYTES} bytes", False)
        except openai.APITimeoutError:
            raise TeacherError("timeout", f"no reply within {self.timeout:g} s", False) from None
        except openai.APIConnectionError as e:
            raise TeacherError("connection", f"cannot connect ({e})", True) from None
        except openai.APIStatusError as e:
            detail = clean_text(str(getattr(e, "message", e)))[:300]
            status = e.status_code
            raise TeacherError(f"http_{status}", f"HTTP {status}: {detail}", status in FATAL_STATUS) from None
        except openai.OpenAIError as e:
            raise TeacherError("client", clean_text(str(e))[:300], False) from None
        try:
            return read_reply(bytes(raw))
        except ValueError as e:
            raise TeacherError(str(e).split(":")[0], str(e), False) from None

    def _one(self, i: int, req: Request) -> tuple[int, Reply]:
        try:
            text = self.send(req)
        except TeacherError as e:
            return i, Reply(error=e.reason)
        self._store(req, text)
        return i, Reply(text=text)

    def run(self, requests: list[Request], desc: str = "teacher requests") -> list[Reply]:
        """One ``Reply`` per request, in order (see the module doc for failures)."""
        from tqdm.auto import tqdm

        replies: list[Reply | None] = [None] * len(requests)
        todo = []
        for i, req in enumerate(requests):
            st = self.stats[req.endpoint]
            st.asked += 1
            text = self.cached(req)
            if text is not None:
                st.cached += 1
                replies[i] = Reply(text=text, cached=True)
            else:
                todo.append(i)
        probed: set[int] = set()
        bar = tqdm(total=len(todo), desc=desc, disable=self.progress is False or not todo, leave=False)
        try:
            for i in todo:  # the first request to each endpoint goes alone: fail fast
                ep = requests[i].endpoint
                if ep in probed:
                    continue
                probed.add(ep)
                self.stats[ep].requests += 1
                try:
                    text = self.send(requests[i])
                except TeacherError as e:
                    raise ValueError(
                        f"teacher {self.endpoints[ep].name()}: the first request failed: {e.detail}" + _hint(e.reason)
                    ) from None
                self._store(requests[i], text)
                replies[i] = Reply(text=text)
                bar.update(1)
            rest = [i for i in todo if replies[i] is None]
            with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(rest) or 1))) as ex:
                futures = [ex.submit(self._one, i, requests[i]) for i in rest]
                for fut in as_completed(futures):
                    i, reply = fut.result()
                    st = self.stats[requests[i].endpoint]
                    st.requests += 1
                    if reply.error is not None:
                        st.failed += 1
                        st.failures[reply.error] += 1
                    replies[i] = reply
                    bar.update(1)
        finally:
            bar.close()
        return [r if r is not None else Reply(error="not_sent") for r in replies]


def _hint(reason: str) -> str:
    if reason == "connection":
        return " (is the server running, and does the URL end in /v1?)"
    if reason in ("http_400", "http_404", "http_422"):
        return " (check --teacher-model: it must be a model name the server serves; GET URL/models lists them)"
    if reason.startswith("http_5"):
        return (
            " (a server error; `transformers serve` answers 500 when it cannot load the model it is asked "
            "for, e.g. a wrong --teacher-model; see the server's log)"
        )
    if reason in ("http_401", "http_403"):
        return " (check the API key environment variable)"
    return ""
