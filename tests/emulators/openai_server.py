"""An OpenAI-compatible chat server that behaves like vLLM's, for tests and benchmarks.

It is a real aiohttp HTTP server on a free 127.0.0.1 port: the code under test talks to it over
TCP with the `openai` SDK exactly as it would talk to vLLM (``vllm serve ... --enable-lora``).

Endpoints (all under ``/v1``):

- ``GET  /v1/models`` — the base model and every loaded LoRA adapter (``parent`` = base).
- ``POST /v1/chat/completions`` — streaming (SSE: ``data: {chunk}`` lines, a first chunk with
  ``delta.role``, one chunk per token with ``delta.content``, a final chunk with
  ``finish_reason``, a usage chunk with ``choices: []`` when
  ``stream_options.include_usage`` is true, then ``data: [DONE]``) and non-streaming.
  ``max_tokens`` truncates (``finish_reason="length"``) and ``stop`` strings cut the reply.
  An unknown ``model`` answers 404 with vLLM's error body
  ``{"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError",
  "param": null, "code": 404}``.
- ``POST /v1/audio/speech`` ``{"model", "voice", "input", "response_format"}`` — text to
  speech like OpenAI's: real audio bytes (a tone lasting ``speech_seconds_per_char`` per input
  character) as OGG/Opus for "opus" (the default), WAV, FLAC or raw 24 kHz s16le "pcm".
  ``speech_models`` are the served TTS models (others: 404); ``speech_format`` forces one
  format whatever was asked (a server that ignores ``response_format``);
  ``fail_speech_next(times, status)`` scripts failures; ``speech_delay_s`` pauses first.
  ``speech_requests`` are the JSON bodies received.
- ``POST /v1/load_lora_adapter`` ``{"lora_name", "lora_path"}`` and
  ``POST /v1/unload_lora_adapter`` ``{"lora_name"}`` — runtime adapter (un)loading.

Usage::

    from tests.emulators.openai_server import OpenAIEmulator

    async with OpenAIEmulator(adapters={"kylie-lora"}) as emu:
        settings = LLMSettings(backend="openai", base_url=emu.base_url, model=emu.base_model)
        emu.reply = "Hi there, how are you?"          # or a function of the request body
        ...
        body = emu.chat_requests[-1]                  # the JSON the client sent
        assert body["model"] == "kylie-lora"

A pytest fixture is one line::

    @pytest.fixture
    async def openai_emulator():
        async with OpenAIEmulator() as emu:
            yield emu

Scripted behaviour (plain attributes; change them at any time during a test):

- ``reply``: a string, or ``f(body) -> str`` (sync or async) computed from the request JSON.
  ``json_reply(obj)`` is a shortcut that answers ``json.dumps(obj)`` (for extraction prompts).
- ``token_delay_s``: pause between streamed tokens (a fixed token rate); ``first_token_delay_s``:
  pause after the response headers and before the first token (time to first token);
  ``response_delay_s``: pause before anything is sent (before the headers; also non-streaming).
- ``fail_next(times, status=500)``: the next ``times`` chat requests answer that status.
- ``drop_after_chunks``: close the TCP connection after that many content chunks of a stream
  (a server crash mid-reply). Applies to every stream until set back to ``None``.
- ``end_after_chunks``: end the response body cleanly after that many content chunks, with no
  ``finish_reason`` and no ``[DONE]`` (a proxy cutting the stream). Same lifetime as above.
- ``refuse_response_format``: answer 400 to requests carrying ``response_format`` (servers
  without structured output).
- ``max_model_len``: answer 400 like vLLM when the prompt (approximated as whitespace-separated
  words) plus ``max_tokens`` exceed it.
- ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
- ``adapters``: the set of served adapter names (also changed by the load/unload endpoints).

Recorded for assertions: ``requests`` (every request: method, path, JSON body, headers),
``chat_requests`` (the JSON bodies of chat completions, in arrival order),
``models_requested`` (the ``model`` of each chat request), ``streams_completed`` (streams that
reached ``[DONE]``), ``streams_dropped`` (cut by ``drop_after_chunks`` / ``end_after_chunks``),
``streams_abandoned`` (the client closed the connection before the end: it stopped reading),
``active_streams`` / ``max_active_streams`` (streams open now / at most at once: concurrency).

Tokens are whitespace-delimited words with their trailing whitespace ("Hello world" streams as
``"Hello "``, ``"world"``), so joining the chunks gives the reply back exactly.

Run it by hand (``companion chat`` against it with ``COMPANION_LLM__BASE_URL``)::

    python -m tests.emulators.openai_server --port 8000 --reply "Hello!" --token-delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ReplyFunction = Callable[[dict[str, Any]], str | Awaitable[str]]

_TOKEN_RE = re.compile(r"\S+\s*|\s+")

DEFAULT_REPLY = "Hello! I am the emulated model. How are you today?"


def split_tokens(text: str) -> list[str]:
    """The emulator's tokenizer: words with their trailing whitespace; joins back to `text`."""
    return _TOKEN_RE.findall(text)


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


def vllm_error(message: str, status: int, error_type: str) -> web.Response:
    """An error in the shape vLLM's OpenAI server answers with."""
    payload = {
        "object": "error",
        "message": message,
        "type": error_type,
        "param": None,
        "code": status,
    }
    return web.json_response(payload, status=status)


class OpenAIEmulator:
    """A vLLM-like OpenAI-compatible server; use as ``async with OpenAIEmulator() as emu``."""

    def __init__(
        self,
        *,
        base_model: str = "companion-base",
        adapters: set[str] | frozenset[str] | list[str] | tuple[str, ...] = (),
        reply: str | ReplyFunction = DEFAULT_REPLY,
        token_delay_s: float = 0.0,
        first_token_delay_s: float = 0.0,
        response_delay_s: float = 0.0,
        api_key: str | None = None,
        max_model_len: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.base_model = base_model
        self.adapters: set[str] = set(adapters)
        self.reply: str | ReplyFunction = reply
        self.token_delay_s = token_delay_s
        self.first_token_delay_s = first_token_delay_s
        self.response_delay_s = response_delay_s
        self.api_key = api_key
        self.max_model_len = max_model_len
        self.drop_after_chunks: int | None = None
        self.end_after_chunks: int | None = None
        self.refuse_response_format = False
        self.requests: list[RecordedRequest] = []
        self.streams_completed = 0
        self.streams_dropped = 0
        self.streams_abandoned = 0
        self.active_streams = 0
        self.max_active_streams = 0
        self._fail_times = 0
        self._fail_status = 500
        self.speech_models: set[str] = {"tts-1"}
        self.speech_format: str | None = None
        self.speech_seconds_per_char = 0.06
        self.speech_delay_s = 0.0
        self._speech_fail_times = 0
        self._speech_fail_status = 500
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/load_lora_adapter", self._load_adapter)
        app.router.add_post("/v1/unload_lora_adapter", self._unload_adapter)
        app.router.add_get("/health", self._health)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._sock = sock
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> OpenAIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("the emulator is not running")
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``) to give the client."""
        return f"{self.root_url}/v1"

    # ---- scripting -------------------------------------------------------------------------

    def fail_next(self, times: int, status: int = 500) -> None:
        """The next `times` chat requests answer `status` with a vLLM error body."""
        self._fail_times = times
        self._fail_status = status

    def json_reply(self, obj: Any) -> None:
        """Answer every chat request with `obj` serialised as JSON."""
        self.reply = json.dumps(obj, ensure_ascii=False)

    def reset(self) -> None:
        """Forget recorded requests and scripted failures (the reply and delays stay)."""
        self.requests.clear()
        self.streams_completed = 0
        self.streams_dropped = 0
        self.streams_abandoned = 0
        self.max_active_streams = self.active_streams
        self._fail_times = 0
        self.drop_after_chunks = None
        self.end_after_chunks = None
        self.refuse_response_format = False

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [
            r.body for r in self.requests if r.path == "/v1/chat/completions" and r.body is not None
        ]

    def fail_speech_next(self, times: int, status: int = 500) -> None:
        """The next `times` speech requests answer `status` with a vLLM error body."""
        self._speech_fail_times = times
        self._speech_fail_status = status

    @property
    def speech_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/audio/speech" and r.body]

    @property
    def models_requested(self) -> list[str]:
        return [str(body.get("model")) for body in self.chat_requests]

    @property
    def served_models(self) -> list[str]:
        return [self.base_model, *sorted(self.adapters)]

    # ---- handlers --------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedRequest:
        body: dict[str, Any] | None = None
        if request.can_read_body:
            raw = await request.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        recorded = RecordedRequest(
            method=request.method, path=request.path, body=body, headers=dict(request.headers)
        )
        self.requests.append(recorded)
        return recorded

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        created = int(time.time())
        data = [
            {
                "id": self.base_model,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": self.base_model,
                "parent": None,
                "max_model_len": self.max_model_len,
            }
        ]
        data += [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": f"/adapters/{name}",
                "parent": self.base_model,
                "max_model_len": self.max_model_len,
            }
            for name in sorted(self.adapters)
        ]
        return web.json_response({"object": "list", "data": data})

    async def _load_adapter(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = recorded.body or {}
        name, path = body.get("lora_name"), body.get("lora_path")
        if not isinstance(name, str) or not isinstance(path, str) or not name or not path:
            return vllm_error(
                "Both 'lora_name' and 'lora_path' must be provided.", 400, "InvalidUserInput"
            )
        if name in self.adapters and not body.get("load_inplace"):
            return vllm_error(
                f"The lora adapter '{name}' has already been loaded.", 400, "InvalidUserInput"
            )
        self.adapters.add(name)
        return web.Response(text=f"Success: LoRA adapter '{name}' added successfully.")

    async def _unload_adapter(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        name = (recorded.body or {}).get("lora_name")
        if not isinstance(name, str) or name not in self.adapters:
            return vllm_error(f"The lora adapter '{name}' cannot be found.", 404, "NotFoundError")
        self.adapters.discard(name)
        return web.Response(text=f"Success: LoRA adapter '{name}' removed successfully.")

    async def _speech(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if self.speech_delay_s:
            await asyncio.sleep(self.speech_delay_s)
        if self._speech_fail_times > 0:
            self._speech_fail_times -= 1
            return vllm_error(
                "Emulated TTS failure", self._speech_fail_status, "InternalServerError"
            )
        body = recorded.body or {}
        text, voice = body.get("input"), body.get("voice")
        if not isinstance(text, str) or not text.strip() or not isinstance(voice, str) or not voice:
            return vllm_error("'input' and 'voice' are required", 400, "BadRequestError")
        if body.get("model") not in self.speech_models:
            return vllm_error(
                f"The model `{body.get('model')}` does not exist.", 404, "NotFoundError"
            )
        fmt = self.speech_format or str(body.get("response_format") or "mp3")
        if fmt not in _SPEECH_TYPES:
            return vllm_error(f"response_format {fmt!r} is not supported", 400, "BadRequestError")
        seconds = min(30.0, max(0.3, len(text) * self.speech_seconds_per_char))
        audio = await asyncio.to_thread(speech_audio, seconds, fmt)
        return web.Response(body=audio, content_type=_SPEECH_TYPES[fmt])

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if self.response_delay_s:
            await asyncio.sleep(self.response_delay_s)
        if self._fail_times > 0:
            self._fail_times -= 1
            return vllm_error("Emulated server failure", self._fail_status, "InternalServerError")
        body = recorded.body
        if body is None:
            return vllm_error("Request body must be a JSON object", 400, "BadRequestError")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return vllm_error("'messages' must be a non-empty list", 400, "BadRequestError")
        model = body.get("model")
        if model != self.base_model and model not in self.adapters:
            return vllm_error(f"The model `{model}` does not exist.", 404, "NotFoundError")
        if self.refuse_response_format and body.get("response_format") is not None:
            return vllm_error(
                "response_format is not supported by this server", 400, "BadRequestError"
            )
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        prompt_tokens = sum(
            len(split_tokens(str(m.get("content", "")))) for m in messages if isinstance(m, dict)
        )
        if self.max_model_len is not None:
            wanted = prompt_tokens + int(max_tokens or 0)
            if wanted > self.max_model_len:
                return vllm_error(
                    f"This model's maximum context length is {self.max_model_len} tokens. "
                    f"However, you requested {wanted} tokens ({prompt_tokens} in the messages, "
                    f"{int(max_tokens or 0)} in the completion). Please reduce the length of "
                    "the messages or completion.",
                    400,
                    "BadRequestError",
                )

        text = await self._reply_text(body)
        tokens, finish_reason = _apply_limits(text, max_tokens, body.get("stop"))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not body.get("stream"):
            if self.first_token_delay_s:
                await asyncio.sleep(self.first_token_delay_s)
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s * len(tokens))
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": usage,
                }
            )
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage"))
        return await self._stream(
            request,
            completion_id,
            created,
            str(model),
            tokens,
            finish_reason,
            usage if include_usage else None,
        )

    async def _reply_text(self, body: dict[str, Any]) -> str:
        reply = self.reply
        if isinstance(reply, str):
            return reply
        result = reply(body)
        if inspect.isawaitable(result):
            result = await result
        return str(result)

    async def _stream(
        self,
        request: web.Request,
        completion_id: str,
        created: int,
        model: str,
        tokens: list[str],
        finish_reason: str,
        usage: dict[str, int] | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        self.active_streams += 1
        self.max_active_streams = max(self.max_active_streams, self.active_streams)

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        async def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            await response.write(f"data: {data}\n\n".encode())

        try:
            await send(chunk({"role": "assistant", "content": ""}, None))
            if self.first_token_delay_s:
                await asyncio.sleep(self.first_token_delay_s)
            for index, token in enumerate(tokens):
                if self.drop_after_chunks is not None and index >= self.drop_after_chunks:
                    self.streams_dropped += 1
                    # Abort the TCP connection without finishing the chunked body, like a crash.
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                if self.end_after_chunks is not None and index >= self.end_after_chunks:
                    self.streams_dropped += 1
                    await response.write_eof()
                    return response
                if index and self.token_delay_s:
                    await asyncio.sleep(self.token_delay_s)
                await send(chunk({"content": token}, None))
            await send(chunk({}, finish_reason))
            if usage is not None:
                await send(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            await send("[DONE]")
            await response.write_eof()
            self.streams_completed += 1
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            # The client closed the connection (it stopped reading): vLLM aborts the request.
            self.streams_abandoned += 1
            raise
        finally:
            self.active_streams -= 1


_SPEECH_TYPES = {"opus": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}


def speech_audio(seconds: float, fmt: str, rate: int = 24_000) -> bytes:
    """A real audio file of a 220 Hz tone (PyAV encodes it, as a TTS server's FFmpeg would)."""
    import io

    import av
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 220 * t) * 6000).astype(np.int16)
    if fmt == "pcm":
        return samples.tobytes()
    codec, container_format = {
        "opus": ("libopus", "ogg"),
        "wav": ("pcm_s16le", "wav"),
        "flac": ("flac", "flac"),
    }[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        # The codec is named at run time, so PyAV's stubs cannot tell it is an audio stream.
        assert isinstance(stream, av.audio.stream.AudioStream)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            container.mux(packet)
    return buffer.getvalue()


def _apply_limits(text: str, max_tokens: Any, stop: Any) -> tuple[list[str], str]:
    """Cut the reply at the first stop string and at max_tokens, like the server does."""
    finish_reason = "stop"
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    tokens = split_tokens(text)
    if isinstance(max_tokens, int) and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        finish_reason = "length"
    return tokens, finish_reason


async def _serve_forever(args: argparse.Namespace) -> None:
    emulator = OpenAIEmulator(
        base_model=args.model,
        adapters=set(args.adapter),
        reply=args.reply,
        token_delay_s=args.token_delay,
        host=args.host,
        port=args.port,
    )
    async with emulator:
        print(f"OpenAI-compatible emulator at {emulator.base_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="companion-base")
    parser.add_argument("--adapter", action="append", default=[], help="served adapter name")
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    parser.add_argument("--token-delay", type=float, default=0.0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(parser.parse_args()))


if __name__ == "__main__":
    main()
