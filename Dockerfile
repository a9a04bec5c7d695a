# siwe-server in a container: `docker build -t siwe-server .`, then
#   docker run -d -p 8080:8080 -v siwe-data:/data \
#     -e SIWE_SERVER__PUBLIC_URL=https://login.example.org siwe-server
# The database, secret.key and jwt-keys.json live in the /data volume; settings come from SIWE_*
# variables or a config.toml mounted at /etc/siwe-server/config.toml (add --config to the command).
# On `docker stop` (SIGTERM) the server finishes in-flight requests within
# server.shutdown_grace_secs (10 s; docker waits 10 s by default: use `docker stop -t 30`).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin siwe-server

FROM debian:bookworm-slim
# ca-certificates: JSON-RPC and SMTP over TLS; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin siwe \
 && mkdir -p /data /etc/siwe-server \
 && chown siwe /data && chmod 700 /data
COPY --from=build /src/target/release/siwe-server /usr/local/bin/siwe-server
USER siwe
ENV SIWE_SERVER__BIND=0.0.0.0:8080 \
    SIWE_DATABASE__PATH=/data/siwe-server.db
VOLUME /data
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD curl -fsS http://127.0.0.1:8080/healthz > /dev/null || exit 1
ENTRYPOINT ["siwe-server"]
CMD ["serve"]
