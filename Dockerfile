# The bot's image: slim, non-root, the pinned dependency set, a health check on /readyz.
#   docker build -t sijunjung-bot .        (compose.yaml builds it for you)
# Data (SQLite, backups, exports) lives in the volume at /app/var, the key in /app/keys
# (`python -m bot keys export` prints it, to keep a copy outside the machine). Settings come
# from the environment (compose: env_file) and config.yaml from a mounted file: docs/deploy.md.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --no-create-home --shell /usr/sbin/nologin bot

# Dependencies first (a layer that changes only with the lock).
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock && pip check

# The program, run from /app (python -m bot), so config.yaml and var/ are found beside it.
COPY pyproject.toml alembic.ini config.yaml LICENSE README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY handlers ./handlers
COPY storage ./storage
COPY data ./data
# Compiled once here: the bot cannot write beside its code, and compiling every module at each
# start would cost seconds.
RUN python -m compileall -q bot conversations handlers storage \
    && mkdir -p /app/var /app/keys \
    && chown bot:bot /app/var /app/keys \
    && chmod 0700 /app/var /app/keys

USER 10001:10001

# In a container the server listens on every interface of the container (publish the port on
# 127.0.0.1 of the host, behind the reverse proxy). Logs are JSON lines for `docker logs`.
# BOT_SECRET_KEY_FILE is a path, not a secret (the key itself never goes into the image).
# matplotlib keeps its font cache in the data volume (the rest of /app is read-only to the bot).
# hadolint ignore=DL3064
ENV HOST=0.0.0.0 \
    PORT=8080 \
    LOG_FORMAT=json \
    BOT_SECRET_KEY_FILE=/app/keys/secret.key \
    MPLCONFIGDIR=/app/var/cache/matplotlib

VOLUME ["/app/var", "/app/keys"]
EXPOSE 8080

# Ready = the database is reachable and migrated (GET /readyz answers 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8080'), timeout=4)"]

CMD ["python", "-m", "bot", "run"]
