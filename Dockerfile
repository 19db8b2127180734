# The obs agent sidecar. Build from the repository root:
#   docker build -t obs-agent .
#   docker run --rm -p 9465:9465 obs-agent --redis redis://redis:6379/0
# Stage 1 installs obs with only the agent's part (`pip install '.[agent]'`, README
# "Installing") into a virtualenv; stage 2 copies only that virtualenv onto a slim base and
# runs it as a non-root user. The agent exports OTLP/HTTP; for OTLP over gRPC install
# '.[agent,grpc]' instead.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . /src
RUN python -m venv /opt/obs
ENV PATH=/opt/obs/bin:$PATH
RUN pip install ".[agent]"

FROM python:3.11-slim AS agent
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin obs
COPY --from=build /opt/obs /opt/obs
# One malloc arena for every thread: with glibc's default (one per thread that allocates,
# up to 8 per core) the collector, export and /metrics threads each keep freed memory of
# their own, ~2 MiB at 1,000 queues (`make bench BENCH=agent_queues` measures both; the
# figures are in docs/agent.md). Its threads allocate under Python's GIL: they do not
# contend for the one arena.
ENV PATH=/opt/obs/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=1 \
    OTEL_SERVICE_NAME=obs-agent
USER 10001
EXPOSE 9465
# /healthz answers while the process runs. The check asks where OBS_AGENT_LISTEN says the
# agent listens (a specific host there, loopback for 0.0.0.0; passes when it is empty,
# since the endpoints are off): set the address with that variable, not --listen.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "obs.agent.healthcheck"]
ENTRYPOINT ["obs", "agent"]
