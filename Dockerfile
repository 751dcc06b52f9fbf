# Relayman, served by daphne (as relayman_project.server, bin/serve) on $PORT.
# An exact tag: the Python the suite runs on (3.11.7), on Debian bookworm.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=4000 \
    DATABASE_URL=sqlite:////app/data/db.sqlite3

WORKDIR /app

# Dependencies in their own layer, rebuilt only when the lock changes: every package at the
# version and hashes requirements.lock names, transitive ones included.
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

COPY manage.py ./
COPY bin ./bin
COPY relayman_project ./relayman_project
COPY events ./events
COPY sockets ./sockets
# The admin's static files, served by WhiteNoise; bin/serve's collectstatic then finds them current.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0

RUN useradd --system --uid 10001 --home-dir /app relayman \
    && mkdir -p /app/data \
    && chown relayman /app/data
USER relayman

EXPOSE 4000
# SIGTERM drains: /readyz turns 503, sockets close in batches over RELAYMAN_DRAIN_SECONDS (10 by
# default), then the server exits. Give it that plus a margin: docker stop -t 20, or
# terminationGracePeriodSeconds of 20 or more (Kubernetes' default, 30, is enough).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 CMD ["bin/healthcheck"]

CMD ["bin/serve"]
