# PostgreSQL 15 from Debian's packages, a stand-in for docker.io's postgres:15-bookworm where
# no registry is reachable (scripts/build-images builds it as localhost/kite/postgres:15 on
# the local Debian 12 base). The entrypoint (postgres-entrypoint) honours the official
# image's interface as docker-compose.yml and the Helm chart use it: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA
# (/var/lib/postgresql/data), /docker-entrypoint-initdb.d/*.sql|*.sh on first start, and
# `postgres -c ...` or plain `-c ...` arguments; uid/gid 999 as in the official image.
ARG DEBIAN_IMAGE=debian:12-slim
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# The user first, so that the package keeps uid 999; no cluster from the package (initdb
# runs at first start, into PGDATA).
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data /docker-entrypoint-initdb.d \
 && chown postgres:postgres /var/run/postgresql /var/lib/postgresql /var/lib/postgresql/data \
 && chmod 2777 /var/run/postgresql && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
