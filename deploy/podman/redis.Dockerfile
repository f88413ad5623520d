# Redis 7 from Debian's packages, a stand-in for docker.io's redis:7-bookworm where no
# registry is reachable (scripts/build-images builds it as localhost/kite/redis:7 on the
# local Debian 12 base). Same interface as the official image: the command line is
# redis-server's (`redis-server --appendonly yes --requirepass ...`, or only its options),
# data in /data (the working directory), uid/gid 999, protected mode off as in the official
# build (the container network is the boundary; set a password).
ARG DEBIAN_IMAGE=debian:12-slim
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /data --no-create-home --shell /usr/sbin/nologin redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
 && mkdir /data && chown redis:redis /data
COPY redis-entrypoint /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
