# eoc's programs on Debian 12, for docker-compose.yml (see docs/compose.md).
#
#   docker build -t eoc-e2e:0.1.0 .
#
# Build stage: the same scripts/setup.sh as a developer machine, then meson.
# The tests option is on because eoc-ledger-gen and eoc-check live in
# tests/e2e; the test-only crash points are off, as in any deployment.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The project's default build type (debugoptimized: -O2 -g, with -Werror).
RUN meson setup /build -Dtests=true -Dcrash_points=false -Dmetrics=enabled \
        --prefix=/usr/local --libdir=lib \
    && ninja -C /build \
    && meson install -C /build --destdir /stage

# Runtime stage: the shared libraries the programs link against, the
# programs, libeoc and the shell functions of the compose services.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka1 liblmdb0 libcjson1 libmicrohttpd12 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /stage/usr/local/lib/libeoc.so.0 /stage/usr/local/lib/libeoc.so.0.1.0 /usr/local/lib/
COPY --from=build /stage/usr/local/bin/eoc /stage/usr/local/bin/eoc-ledger /stage/usr/local/bin/eoc-forward /stage/usr/local/bin/eoc-ledger-gen /stage/usr/local/bin/eoc-check /stage/usr/local/bin/eoc-kafka-dev /usr/local/bin/
COPY scripts/lib/ledger-job.sh scripts/lib/common.sh /usr/local/share/eoc/
# The mount points of the compose volumes belong to the user the programs
# run as (a new named volume takes the ownership of its mount point).
RUN ldconfig \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home eoc \
    && mkdir -p /data /shared \
    && chown eoc:eoc /data /shared \
    && for p in eoc eoc-ledger eoc-forward eoc-ledger-gen eoc-check eoc-kafka-dev; do \
           "$p" --help >/dev/null || exit 1; \
       done
USER eoc
WORKDIR /data
