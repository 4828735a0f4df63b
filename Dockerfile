# syntax=docker/dockerfile:1
# One image for the four services; the command picks the service:
#   docker run … learnstreet:TAG services.scoring
# Target `provision` adds a Java runtime and Kafka's tool jars for deploy/local/provision.py
# (topics and ACLs from shared/events/topics.py against any cluster):
#   docker build --target provision -t learnstreet-provision:TAG .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG KAFKA_IMAGE=apache/kafka:4.1.1

FROM ${KAFKA_IMAGE} AS kafka

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# dependencies first: this layer is reused until the lock changes. Only hash-checked files from
# the runtime lock (no test or local-stack tools); the services run from /app's sources.
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ACTIVITIES_HTTP_HOST=0.0.0.0 ACTIVITIES_HTTP_PORT=8101 \
    ENROLMENT_HTTP_HOST=0.0.0.0 ENROLMENT_HTTP_PORT=8102 \
    SCORING_HTTP_HOST=0.0.0.0 SCORING_HTTP_PORT=8103 \
    NOTIFY_HTTP_HOST=0.0.0.0 NOTIFY_HTTP_PORT=8104 \
    LS_REFERENCE_DIR=/app/reference/pinghu
RUN groupadd --system --gid 10001 learnstreet \
 && useradd --system --uid 10001 --gid learnstreet --home-dir /app --shell /usr/sbin/nologin learnstreet
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root shared ./shared
COPY --chown=root:root services ./services
COPY --chown=root:root reference ./reference
USER 10001:10001
EXPOSE 8101 8102 8103 8104
# uvicorn handles SIGTERM itself (stop fetching, finish in-flight batches, commit; 20 s graceful
# timeout): python must be PID 1 and get the signal directly, so exec form, no shell.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m"]
CMD ["services.activities"]

FROM runtime AS provision
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=root:root deploy/local ./deploy/local
COPY --chown=root:root deploy/compose/provision.sh ./deploy/compose/provision.sh
COPY --from=kafka /opt/kafka/libs ./kafka-libs
# provision.py keeps its working files (credentials, admin client config) under /app/.local
RUN mkdir -p .local/kafka \
 && ln -s /app/kafka-libs .local/kafka/libs \
 && chown -R 10001:10001 .local
USER 10001:10001
ENTRYPOINT ["bash", "deploy/compose/provision.sh"]
CMD []
