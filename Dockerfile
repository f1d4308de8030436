# Production image: slim, non-root, migrations at start-up (under a PostgreSQL advisory lock,
# so several instances can start at once), health check on /healthz.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADMIN_UI_DIR=/srv/forge/static/admin

WORKDIR /srv
COPY pyproject.toml uv.lock README.md alembic.ini atlassian-connect.json ./
COPY app ./app
COPY migrations ./migrations
# The admin UI bundle: Forge hosts its own copy; the Connect admin page is served from this one.
COPY forge/static/admin ./forge/static/admin
COPY scripts/docker-entrypoint ./scripts/docker-entrypoint

# The locked versions (hash-checked), with PostgreSQL's drivers; then the app without deps.
RUN pip install uv==0.13.9 \
    && uv export --frozen --extra postgres --no-emit-project --format requirements-txt > /tmp/requirements.txt \
    && pip install --require-hashes -r /tmp/requirements.txt \
    && pip install --no-deps . \
    && pip uninstall -y uv \
    && useradd --system --uid 10001 --home-dir /srv portal \
    && mkdir -p /srv/data \
    && chown portal /srv/data

USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["/srv/scripts/docker-entrypoint"]
